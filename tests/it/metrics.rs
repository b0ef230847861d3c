//! `GET /metrics` after real events (issue 20): the families exist, their values
//! are what happened, and no label value is personal data.
//!
//! The counters live in the process's one recorder (the `metrics` facade's global),
//! so exact counts need a process of their own: [`a_scrape_counts_exactly_what_happened`]
//! runs the real binary (`dokflyt serve`) on a private database and prefix, feeds it
//! events through the broker and transfers its archive queue to the stand-in archive
//! through the API. The SMS and SvarUt tests run in this test process beside other
//! tests: their database gauges are exact (their own database), their counters are
//! checked as «at least what this test caused».
//!
//! Every scrape goes through [`check_labels`]: each sample belongs to a family of
//! `dokflyt::metrics::FAMILIES` and carries only that family's labels, each label
//! value is short, is no UUID and holds nothing the personal-data scanner finds
//! (national ids, phone numbers, the fixtures' names and addresses).

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::archive_standin::{Action, StandIn};
use common::scan;
use dokflyt::metrics::{Kind, FAMILIES};
use serde_json::Value;
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

/// One sample of a scrape.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` answer.
struct Scraped {
    text: String,
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

/// Parses the Prometheus text format (what the service writes: no timestamps,
/// label values with `\\`, `\"` and `\n` escapes).
fn parse(text: &str) -> Scraped {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().expect("name"), parts.next().expect("type"));
            let before = types.insert(name.to_string(), kind.to_string());
            assert!(before.is_none(), "{name} is typed twice");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => (name.to_string(), parse_labels(rest.trim_end_matches('}'))),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    Scraped {
        text: text.to_string(),
        types,
        samples,
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim_start_matches(',').trim().to_string();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "a quoted label value in {s}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
    }
    out
}

impl Scraped {
    /// The sum of the samples of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

/// The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count`).
fn family_of(sample: &str) -> &'static dokflyt::metrics::Family {
    if let Some(f) = dokflyt::metrics::family_named(sample) {
        return f;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if let Some(f) = dokflyt::metrics::family_named(base) {
                if f.kind == Kind::Histogram {
                    return f;
                }
            }
        }
    }
    panic!("{sample} is exported but is not in dokflyt::metrics::FAMILIES");
}

/// Every sample is a declared family's, with only its labels; no label value is
/// personal data, an id or free text.
fn check_labels(s: &Scraped) {
    let names = scan::fixture_names();
    let mut values = String::new();
    for sample in &s.samples {
        let f = family_of(&sample.name);
        for (k, v) in &sample.labels {
            let allowed =
                f.labels.contains(&k.as_str()) || (k == "le" && f.kind == Kind::Histogram);
            assert!(
                allowed,
                "{}: label {k} is not one of {:?}",
                sample.name, f.labels
            );
            if k == "le" {
                continue;
            }
            assert!(
                !v.is_empty() && v.chars().count() <= 40,
                "{}: label {k}={v:?} is no short code",
                sample.name
            );
            assert!(
                Uuid::parse_str(v).is_err(),
                "{}: label {k} carries an id ({v})",
                sample.name
            );
            assert!(
                !v.chars().any(|c| c.is_ascii_digit())
                    || v.chars().filter(char::is_ascii_digit).count() < 6,
                "{}: label {k}={v} looks like a number of a person",
                sample.name
            );
            values.push_str(v);
            values.push('\n');
        }
    }
    let found = scan::scan("label values", &values, &names);
    assert!(found.is_empty(), "personal data in label values: {found:?}");
    let found = scan::scan("/metrics", &s.text, &names);
    assert!(found.is_empty(), "personal data in /metrics: {found:?}");
}

