//! Delivery: SvarUt letters against the v2 stand-in, in-app messages and email
//! against a real SMTP server (aiosmtpd), notices, internal events, and the channel
//! layer's own refusal of sensitive documents. Real PostgreSQL and RabbitMQ.

use crate::common;

use std::time::Duration;

use common::svarut::{
    bind_outbound, channels, drain, publish_and_commit, spawn_delivery_app, Fault, Smtp,
    StandInAuth, SvarUtStandIn,
};
use common::{conduct_warning, TestApp};
use dokflyt::channels::idempotency_key;
use dokflyt::config::SvarUtSettings;
use dokflyt::document::Channel;
use serde_json::{json, Value};
use uuid::Uuid;

async fn standin() -> SvarUtStandIn {
    SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("stand-in starts")
}

type DeliveryRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
    bool,
);

async fn delivery(app: &TestApp, event_id: Uuid, recipient: &str, channel: &str) -> Value {
    let row: DeliveryRow = sqlx::query_as(
            "SELECT status, provider_ref, provider_status, error_class, error_explanation, attempts, in_doubt
             FROM deliveries WHERE event_id = $1 AND recipient_id = $2 AND channel = $3",
        )
        .bind(event_id)
        .bind(recipient)
        .bind(channel)
        .fetch_one(&app.pool)
        .await
        .expect("delivery row");
    json!({
        "status": row.0, "provider_ref": row.1, "provider_status": row.2,
        "error_class": row.3, "reason": row.4, "attempts": row.5, "in_doubt": row.6,
    })
}

async fn history(app: &TestApp, event_id: Uuid, recipient: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT h.status, h.provider_status FROM delivery_status_history h
         JOIN deliveries d ON d.id = h.delivery_id
         WHERE d.event_id = $1 AND d.recipient_id = $2 ORDER BY h.id",
    )
    .bind(event_id)
    .bind(recipient)
    .fetch_all(&app.pool)
    .await
    .expect("history")
}

/// Makes retries due now (the backoff is not what these tests are about).
async fn due_now(app: &TestApp) {
    sqlx::query("UPDATE deliveries SET next_attempt_at = now() WHERE status = 'planned'")
        .execute(&app.pool)
        .await
        .expect("due now");
}

fn with_one_guardian(mut e: Value) -> Value {
    e["recipients"]
        .as_array_mut()
        .expect("recipients")
        .truncate(1);
    e
}

