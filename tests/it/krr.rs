//! The contact and reservation register (KRR) at send time, against the local
//! stand-in of Digdir's lookup service (`dokflyt_dev::standins::krr`) over HTTP,
//! with a Maskinporten token for the register's scopes: reservation and
//! *kan varsles* change what each channel sends, the register's details replace
//! the event's, the preferred language is recorded, lookups go in batches of at
//! most 1,000 and are cached, and an outage makes deliveries wait (then the
//! configured fallback) and recovery sends them. Every test ends with the
//! personal-data scan of the worker's log (`stop_and_clean`); the ones that
//! look guardians up capture every crate's log at TRACE for it.

use crate::common;

use common::maskinporten::{Maskinporten, AUDIENCE, CLIENT_ID};
use common::svarut::{
    bind_outbound, channels, publish_and_commit, spawn_delivery_app, Smtp, StandInAuth,
    SvarUtStandIn,
};
use common::{conduct_warning, fnr_for, TestApp};
use dokflyt::config::{ContactRegisterSettings, MaskinportenSettings, OutageFallback, Secret};
use dokflyt::contact_register::ContactRegister;
use dokflyt::document::Channel;
use dokflyt_dev::standins::krr::{self, KrrPerson, KrrStandIn};
use serde_json::{json, Value};
use uuid::Uuid;

async fn register_standin() -> KrrStandIn {
    KrrStandIn::start("127.0.0.1:0", krr::TOKEN)
        .await
        .expect("the register stand-in starts")
}

/// Register settings that reach `k`, with a token from `mp` (Maskinporten
/// stand-in issuing the register's token for its scopes).
fn register_settings(k: &KrrStandIn, mp: &Maskinporten) -> ContactRegisterSettings {
    ContactRegisterSettings {
        enabled: true,
        url: k.url(),
        maskinporten: MaskinportenSettings {
            token_endpoint: mp.token_endpoint(),
            audience: AUDIENCE.into(),
            client_id: CLIENT_ID.into(),
            scope: krr::SCOPES.into(),
            private_key: Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY),
            certificate: dokflyt_dev::standins::svarut::DEMO_CERT.into(),
            kid: String::new(),
        },
        ..ContactRegisterSettings::default()
    }
}

async fn maskinporten() -> Maskinporten {
    Maskinporten::start_with_scopes(&[(krr::SCOPES, krr::TOKEN)]).await
}

async fn svarut() -> SvarUtStandIn {
    SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("stand-in starts")
}

/// (status, error class, attempts, preferred language) of one delivery.
async fn row(
    app: &TestApp,
    event: Uuid,
    recipient: &str,
) -> (String, Option<String>, i32, Option<String>) {
    sqlx::query_as(
        "SELECT status, error_class, attempts, preferred_language FROM deliveries
         WHERE event_id = $1 AND recipient_id = $2",
    )
    .bind(event)
    .bind(recipient)
    .fetch_one(&app.pool)
    .await
    .expect("delivery row")
}

async fn due_now(app: &TestApp) {
    sqlx::query("UPDATE deliveries SET next_attempt_at = now() WHERE status = 'planned'")
        .execute(&app.pool)
        .await
        .expect("due now");
}

fn forsendelse_of<'a>(s: &'a [dokflyt_dev::standins::svarut::Received], key: &str) -> &'a Value {
    &s.iter()
        .find(|r| r.ekstern_ref.as_deref() == Some(key))
        .expect("a forsendelse for the recipient")
        .forsendelse
}