async fn scrape(addr: &str) -> Scraped {
    let r = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("/metrics answers");
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let s = parse(&r.text().await.expect("body"));
    check_labels(&s);
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The real binary on a private database and prefix: two documents, a duplicate
/// and two broken messages through the broker, then a transfer through the API to
/// an archive that accepts one document and refuses the other. Every count in the
/// scrapes is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_exactly_what_happened() {
    let archive = StandIn::start(vec![Action::Normal, Action::Ugyldig], Duration::ZERO).await;
    let id = Uuid::new_v4().simple().to_string();
    let db = format!("dokflyt_test_{id}");
    let prefix = format!("dokflyt_test_{id}");
    let db_url = format!("postgres://postgres@{}/{db}", common::PG_HOST_PORT);
    let addr = format!("127.0.0.1:{}", free_port());
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOKFLYT_DATABASE_URL", &db_url)
        .env("DOKFLYT_AMQP_PREFIX", &prefix)
        .env("DOKFLYT_HTTP_ADDR", &addr)
        .env("DOKFLYT_ARCHIVE_URL", archive.url())
        .env("DOKFLYT_ARCHIVE__MAX_ATTEMPTS", "1")
        .env("DOKFLYT_ARCHIVE__CONCURRENCY", "1")
        .env("DOKFLYT_ARCHIVE_SCHEDULE", "false")
        .env("DOKFLYT_DELIVERY__ENABLED", "false")
        .env("DOKFLYT_HTTP__METRICS_REFRESH_SECS", "0")
        .env("DOKFLYT_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().expect("log"))
        .kill_on_drop(true)
        .spawn()
        .expect("dokflyt serve starts");
    let http = reqwest::Client::new();
    common::wait_until("dokflyt serve is ready", T, || async {
        matches!(http.get(format!("http://{addr}/readyz")).send().await, Ok(r) if r.status() == 200)
    })
    .await;

    let conn = dokflyt::broker::connect(common::AMQP_URL, 10)
        .await
        .expect("amqp");
    let ch = dokflyt::broker::confirm_channel(&conn)
        .await
        .expect("channel");
    let topology = dokflyt::broker::Topology::new(&prefix, 5);
    topology.declare(&ch).await.expect("topology");
    let publish = |key: String, body: Vec<u8>| {
        let (ch, topology) = (ch.clone(), topology.clone());
        async move {
            dokflyt::broker::publish_confirmed(
                &ch,
                &topology.events_exchange,
                &key,
                &body,
                vec![],
                true,
            )
            .await
            .expect("published");
        }
    };
    let a = common::flow::example("conduct_warning", Uuid::new_v4());
    let b = common::flow::example("term_grades", Uuid::new_v4());
    for e in [&a, &b] {
        let key = format!("document.{}", e["document_type"].as_str().expect("type"));
        publish(key, serde_json::to_vec(e).expect("json")).await;
    }
    let invalid = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid");
    for name in ["not_json.json", "unknown_document_type.json"] {
        let body = std::fs::read(invalid.join(name)).expect("invalid example");
        publish("document.conduct_warning".into(), body).await;
    }
    let pool = sqlx::PgPool::connect(&db_url).await.expect("pool");
    common::wait_until("both documents are committed", T, || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM documents")
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
            == 2
    })
    .await;
    // The duplicate only after the original is committed: it is then a duplicate
    // however the two are scheduled.
    publish(
        "document.conduct_warning".into(),
        serde_json::to_vec(&a).expect("json"),
    )
    .await;
    common::wait_until("all five messages are counted", T, || async {
        scrape(&addr).await.sum("dokflyt_events_total", &[]) == 5.0
    })
    .await;

    let s = scrape(&addr).await;
    let first = (s.types.clone(), s.text.clone());
    let ev = |o: &str| s.sum("dokflyt_events_total", &[("outcome", o)]);
    assert_eq!(
        (
            ev("completed"),
            ev("duplicate"),
            ev("dead_lettered"),
            ev("retry")
        ),
        (2.0, 1.0, 2.0, 0.0)
    );
    let dl = |c: &str| {
        s.sum(
            "dokflyt_dead_letters_total",
            &[("queue", "documents"), ("reason_code", c)],
        )
    };
    assert_eq!((dl("not_json"), dl("unknown_document_type")), (1.0, 1.0));
    assert_eq!(s.sum("dokflyt_dead_letters_total", &[]), 2.0);
    let runs = |stage: &str, o: &str| {
        s.sum(
            "dokflyt_stage_runs_total",
            &[("stage", stage), ("outcome", o)],
        )
    };
    assert_eq!(
        (runs("validate", "ok"), runs("validate", "error")),
        (3.0, 2.0)
    );
    for stage in ["route", "render", "deliver", "enqueue_archive"] {
        assert_eq!(
            (runs(stage, "ok"), runs(stage, "error")),
            (3.0, 0.0),
            "{stage}"
        );
    }
    assert_eq!(runs("consume", "ok"), 5.0);
    let count = |stage: &str| s.sum("dokflyt_stage_duration_seconds_count", &[("stage", stage)]);
    assert_eq!(
        (count("consume"), count("validate"), count("render")),
        (5.0, 5.0, 3.0)
    );
    assert_eq!(
        s.sum(
            "dokflyt_stage_duration_seconds_bucket",
            &[("stage", "render"), ("le", "+Inf")]
        ),
        3.0
    );
    assert!(s.sum("dokflyt_stage_duration_seconds_sum", &[("stage", "render")]) > 0.0);
    // The database gauges are the database's.
    let by_channel: Vec<(String, i64)> =
        sqlx::query_as("SELECT channel, count(*) FROM documents GROUP BY 1")
            .fetch_all(&pool)
            .await
            .expect("channels");
    for (channel, n) in &by_channel {
        assert_eq!(
            s.sum("dokflyt_documents", &[("channel", channel)]),
            *n as f64,
            "{channel}"
        );
    }
    assert_eq!(s.sum("dokflyt_documents", &[]), 2.0);
    // term_grades has a deadline (25 January and 25 June); conduct_warning has none.
    assert_eq!(
        s.sum(
            "dokflyt_archive_due_documents",
            &[("document_type", "term_grades"), ("status", "klar")]
        ),
        1.0
    );
    assert_eq!(s.sum("dokflyt_archive_due_documents", &[]), 1.0);
    let st = |status: &str| s.sum("dokflyt_archive_documents", &[("status", status)]);
    assert_eq!((st("klar"), st("arkivert"), st("feilet")), (2.0, 0.0, 0.0));
    let school = a["school"]["id"].as_str().expect("school id");
    assert!(
        s.sum(
            "dokflyt_archive_documents",
            &[("school_id", school), ("status", "klar")]
        ) >= 1.0
    );
    let queued: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(queued_at) FROM archive_queue")
            .fetch_one(&pool)
            .await
            .expect("oldest");
    assert_eq!(
        s.sum("dokflyt_archive_oldest_klar_timestamp_seconds", &[]),
        queued.timestamp() as f64
    );
    let today = dokflyt::calendar::today_in_oslo();
    let deadline = dokflyt::http::metrics::next_deadline(today);
    assert_eq!(
        s.sum("dokflyt_archive_next_deadline_days", &[]),
        (deadline - today).num_days() as f64
    );
    assert_eq!(
        s.sum("dokflyt_db_pool_max_connections", &[("pool", "main")]),
        16.0
    );
    assert!(s.sum("dokflyt_db_pool_connections", &[("pool", "main")]) >= 1.0);
    assert_eq!(s.sum("dokflyt_broker_reconnects_total", &[]), 0.0);
    assert_eq!(s.sum("dokflyt_metrics_refresh_failures_total", &[]), 0.0);

    // The transfer, as the archive staff start it: one arkivert, one feilet.
    let r = http
        .post(format!("http://{addr}/api/archive/run-now"))
        .bearer_auth(dokflyt::config::DEV_API_TOKEN)
        .header("x-dokflyt-user", "k.admin")
        .header("x-dokflyt-role", "kommuneadmin")
        .send()
        .await
        .expect("run-now");
    assert_eq!(r.status(), 200);
    let summary: Value = r.json().await.expect("summary");
    assert_eq!(
        (summary["arkivert"].as_u64(), summary["feilet"].as_u64()),
        (Some(1), Some(1))
    );

    let s = scrape(&addr).await;
    let run = |o: &str| {
        s.sum(
            "dokflyt_archive_transfer_runs_total",
            &[("kind", "run_now"), ("outcome", o)],
        )
    };
    assert_eq!(
        (run("completed"), run("stopped_for_outage"), run("failed")),
        (1.0, 0.0, 0.0)
    );
    assert_eq!(s.sum("dokflyt_archive_transfer_runs_total", &[]), 1.0);
    let docs = |st: &str| {
        s.sum(
            "dokflyt_archive_transfer_documents_total",
            &[("status", st)],
        )
    };
    assert_eq!((docs("arkivert"), docs("feilet")), (1.0, 1.0));
    assert_eq!(s.sum("dokflyt_archive_transfer_attempts_total", &[]), 2.0);
    assert_eq!(
        s.sum(
            "dokflyt_stage_duration_seconds_count",
            &[("stage", "transfer")]
        ),
        2.0
    );
    let st = |status: &str| s.sum("dokflyt_archive_documents", &[("status", status)]);
    assert_eq!((st("klar"), st("arkivert"), st("feilet")), (0.0, 1.0, 1.0));
    assert_eq!(
        s.sum(
            "dokflyt_archive_failed_documents",
            &[("error_class", "ugyldigforespoersel")]
        ),
        1.0
    );
    assert!(
        !s.has("dokflyt_archive_oldest_klar_timestamp_seconds"),
        "nothing is klar"
    );
    // The failed document's type counts toward its deadline only if it has one.
    let failed_type: String =
        sqlx::query_scalar("SELECT document_type FROM archive_queue WHERE status = 'feilet'")
            .fetch_one(&pool)
            .await
            .expect("type");
    let due = dokflyt::archive::deadlines::DUE
        .iter()
        .any(|d| d.0 == failed_type);
    assert_eq!(
        s.sum(
            "dokflyt_archive_due_documents",
            &[("document_type", &failed_type), ("status", "feilet")]
        ),
        if due { 1.0 } else { 0.0 }
    );

    // Every family is in one of the two scrapes (a gauge with labels has no
    // series while nothing matches it: `feilet` before the transfer), but the
    // scheduler's next window (the scheduler is off) and the SMS ledger's gauges
    // (no SMS was booked here; see the SMS test).
    let absent_by_design = [
        "dokflyt_archive_next_window_timestamp_seconds",
        "dokflyt_sms_booked_segments",
        "dokflyt_sms_booked_cost_nok",
    ];
    for f in FAMILIES {
        let typed = first.0.get(f.name).or_else(|| s.types.get(f.name));
        if absent_by_design.contains(&f.name) {
            assert!(typed.is_none(), "{} is there", f.name);
            continue;
        }
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(typed.map(String::as_str), Some(kind), "{}", f.name);
        let help = format!("# HELP {} ", f.name);
        assert!(
            first.1.contains(&help) || s.text.contains(&help),
            "{} has no help",
            f.name
        );
    }
    assert_eq!(
        first
            .0
            .get("dokflyt_archive_due_documents")
            .map(String::as_str),
        Some("gauge"),
        "term_grades is klar before its deadline"
    );

    // Nothing the binary logged is personal data either.
    let logged = std::fs::read_to_string(log.path()).expect("log");
    let found = scan::scan("dokflyt serve's log", &logged, &scan::fixture_names());
    assert!(found.is_empty(), "{found:?}");

    let _ = child.start_kill();
    let _ = child.wait().await;
    pool.close().await;
    topology.remove(&ch).await;
    let _ = conn.close(200, "test done".into()).await;
    common::drop_database(&db).await;
}