#[tokio::test]
async fn svarut_happy_path_fields_auth_and_statuses_to_lest() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| st.delivery.svarut = s.client_settings()).await;
    let ch = channels(&app);
    let mut ev = conduct_warning(Uuid::new_v4());
    // The second guardian has a protected address but a digital mailbox.
    ev["recipients"][1]["digital_mail"] = json!(true);
    let id = publish_and_commit(&app, &ev).await;

    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.claimed, sum.sent), (2, 2), "{sum:?}");
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    let got = s.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        let f = &r.forsendelse;
        assert_eq!(f["korrelasjonsid"], json!(id.to_string()));
        assert_eq!(f["avgivendeSystem"], json!("dokflyt"));
        assert_eq!(f["konteringskode"], json!("skole-42"));
        assert_eq!(f["krevNiva4Innlogging"], json!(true), "UO letter");
        assert_eq!(
            f["dokumenter"][0]["inneholderPersonsensitivInformasjon"],
            json!(true)
        );
        assert_eq!(r.files.len(), 1);
        assert_eq!(
            r.files[0].0,
            f["dokumenter"][0]["filnavn"].as_str().unwrap()
        );
        assert!(r.files[0].1 > 1000, "a real PDF");
        // UO: sent encrypted to SvarUt's certificate (CMS), and it decrypts to
        // exactly the rendered letter.
        assert_eq!(f["kryptert"], json!(true));
        assert!(r.encrypted);
        let stored: String =
            sqlx::query_scalar("SELECT pdf_sha256 FROM documents WHERE event_id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .expect("pdf hash");
        assert_eq!(r.file_sha256, vec![stored]);
    }
    let key1 = idempotency_key(id, "fors-1", Channel::Svarut);
    let key2 = idempotency_key(id, "fors-2", Channel::Svarut);
    assert_eq!(s.count_for(&key1), 1);
    assert_eq!(s.count_for(&key2), 1);
    let f1 = &got
        .iter()
        .find(|r| r.ekstern_ref.as_deref() == Some(&key1))
        .unwrap()
        .forsendelse;
    assert_eq!(
        f1["mottaker"]["digitalId"],
        ev["recipients"][0]["national_id"]
    );
    assert_eq!(f1["mottaker"]["adresselinje1"], json!("Bjørkeveien 12"));
    assert_eq!(f1["mottaker"]["postnummer"], json!("5003"));
    assert_eq!(f1["kunDigitalLevering"], json!(false));
    // Protected address: no address anywhere, digital only.
    let f2 = &got
        .iter()
        .find(|r| r.ekstern_ref.as_deref() == Some(&key2))
        .unwrap()
        .forsendelse;
    assert_eq!(f2["kunDigitalLevering"], json!(true));
    let m2 = f2["mottaker"].as_object().unwrap();
    assert!(m2.keys().all(|k| k == "navn" || k == "digitalId"), "{m2:?}");
    let text = serde_json::to_string(f2).unwrap();
    assert!(
        !text.contains("Hemmeligveien") && !text.contains("9999") && !text.contains("Skjultby")
    );

    let d1 = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(d1["status"], "sent");
    let forsendelse_id = d1["provider_ref"].as_str().unwrap().to_string();
    assert!(got.iter().any(|r| r.id == forsendelse_id));

    // Each status-sok moves the stand-in one step; the history records every one.
    for _ in 0..6 {
        ch.poll_svarut_now().await.expect("poll");
    }
    let d1 = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(d1["status"], "delivered");
    assert_eq!(d1["provider_status"], "LEST");
    let h: Vec<Option<String>> = history(&app, id, "fors-1")
        .await
        .into_iter()
        .map(|x| x.1)
        .collect();
    let expected = ["MOTTATT", "AKSEPTERT", "SENDT_DIGITALT", "VARSLET", "LEST"];
    assert_eq!(
        h.iter().flatten().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "{h:?}"
    );
    // LEST is final: no further polling of it.
    let asked = s.status_queries();
    let p = ch.poll_svarut_now().await.expect("poll");
    assert_eq!(p.asked, 0);
    assert_eq!(s.status_queries(), asked);

    // The API shows the same (to a client of the event's municipality, 4601).
    let secret = common::register(&app.pool, "levering", "4601", &["documents:read"], None).await;
    let body: Value = reqwest::Client::new()
        .get(format!("http://{}/api/deliveries?event_id={id}", app.http))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(body["deliveries"][0]["provider_status"], "LEST");
    app.stop_and_clean().await;
}

#[tokio::test]
async fn svarut_worker_loop_sends_and_polls_on_its_own() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| {
        st.delivery.enabled = true;
        st.delivery.idle_poll_ms = 50;
        st.delivery.svarut = s.client_settings();
        st.delivery.svarut.poll_interval_secs = 1;
    })
    .await;
    let id = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    app.wait_until("the letter is read", Duration::from_secs(60), || async {
        delivery(&app, id, "fors-1", "svarut").await["provider_status"] == "LEST"
    })
    .await;
    assert_eq!(s.received().len(), 1);
    app.stop_and_clean().await;
}