/// A reserved guardian's letter goes on paper (no digitalId, SvarUt prints); a
/// guardian with a protected address whom the event says has no mailbox, but the
/// register says has one, gets the letter digitally instead of it being held.
/// The languages are recorded; both guardians are asked in one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_sends_paper_and_the_registers_mailbox_replaces_the_events() {
    // Every crate's log at TRACE (the HTTP client's too) goes to the buffer
    // `stop_and_clean` scans for national ids, phone numbers and names.
    let _wide = common::capture_everything();
    let s = svarut().await;
    let k = register_standin().await;
    let mp = maskinporten().await;
    let ev = conduct_warning(Uuid::new_v4());
    let fnr1 = ev["recipients"][0]["national_id"]
        .as_str()
        .unwrap()
        .to_string();
    let fnr2 = ev["recipients"][1]["national_id"]
        .as_str()
        .unwrap()
        .to_string();
    k.put(KrrPerson {
        reserved: true,
        may_notify: false,
        language: Some("nb".into()),
        ..KrrPerson::active(&fnr1)
    });
    k.put(KrrPerson {
        mailbox: Some("ase.odegard#9KBL".into()),
        language: Some("nn".into()),
        ..KrrPerson::active(&fnr2)
    });
    let reg = register_settings(&k, &mp);
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.contact_register = reg;
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &ev).await;
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.claimed, sum.sent, sum.held), (2, 2, 0), "{sum:?}");
    assert_eq!(k.calls(), vec![2], "one lookup for the batch");
    assert!(k.violations().is_empty(), "{:?}", k.violations());
    assert!(mp.refusals().is_empty(), "{:?}", mp.refusals());
    let got = s.received();
    let reserved = forsendelse_of(
        &got,
        &dokflyt::channels::idempotency_key(id, "fors-1", Channel::Svarut),
    );
    assert!(
        reserved["mottaker"].get("digitalId").is_none(),
        "{reserved}"
    );
    assert_eq!(reserved["kunDigitalLevering"], json!(false));
    let protected = forsendelse_of(
        &got,
        &dokflyt::channels::idempotency_key(id, "fors-2", Channel::Svarut),
    );
    assert_eq!(protected["mottaker"]["digitalId"], json!(fnr2));
    assert_eq!(protected["kunDigitalLevering"], json!(true));
    assert!(protected["mottaker"].get("adresselinje1").is_none());
    assert_eq!(row(&app, id, "fors-1").await.3.as_deref(), Some("nb"));
    assert_eq!(row(&app, id, "fors-2").await.3.as_deref(), Some("nn"));
    app.stop_and_clean().await;
}

/// Messages: a guardian who may not be notified (not *kan varsles*) and a
/// reserved one get no email copy (the in-app message stays); one who may gets
/// it at the register's address, not the event's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kan_varsles_and_reservation_decide_the_email_and_the_register_address_wins() {
    // Every crate's log at TRACE (the HTTP client's too) goes to the buffer
    // `stop_and_clean` scans for national ids, phone numbers and names.
    let _wide = common::capture_everything();
    let smtp = Smtp::start().await;
    let k = register_standin().await;
    let mp = maskinporten().await;
    let path = format!(
        "{}/examples/events/general_information.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut ev: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ev["event_id"] = json!(Uuid::new_v4().to_string());
    let mut third = ev["recipients"][1].clone();
    third["id"] = json!("pers-3");
    third["national_id"] = json!(fnr_for("110385"));
    ev["recipients"].as_array_mut().unwrap().push(third.clone());
    let ids: Vec<String> = (0..3)
        .map(|i| {
            ev["recipients"][i]["national_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    k.put(KrrPerson {
        may_notify: false,
        email: Some("utdatert.adresse@eksempel.no".into()),
        ..KrrPerson::active(&ids[0])
    });
    k.put(KrrPerson {
        email: Some("fra.registeret@eksempel.no".into()),
        ..KrrPerson::active(&ids[1])
    });
    k.put(KrrPerson {
        reserved: true,
        may_notify: true,
        email: Some("reservert@eksempel.no".into()),
        ..KrrPerson::active(&ids[2])
    });
    let reg = register_settings(&k, &mp);
    let port = smtp.port;
    let app = spawn_delivery_app(move |st| {
        st.delivery.email.enabled = true;
        st.delivery.email.port = port;
        st.delivery.contact_register = reg;
    })
    .await;
    let ch = channels(&app);
    bind_outbound(&app, "message.created").await;
    let id = publish_and_commit(&app, &ev).await;
    let sum = ch.run_once(Channel::MessageEmail).await.expect("dispatch");
    assert_eq!((sum.claimed, sum.sent), (3, 3), "{sum:?}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM messages WHERE event_id = '{id}'"
        ))
        .await,
        3,
        "every guardian keeps the in-app message"
    );
    let mails = smtp.messages();
    let to: Vec<&str> = mails.iter().filter_map(|m| m["to"].as_str()).collect();
    assert_eq!(to.len(), 1, "{mails:#?}");
    assert!(to[0].ends_with("<fra.registeret@eksempel.no>"), "{to:?}");
    app.stop_and_clean().await;
}