/// An emergency SMS to a small school, sent through the gateway stand-in and
/// reported delivered: the ledger's gauges are exactly the booked parts and cost;
/// the recipients' counters grew by at least the numbers sent (other tests of
/// this process may send too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_segments_cost_and_outcomes() {
    use common::sms_gateway::*;
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.http.metrics_refresh_secs = 0).await;
    let addr = app.http.to_string();
    let before = scrape(&addr).await;
    let school = generate_school("s-metrikk", "4699", 6, 8, 2);
    load_roster(&app.pool, &school.events).await;
    let c = common::person::ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let text = "Skolen er stengt i dag. Hilsen rektor";
    let (code, preview) = c.preview("s-metrikk", "rektor-1", "rektor", text).await;
    assert_eq!(code, 200, "{preview}");
    let proof = c.assertion("rektor-1", "rektor", &["s-metrikk"], "idporten-loa-high");
    let (code, sent) = c.send("s-metrikk", &preview["token"], &proof).await;
    assert_eq!(code, 202, "{sent}");
    let numbers = school.expected_numbers.len();
    app.wait_until("every number is sent", T, || async {
        app.count("SELECT count(*) FROM sms_recipients WHERE status IN ('queued','sending')")
            .await
            == 0
            && gw.received().len() >= numbers
    })
    .await;
    gw.report_all_delivered(app.http, DLR_TOKEN).await;

    let s = scrape(&addr).await;
    let (segments, ore): (i64, i64) = sqlx::query_as(
        "SELECT sum(sms_count)::bigint, sum(cost_ore)::bigint FROM sms_cost_ledger WHERE school_id = 's-metrikk'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("ledger");
    assert_eq!(segments, numbers as i64, "one part per number");
    assert_eq!(
        s.sum("dokflyt_sms_booked_segments", &[("school_id", "s-metrikk")]),
        segments as f64
    );
    assert_eq!(
        s.sum("dokflyt_sms_booked_cost_nok", &[("school_id", "s-metrikk")]),
        ore as f64 / 100.0
    );
    let grew = |st: &str| {
        s.sum("dokflyt_sms_recipients_total", &[("status", st)])
            - before.sum("dokflyt_sms_recipients_total", &[("status", st)])
    };
    assert!(
        grew("sent") >= numbers as f64,
        "sent grew by {}",
        grew("sent")
    );
    assert!(
        grew("delivered") >= numbers as f64,
        "delivered grew by {}",
        grew("delivered")
    );
    app.stop_and_clean().await;
}