#[tokio::test]
async fn protected_address_without_digital_mailbox_is_held_never_printed() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| st.delivery.svarut = s.client_settings()).await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &conduct_warning(Uuid::new_v4())).await;
    let sum = ch.run_once(Channel::Svarut).await.unwrap();
    assert_eq!((sum.sent, sum.held), (1, 1), "{sum:?}");
    let d2 = delivery(&app, id, "fors-2", "svarut").await;
    assert_eq!(d2["status"], "held");
    assert_eq!(d2["error_class"], "protected_address_not_digital");
    assert!(d2["reason"].as_str().unwrap().contains("fortrolig adresse"));
    assert_eq!(
        s.count_for(&idempotency_key(id, "fors-2", Channel::Svarut)),
        0
    );
    for r in s.received() {
        let t = serde_json::to_string(&r.forsendelse).unwrap();
        assert!(!t.contains("Hemmeligveien") && !t.contains("Per Æsøy"));
    }
    // Held stays held: another round sends nothing.
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().claimed, 0);
    app.stop_and_clean().await;
}

#[tokio::test]
async fn timeout_after_upload_is_looked_up_and_not_sent_again() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.svarut.timeout_ms = 500;
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    let key = idempotency_key(id, "fors-1", Channel::Svarut);

    s.fail_next(Fault::SlowAfterStore(Duration::from_secs(5)));
    let sum = ch.run_once(Channel::Svarut).await.unwrap();
    assert_eq!(sum.retried, 1, "{sum:?}");
    let d = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(
        (d["status"].as_str(), d["in_doubt"].as_bool()),
        (Some("planned"), Some(true))
    );
    assert_eq!(d["error_class"], "svarut_timeout");
    assert_eq!(s.count_for(&key), 1, "SvarUt stored it despite the timeout");

    due_now(&app).await;
    let lookups = s.lookups();
    let sum = ch.run_once(Channel::Svarut).await.unwrap();
    assert_eq!(sum.sent, 1, "{sum:?}");
    assert_eq!(s.lookups(), lookups + 1, "looked up before any resend");
    assert_eq!(s.count_for(&key), 1, "no second forsendelse");
    let d = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(d["status"], "sent");
    assert_eq!(
        d["provider_ref"].as_str(),
        Some(s.received()[0].id.as_str())
    );

    // A 500 after the upload: the same — look up, adopt, never a second send.
    let id2 = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    let key2 = idempotency_key(id2, "fors-1", Channel::Svarut);
    s.fail_next(Fault::ServerErrorAfterStore);
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().retried, 1);
    due_now(&app).await;
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().sent, 1);
    assert_eq!(s.count_for(&key2), 1);
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    app.stop_and_clean().await;
}

#[tokio::test]
async fn a_crashed_attempt_is_looked_up_when_its_claim_expires() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.claim_ttl_secs = 1;
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    // The send reaches SvarUt; the worker dies before it records anything.
    s.fail_next(Fault::SlowAfterStore(Duration::from_secs(30)));
    let task = {
        let pool = app.pool.clone();
        let st = app.settings.delivery.clone();
        let prefix = app.settings.amqp.prefix.clone();
        tokio::spawn(async move {
            let c = dokflyt::channels::Channels::build(
                pool,
                &st,
                dokflyt::config::Secret::new(common::AMQP_URL),
                5,
                &prefix,
            )
            .unwrap();
            c.run_once(Channel::Svarut).await
        })
    };
    app.wait_until(
        "SvarUt has the forsendelse",
        Duration::from_secs(20),
        || async { s.received().len() == 1 },
    )
    .await;
    task.abort();
    let _ = task.await;
    app.wait_until("the claim expired", Duration::from_secs(20), || async {
        app.count("SELECT count(*) FROM deliveries WHERE claimed_until < now() AND in_doubt")
            .await
            == 1
    })
    .await;
    let sum = ch.run_once(Channel::Svarut).await.unwrap();
    assert_eq!(sum.sent, 1, "{sum:?}");
    assert_eq!(s.received().len(), 1, "not sent twice");
    assert_eq!(delivery(&app, id, "fors-1", "svarut").await["attempts"], 2);
    app.stop_and_clean().await;
}