/// 1,001 guardians are two calls (1,000 + 1); the same persons again within the
/// TTL are no call at all; a new person beside cached ones is a call of one.
/// With a TTL of zero every lookup asks again.
#[tokio::test]
async fn lookups_go_in_batches_of_a_thousand_and_answers_are_cached() {
    let k = register_standin().await;
    let settings = ContactRegisterSettings {
        enabled: true,
        url: k.url(),
        token: Secret::new(krr::TOKEN),
        ..ContactRegisterSettings::default()
    };
    let client = ContactRegister::new(&settings).expect("client");
    let ids: Vec<String> = (0..1001)
        .map(|i| format!("{:011}", 10_000_000_000u64 + i))
        .collect();
    k.put(KrrPerson {
        reserved: true,
        ..KrrPerson::active(&ids[1000])
    });
    let answers = client.lookup(&ids).await.expect("lookup");
    assert_eq!(answers.len(), 1001);
    assert!(answers[&ids[1000]].reserved && answers[&ids[1000]].active);
    assert!(
        !answers[&ids[0]].active,
        "unknown to the register: not registered"
    );
    assert_eq!(k.calls(), vec![1000, 1]);
    let again = client.lookup(&ids).await.expect("cached lookup");
    assert_eq!(again, answers);
    assert_eq!(k.calls(), vec![1000, 1], "within the TTL: no call");
    let one_more = vec![ids[5].clone(), "19999999999".to_string()];
    client.lookup(&one_more).await.expect("lookup");
    assert_eq!(k.calls(), vec![1000, 1, 1]);

    let uncached = ContactRegister::new(&ContactRegisterSettings {
        cache_ttl_secs: 0,
        ..settings
    })
    .expect("client");
    uncached.lookup(&ids[..2]).await.expect("lookup");
    uncached.lookup(&ids[..2]).await.expect("lookup");
    assert_eq!(k.calls(), vec![1000, 1, 1, 2, 2]);
}

/// The register is down: the guardians' deliveries wait (planned, the attempt
/// not counted, one `waiting` history row however often they ask again), nothing
/// reaches SvarUt; when it answers again they are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_makes_deliveries_wait_and_recovery_sends_them() {
    // Every crate's log at TRACE (the HTTP client's too) goes to the buffer
    // `stop_and_clean` scans for national ids, phone numbers and names.
    let _wide = common::capture_everything();
    let s = svarut().await;
    let k = register_standin().await;
    let mp = maskinporten().await;
    k.set_unavailable(true);
    let reg = register_settings(&k, &mp);
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.contact_register = reg;
    })
    .await;
    let ch = channels(&app);
    let ev = conduct_warning(Uuid::new_v4());
    for i in 0..2 {
        k.put(KrrPerson {
            mailbox: Some("postkasse#1".into()),
            ..KrrPerson::active(ev["recipients"][i]["national_id"].as_str().unwrap())
        });
    }
    let id = publish_and_commit(&app, &ev).await;
    for round in 0..2 {
        let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
        assert_eq!(
            (sum.claimed, sum.waiting, sum.sent),
            (2, 2, 0),
            "round {round}: {sum:?}"
        );
        assert_eq!(
            ch.run_once(Channel::Svarut)
                .await
                .expect("dispatch")
                .claimed,
            0,
            "a waiting delivery is not due before outage_retry_secs"
        );
        due_now(&app).await;
    }
    assert_eq!(k.refused_while_down(), 2);
    assert!(
        s.received().is_empty(),
        "nothing is sent without the register's answer"
    );
    for r in ["fors-1", "fors-2"] {
        let (status, class, attempts, _) = row(&app, id, r).await;
        assert_eq!(
            (status.as_str(), class.as_deref(), attempts),
            ("planned", Some("register_unavailable"), 0)
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM delivery_status_history h JOIN deliveries d ON d.id = h.delivery_id
             WHERE d.event_id = '{id}' AND h.status = 'waiting'"
        ))
        .await,
        2
    );

    k.set_unavailable(false);
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.claimed, sum.sent), (2, 2), "{sum:?}");
    assert_eq!(s.received().len(), 2);
    assert_eq!(k.calls(), vec![2]);
    for r in ["fors-1", "fors-2"] {
        let (status, class, attempts, _) = row(&app, id, r).await;
        assert_eq!((status.as_str(), class, attempts), ("sent", None, 1));
    }
    app.stop_and_clean().await;
}