/// Two SvarUt letters sent and their statuses polled to LEST: the deliveries'
/// and SvarUt statuses' counters grew by at least that much.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svarut_deliveries_and_statuses() {
    use common::svarut::*;
    let s = SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("stand-in");
    let app = spawn_delivery_app(|st| st.delivery.svarut = s.client_settings()).await;
    let addr = app.http.to_string();
    let ch = channels(&app);
    let before = scrape(&addr).await;
    let mut ev = common::conduct_warning(Uuid::new_v4());
    // The second guardian has a protected address but a digital mailbox: both are sent.
    ev["recipients"][1]["digital_mail"] = serde_json::json!(true);
    publish_and_commit(&app, &ev).await;
    let sum = ch
        .run_once(dokflyt::document::Channel::Svarut)
        .await
        .expect("dispatch");
    assert_eq!(sum.sent, 2, "{sum:?}");
    for _ in 0..6 {
        ch.poll_svarut_now().await.expect("poll");
    }
    let after = scrape(&addr).await;
    let grew =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    assert!(
        grew(
            "dokflyt_deliveries_total",
            &[("channel", "svarut"), ("outcome", "sent")]
        ) >= 2.0
    );
    assert!(grew("dokflyt_svarut_statuses_total", &[("status", "LEST")]) >= 2.0);
    assert!(grew("dokflyt_stage_duration_seconds_count", &[("stage", "send")]) >= 2.0);
    app.stop_and_clean().await;
}