#[tokio::test]
async fn avvist_is_a_failure_for_the_school_and_unknown_statuses_are_kept() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| st.delivery.svarut = s.client_settings()).await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    s.script_next(&["MOTTATT", "AVVIST"]);
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().sent, 1);
    ch.poll_svarut_now().await.unwrap();
    ch.poll_svarut_now().await.unwrap();
    let d = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(d["status"], "failed");
    assert_eq!(d["provider_status"], "AVVIST");
    assert_eq!(d["error_class"], "svarut_avvist");
    assert!(d["reason"].as_str().unwrap().contains("avviste"));
    assert_eq!(
        history(&app, id, "fors-1").await.last().unwrap(),
        &("failed".to_string(), Some("AVVIST".to_string()))
    );

    let id2 = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    s.script_next(&["MOTTATT", "VENTER_PA_NY_KANAL", "LEST"]);
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().sent, 1);
    ch.poll_svarut_now().await.unwrap();
    let p = ch.poll_svarut_now().await.unwrap();
    assert_eq!(p.unknown_statuses, 1);
    let d = delivery(&app, id2, "fors-1", "svarut").await;
    assert_eq!(
        (d["status"].as_str(), d["provider_status"].as_str()),
        (Some("sent"), Some("VENTER_PA_NY_KANAL"))
    );
    ch.poll_svarut_now().await.unwrap();
    assert_eq!(
        delivery(&app, id2, "fors-1", "svarut").await["status"],
        "delivered"
    );
    app.stop_and_clean().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_svarut_and_retried_not_lost() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.svarut.integrasjon_passord = dokflyt::config::Secret::new("feil");
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &with_one_guardian(conduct_warning(Uuid::new_v4()))).await;
    assert_eq!(ch.run_once(Channel::Svarut).await.unwrap().retried, 1);
    let d = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(
        (d["status"].as_str(), d["error_class"].as_str()),
        (Some("planned"), Some("svarut_auth"))
    );
    assert!(s.received().is_empty());
    assert!(s
        .violations()
        .iter()
        .any(|v| v.contains("IntegrasjonPassord")));
    app.stop_and_clean().await;
}

fn example(name: &str) -> Value {
    let p = format!("{}/examples/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["event_id"] = json!(Uuid::new_v4().to_string());
    v
}

fn mail_settings(smtp: &Smtp) -> impl FnOnce(&mut dokflyt::config::Settings) + '_ {
    move |st| {
        st.delivery.email.enabled = true;
        st.delivery.email.port = smtp.port;
        st.delivery.email.default_from = "Skolen <ikke-svar@fjellvik.kommune.no>".into();
        st.delivery.portal_url = "https://portal.fjellvik.example/logg-inn".into();
        st.delivery.email.schools.insert(
            "bakken-skole".into(),
            dokflyt::config::SchoolMail {
                from: "Bakken skole <post.bakken@fjellvik.kommune.no>".into(),
                reply_to: Some("Kontoret <kontor.bakken@fjellvik.kommune.no>".into()),
            },
        );
    }
}