/// Past `outage_wait_secs`: with `hold` the deliveries are held for a person;
/// with `svarut` a letter goes on paper (no digitalId) and a protected address,
/// which may not be printed, is held by the recipient policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_outage_limit_the_configured_fallback_applies() {
    let s = svarut().await;
    let k = register_standin().await;
    let mp = maskinporten().await;
    k.set_unavailable(true);
    for fallback in [OutageFallback::Hold, OutageFallback::Svarut] {
        let reg = ContactRegisterSettings {
            outage_wait_secs: 0,
            outage_fallback: fallback,
            ..register_settings(&k, &mp)
        };
        let app = spawn_delivery_app(|st| {
            st.delivery.svarut = s.client_settings();
            st.delivery.contact_register = reg;
        })
        .await;
        let ch = channels(&app);
        let mut ev = conduct_warning(Uuid::new_v4());
        ev["recipients"][1]["digital_mail"] = json!(true);
        let id = publish_and_commit(&app, &ev).await;
        let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
        let one = row(&app, id, "fors-1").await;
        let two = row(&app, id, "fors-2").await;
        match fallback {
            OutageFallback::Hold => {
                assert_eq!((sum.held, sum.sent), (2, 0), "{sum:?}");
                assert_eq!(one.1.as_deref(), Some("register_unavailable"));
                assert_eq!(
                    s.count_for(&dokflyt::channels::idempotency_key(
                        id,
                        "fors-1",
                        Channel::Svarut
                    )),
                    0
                );
            }
            OutageFallback::Svarut => {
                assert_eq!((sum.held, sum.sent), (1, 1), "{sum:?}");
                assert_eq!(one.0, "sent");
                let got = s.received();
                let f = forsendelse_of(
                    &got,
                    &dokflyt::channels::idempotency_key(id, "fors-1", Channel::Svarut),
                );
                assert!(f["mottaker"].get("digitalId").is_none(), "paper only: {f}");
                assert_eq!(two.0, "held");
                assert_eq!(two.1.as_deref(), Some("protected_address_not_digital"));
            }
        }
        // The school's tasks: the held guardians, for the reason that held them
        // (the fallback's paper-only rule is no reservation the register gave).
        let reasons: Vec<(String, String)> = sqlx::query_as(
            "SELECT recipient_id, reason FROM unreachable_tasks WHERE event_id = $1
              ORDER BY recipient_id",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .expect("tasks");
        let want: Vec<(String, String)> = match fallback {
            OutageFallback::Hold => vec![
                ("fors-1".into(), "register_unavailable".into()),
                ("fors-2".into(), "register_unavailable".into()),
            ],
            OutageFallback::Svarut => vec![("fors-2".into(), "protected_address".into())],
        };
        assert_eq!(reasons, want);
        app.stop_and_clean().await;
    }
}

/// With the register off nothing is looked up and the event's details are used,
/// exactly as before (the protected guardian without a mailbox is held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_register_off_the_events_details_decide() {
    let s = svarut().await;
    let k = register_standin().await;
    let url = k.url();
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.contact_register.url = url;
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &conduct_warning(Uuid::new_v4())).await;
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.sent, sum.held), (1, 1), "{sum:?}");
    assert!(k.calls().is_empty());
    let got = s.received();
    let f = forsendelse_of(
        &got,
        &dokflyt::channels::idempotency_key(id, "fors-1", Channel::Svarut),
    );
    assert!(f["mottaker"].get("digitalId").is_some());
    assert_eq!(row(&app, id, "fors-1").await.3, None);
    app.stop_and_clean().await;
}

/// The register client's errors name classes and statuses, never the persons
/// asked about (the log scan of every test above covers the worker's lines).
#[tokio::test]
async fn register_errors_carry_no_national_id() {
    let k = register_standin().await;
    k.set_unavailable(true);
    let client = ContactRegister::new(&ContactRegisterSettings {
        enabled: true,
        url: k.url(),
        token: Secret::new(krr::TOKEN),
        ..ContactRegisterSettings::default()
    })
    .expect("client");
    let ev = conduct_warning(Uuid::new_v4());
    let id = ev["recipients"][0]["national_id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = client
        .lookup(std::slice::from_ref(&id))
        .await
        .expect_err("down");
    let text = format!("{e} {e:?}");
    assert_eq!(e.class(), "register_http");
    assert!(!text.contains(&id), "{text}");
    let found = common::scan::scan("register error", &text, &common::scan::fixture_names());
    assert!(found.is_empty(), "{found:?}");
}