/// The metric names and label names one PromQL expression uses: each
/// `dokflyt_…` name with the labels of its `{…}` selector, and the labels of
/// every `by (…)`.
fn promql_names(expr: &str) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut metrics = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("dokflyt_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut labels = Vec::new();
        if let Some(sel) = tail[end..].strip_prefix('{') {
            let body = &sel[..sel.find('}').expect("a closed selector")];
            for m in body.split(',') {
                let key = m.split(['=', '!']).next().unwrap_or("").trim().to_string();
                labels.push(key);
            }
        }
        metrics.push((name, labels));
        rest = &tail[end..];
    }
    let mut by = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("by (") {
        let body = &rest[at + 4..];
        let close = body.find(')').expect("by (…) closes");
        by.extend(body[..close].split(',').map(|l| l.trim().to_string()));
        rest = &body[close..];
    }
    (metrics, by)
}

/// `docs/grafana-dashboard.json` parses, every panel has a bokmål title and its
/// queries use the data source variable, and every metric and label it asks for
/// is one the service exports (`FAMILIES`, which the scrape test checks are
/// exported). It answers the archive officer's three questions.
#[test]
fn the_grafana_dashboard_asks_only_for_what_is_exported() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard"))
        .expect("the dashboard is JSON");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = d["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    for p in panels {
        assert!(
            p["title"].as_str().is_some_and(|t| !t.is_empty()),
            "a panel without a title: {p}"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert!(t["refId"].as_str().is_some(), "{}", p["title"]);
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    for expr in &exprs {
        let (metrics, by) = promql_names(expr);
        assert!(!metrics.is_empty(), "{expr} asks for no dokflyt metric");
        let mut allowed: Vec<&str> = Vec::new();
        for (name, labels) in &metrics {
            let f = family_of(name);
            for l in labels {
                assert!(
                    f.labels.contains(&l.as_str()),
                    "{expr}: {name} has no label {l}"
                );
            }
            allowed.extend(f.labels);
            if f.kind == Kind::Histogram {
                allowed.push("le");
            }
        }
        for l in by {
            assert!(
                allowed.contains(&l.as_str()),
                "{expr}: by ({l}) is no label of its metrics"
            );
        }
    }
    let all = exprs.join("\n");
    for needed in [
        "dokflyt_archive_failed_documents",
        "dokflyt_archive_documents{status=\"feilet\"}",
        "dokflyt_archive_documents{status=\"klar\"}",
        "dokflyt_archive_next_window_timestamp_seconds",
        "dokflyt_archive_oldest_klar_timestamp_seconds",
        "dokflyt_archive_next_deadline_days",
        "dokflyt_archive_due_documents",
    ] {
        assert!(all.contains(needed), "the dashboard does not show {needed}");
    }
}