#[tokio::test]
async fn email_mime_subject_sender_and_attachment_policy() {
    let smtp = Smtp::start().await;
    let app = spawn_delivery_app(mail_settings(&smtp)).await;
    let ch = channels(&app);
    let queue = bind_outbound(&app, "message.created").await;

    // A public message with æøå in the subject; attachments allowed.
    let mut info = example("general_information");
    info["school"]["id"] = json!("bakken-skole");
    info["title"] = json!("Hodelus på 4. trinn – være obs på æøå ÆØÅ");
    let info_id = publish_and_commit(&app, &info).await;
    let has_pdf = app
        .count(&format!(
            "SELECT count(*) FROM documents WHERE event_id = '{info_id}' AND pdf IS NOT NULL"
        ))
        .await
        == 1;
    // A UO absence notice: notice only. A grade notification: notice only.
    let absence_id = publish_and_commit(&app, &example("absence_notice")).await;
    let grades_id = publish_and_commit(&app, &example("term_grades")).await;
    ch.run_once(Channel::MessageEmail).await.unwrap();
    ch.run_once(Channel::Notification).await.unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE status <> 'sent'")
            .await,
        0
    );

    let mails = smtp.messages();
    let expected_with_email = app
        .count("SELECT count(*) FROM deliveries WHERE provider_ref LIKE '<%'")
        .await;
    assert_eq!(mails.len() as i64, expected_with_email);
    assert!(expected_with_email >= 3);
    // The wire form of the subject is encoded (RFC 2047), the decoded one exact.
    let info_mails: Vec<&Value> = mails
        .iter()
        .filter(|m| m["subject"] == "Hodelus på 4. trinn – være obs på æøå ÆØÅ")
        .collect();
    assert!(!info_mails.is_empty(), "{mails:#?}");
    for raw in smtp.raw() {
        let head = String::from_utf8_lossy(
            &raw[..raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(raw.len())],
        )
        .to_string();
        assert!(head.is_ascii(), "headers are 7-bit on the wire");
    }
    for m in &info_mails {
        assert_eq!(m["from"], "Bakken skole <post.bakken@fjellvik.kommune.no>");
        assert_eq!(
            m["reply_to"],
            "Kontoret <kontor.bakken@fjellvik.kommune.no>"
        );
        assert!(m["text"].as_str().unwrap().contains("hodelus"));
        let atts = m["attachments"].as_array().unwrap();
        if has_pdf {
            assert_eq!(atts.len(), 1, "{m}");
            assert_eq!(atts[0]["content_type"], "application/pdf");
            assert!(atts[0]["size"].as_u64().unwrap() > 1000);
        } else {
            assert!(atts.is_empty());
        }
    }
    let absence_title = example("absence_notice")["title"]
        .as_str()
        .unwrap()
        .to_string();
    for m in &mails {
        let subject = m["subject"].as_str().unwrap();
        if subject.starts_with("Ny melding fra") || subject.starts_with("Nytt dokument fra") {
            assert!(
                m["attachments"].as_array().unwrap().is_empty(),
                "a notice has no attachment: {m}"
            );
            let text = m["text"].as_str().unwrap();
            assert!(text.contains("https://portal.fjellvik.example/logg-inn"));
            assert!(text.contains("Logg inn"));
            assert!(!text.contains(&absence_title));
        }
    }
    let notices = mails
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Nytt dokument fra")
        })
        .count();
    assert_eq!(
        notices as i64,
        app.count(&format!("SELECT count(*) FROM deliveries WHERE event_id = '{grades_id}' AND provider_ref LIKE '<%'")).await
    );
    assert!(notices >= 1);

    // In-app messages: fetchable by recipient, announced on AMQP.
    let recipient = info["recipients"][0]["id"].as_str().unwrap();
    let body: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/messages?recipient={recipient}",
            app.http
        ))
        .bearer_auth(&app.api_secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msgs = body["messages"].as_array().unwrap();
    assert!(msgs
        .iter()
        .any(|m| m["event_id"] == json!(info_id) && m["kind"] == "message"));
    let events = drain(&app, &queue).await;
    let total_messages = app.count("SELECT count(*) FROM messages").await;
    assert_eq!(events.len() as i64, total_messages);
    assert!(events
        .iter()
        .all(|(rk, b)| rk == "message.created" && b["message_id"].is_string()));
    assert!(events
        .iter()
        .any(|(_, b)| b["event_id"] == json!(absence_id) && b["kind"] == "notice"));
    let anonymous = reqwest::get(format!(
        "http://{}/api/messages?recipient={recipient}",
        app.http
    ))
    .await
    .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "the school system's token is required"
    );
    let bad = reqwest::Client::new()
        .get(format!("http://{}/api/messages", app.http))
        .bearer_auth(&app.api_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.stop_and_clean().await;
}

#[tokio::test]
async fn email_restart_mid_batch_sends_no_duplicates() {
    let smtp = Smtp::start().await;
    let app = spawn_delivery_app(|st| {
        mail_settings(&smtp)(st);
        st.delivery.claim_ttl_secs = 1;
        st.delivery.batch_size = 200;
    })
    .await;
    let _queue = bind_outbound(&app, "message.created").await;
    let n = 60;
    for i in 0..n {
        let mut e = example("pupil_message");
        e["title"] = json!(format!("Beskjed nr. {i} – husk gymtøy"));
        app.publish(&e).await;
    }
    app.wait_until("all committed", Duration::from_secs(60), || async {
        app.count("SELECT count(*) FROM documents").await == n
    })
    .await;
    let total = app.count("SELECT count(*) FROM deliveries").await;

    let first = {
        let c = channels(&app);
        tokio::spawn(async move { c.run_once(Channel::MessageEmail).await })
    };
    app.wait_until("some emails went out", Duration::from_secs(60), || async {
        smtp.raw().len() >= 3
    })
    .await;
    first.abort();
    let _ = first.await;
    let unfinished = app
        .count("SELECT count(*) FROM deliveries WHERE status = 'planned'")
        .await;
    assert!(unfinished > 0, "the crash came mid-batch");

    // A new worker after the claims expired.
    app.wait_until("the claims expired", Duration::from_secs(20), || async {
        app.count(
            "SELECT count(*) FROM deliveries WHERE status = 'planned' AND claimed_until > now()",
        )
        .await
            == 0
    })
    .await;
    let ch = channels(&app);
    for _ in 0..10 {
        due_now(&app).await;
        if ch.run_once(Channel::MessageEmail).await.unwrap().claimed == 0 {
            break;
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE status = 'planned'")
            .await,
        0
    );
    let mails = smtp.messages();
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "no Message-ID twice");
    let sent_with_email: Vec<String> = sqlx::query_scalar(
        "SELECT provider_ref FROM deliveries WHERE status = 'sent' AND provider_ref LIKE '<%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for r in &sent_with_email {
        assert_eq!(
            ids.iter().filter(|m| *m == r).count(),
            1,
            "{r} arrived once"
        );
    }
    let held = app.count("SELECT count(*) FROM deliveries WHERE status = 'held' AND error_class = 'email_in_doubt'").await;
    assert!(held <= 1, "only the one interrupted email can be in doubt");
    assert_eq!(sent_with_email.len() as i64 + held, total);
    assert!(mails.len() as i64 <= total);
    assert_eq!(
        app.count("SELECT count(*) FROM messages").await,
        total,
        "one in-app message each"
    );
    app.stop_and_clean().await;
}

#[tokio::test]
async fn the_channel_layer_refuses_a_sensitive_document_even_if_a_rule_let_it_through() {
    // The router's side: a rule that would send sensitive content by message is refused.
    let dir = format!("{}/routing-rules", env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        let edited = t.replace(
            "id = \"pupil_message_sensitive\"\ndocument_type = \"pupil_message\"\nwhen = { sensitive = true }\ndirection = \"out\"\nchannel = \"svarut_archive\"",
            "id = \"pupil_message_sensitive\"\ndocument_type = \"pupil_message\"\nwhen = { sensitive = true }\ndirection = \"out\"\nchannel = \"message_email\"",
        );
        files.push((p, edited));
    }
    assert!(
        files.iter().any(|(_, t)| t.contains(
            "when = { sensitive = true }\ndirection = \"out\"\nchannel = \"message_email\""
        )),
        "the edit applied"
    );
    let err = dokflyt::rules::RoutingTable::from_texts(&files)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sensitive"), "{err}");

    // The channel layer's side: a sensitive document's delivery on message_email and
    // notification (as if the router had been bypassed) is refused, nothing sent.
    let smtp = Smtp::start().await;
    let app = spawn_delivery_app(mail_settings(&smtp)).await;
    let _queue = bind_outbound(&app, "#").await;
    let ch = channels(&app);
    let mut ev = conduct_warning(Uuid::new_v4());
    ev["recipients"][0]["email"] = json!("ase@example.no");
    let id = publish_and_commit(&app, &ev).await;
    sqlx::query(
        "INSERT INTO deliveries (event_id, recipient_id, channel) VALUES ($1, 'fors-1', 'message_email'), ($1, 'fors-1', 'notification')",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let a = ch.run_once(Channel::MessageEmail).await.unwrap();
    let b = ch.run_once(Channel::Notification).await.unwrap();
    assert_eq!((a.failed, b.failed), (1, 1));
    for c in ["message_email", "notification"] {
        let d = delivery(&app, id, "fors-1", c).await;
        assert_eq!(d["status"], "failed");
        assert_eq!(d["error_class"], "sensitive_refused");
    }
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    assert!(smtp.raw().is_empty(), "no email left");
    app.stop_and_clean().await;
}

#[tokio::test]
async fn moving_notice_is_published_to_the_receiving_schools_routing_key() {
    let app = spawn_delivery_app(|_| {}).await;
    let ch = channels(&app);
    let queue = bind_outbound(&app, "school.fjellvik-sentrum-skole.document.internal").await;
    let id = publish_and_commit(&app, &example("moving_notice")).await;
    let sum = ch.run_once(Channel::Internal).await.unwrap();
    assert_eq!(sum.sent, 1, "{sum:?}");
    let got = drain(&app, &queue).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "school.fjellvik-sentrum-skole.document.internal");
    assert_eq!(got[0].1["type"], "document.internal");
    assert_eq!(got[0].1["event_id"], json!(id));
    assert_eq!(got[0].1["to_school_id"], "fjellvik-sentrum-skole");

    // With no queue bound for the school, the event is not dropped: retried, then failed.
    let mut other = example("moving_notice");
    other["fields"]["receiving_school"]["id"] = json!("ingen-lytter");
    let id2 = publish_and_commit(&app, &other).await;
    let sum = ch.run_once(Channel::Internal).await.unwrap();
    assert_eq!(sum.retried, 1, "{sum:?}");
    let d = delivery(&app, id2, "school:ingen-lytter", "internal").await;
    assert_eq!(d["error_class"], "amqp_unroutable");
    app.stop_and_clean().await;
}

/// A UO letter must be encrypted to SvarUt's certificate; without one configured it
/// is held for the operators, never sent in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uo_letter_without_a_svarut_certificate_is_held_not_sent_in_the_clear() {
    let s = standin().await;
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = SvarUtSettings {
            encryption_certificate: String::new(),
            ..s.client_settings()
        }
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &conduct_warning(Uuid::new_v4())).await;
    ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert!(s.received().is_empty(), "nothing reached SvarUt");
    let d = delivery(&app, id, "fors-1", "svarut").await;
    assert_eq!(d["status"], json!("held"), "{d}");
    assert_eq!(d["error_class"], json!("svarut_no_certificate"), "{d}");
    app.stop_and_clean().await;
}

/// With Maskinporten configured, the bearer token is fetched by a signed JWT grant
/// (x5c, RS256, aud/iss/scope, two-minute lifetime, fresh jti) and reused while it
/// is valid: two letters, one grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svarut_calls_carry_a_maskinporten_token_fetched_by_a_signed_grant() {
    use common::maskinporten::{Maskinporten, AUDIENCE, CLIENT_ID, SCOPE};
    let s = standin().await;
    let token = s.client_settings().maskinporten_token.expose().to_string();
    let mp = Maskinporten::start(&token).await;
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = SvarUtSettings {
            maskinporten_token: dokflyt::config::Secret::new(""),
            maskinporten: dokflyt::config::MaskinportenSettings {
                token_endpoint: mp.token_endpoint(),
                audience: AUDIENCE.into(),
                client_id: CLIENT_ID.into(),
                scope: SCOPE.into(),
                private_key: dokflyt::config::Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY),
                certificate: dokflyt_dev::standins::svarut::DEMO_CERT.into(),
                kid: String::new(),
            },
            ..s.client_settings()
        }
    })
    .await;
    let ch = channels(&app);
    let mut ev = conduct_warning(Uuid::new_v4());
    ev["recipients"][1]["digital_mail"] = json!(true);
    publish_and_commit(&app, &ev).await;
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.claimed, sum.sent), (2, 2), "{sum:?}");
    assert!(mp.refusals().is_empty(), "{:?}", mp.refusals());
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    assert_eq!(mp.grants(), 1, "the token is cached while valid");
    app.stop_and_clean().await;
}

/// In a municipality with a Sámi setting (Kautokeino, North Sámi), the in-app
/// message of general information carries the producer's Sámi text after the
/// Norwegian, and a parent-meeting invitation without one the fixed North Sámi
/// phrase with the meeting's time and place; outside the area nothing changes.
#[tokio::test]
async fn messages_in_a_sami_area_carry_the_sami_text_beside_the_norwegian() {
    let app = spawn_delivery_app(|st| {
        st.delivery.email.enabled = false;
        st.letters.municipalities.insert(
            "5430".into(),
            dokflyt::config::letters::Override {
                sami: Some(dokflyt::config::letters::Sami::North),
                ..Default::default()
            },
        );
    })
    .await;
    let sami = dokflyt::render::sami::SamiTexts::load(
        &app.settings.paths.templates_dir,
        app.settings.letters.clone(),
    )
    .expect("the Sámi phrases load");
    let ch = dokflyt::channels::Channels::build_with_sami(
        app.pool.clone(),
        &app.settings.delivery,
        dokflyt::config::Secret::new(common::AMQP_URL),
        5,
        &app.settings.amqp.prefix,
        std::sync::Arc::new(sami),
    )
    .expect("channels build");

    let own = example("general_information_sami");
    let own_id = publish_and_commit(&app, &own).await;
    let mut fixed = example("parent_meeting_invitation");
    fixed["municipality"]["number"] = json!("5430");
    let fixed_id = publish_and_commit(&app, &fixed).await;
    let plain = example("parent_meeting_invitation");
    let plain_id = publish_and_commit(&app, &plain).await;
    ch.run_once(Channel::MessageEmail).await.unwrap();

    let message = |id: Uuid| {
        let pool = app.pool.clone();
        async move {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT subject, body FROM messages WHERE event_id = $1 AND kind = 'message'",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .expect("messages");
            assert!(!rows.is_empty(), "no message for {id}");
            rows.into_iter().next().expect("one")
        }
    };
    let (subject, body) = message(own_id).await;
    let sami_title = own["fields"]["sami_text"]["title"].as_str().expect("title");
    assert_eq!(
        subject,
        format!("{} / {sami_title}", own["title"].as_str().expect("title"))
    );
    let norwegian = body.find("Skolen er stengt fredag").expect("the Norwegian");
    let sami_at = body
        .find("SFO lea rabas dego dábálaččat.")
        .expect("the Sámi");
    assert!(norwegian < sami_at, "{body}");

    let (subject, body) = message(fixed_id).await;
    assert!(
        subject.ends_with(" / Bovdehus váhnenčoahkkimii"),
        "{subject}"
    );
    assert!(body.contains("Áigi: 15.09.2026 dii. 18.00."), "{body}");
    assert!(
        body.find("Velkommen til foreldremøte") < body.find("Bovdehus"),
        "{body}"
    );

    let (subject, body) = message(plain_id).await;
    assert_eq!(subject, plain["title"].as_str().expect("title"));
    assert!(!body.contains("Bovdehus"), "{body}");
    app.stop_and_clean().await;
}
