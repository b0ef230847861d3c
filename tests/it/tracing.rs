//! Traces (issue 20, item 3): spans per event from consume to the archive
//! transfer, request ids on HTTP, OTLP export, JSON log lines that carry the
//! spans' fields.
//!
//! The real binary runs against a collector stand-in started here: an HTTP
//! server taking `POST /v1/traces` and decoding the OTLP protobuf
//! (opentelemetry-proto). `dokflyt serve` (with the SvarUt stand-in for its
//! letters) processes an example event published by `dokflyt publish`, then
//! `dokflyt archive run-now` transfers it to the archive stand-in; `serve` is
//! stopped with SIGTERM, so its last spans arrive only if the exporter is
//! flushed at process end. The test then finds the spans of that event, their
//! fields, and no personal data in any attribute (the scanner of
//! `common::scan`).

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use dokflyt_dev::standins::svarut::{StandInAuth, SvarUtStandIn};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use serde_json::Value;
use uuid::Uuid;

use crate::common::archive_standin::StandIn;
use crate::common::{flow, scan, PG_HOST_PORT};

/// One received span: name, trace and span ids, parent, attributes as text.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    services: Arc<Mutex<BTreeSet<String>>>,
    bodies: Arc<Mutex<usize>>,
}

fn text(v: &Option<Any>) -> String {
    match v {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

async fn traces(State(c): State<Collector>, body: Bytes) -> StatusCode {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    *c.bodies.lock().expect("lock") += 1;
    for rs in req.resource_spans {
        for a in rs.resource.iter().flat_map(|r| &r.attributes) {
            if a.key == "service.name" {
                let v = text(&a.value.as_ref().and_then(|v| v.value.clone()));
                c.services.lock().expect("lock").insert(v);
            }
        }
        for ss in rs.scope_spans {
            for s in ss.spans {
                let attributes = s
                    .attributes
                    .iter()
                    .map(|a| {
                        (
                            a.key.clone(),
                            text(&a.value.as_ref().and_then(|v| v.value.clone())),
                        )
                    })
                    .collect();
                c.spans.lock().expect("lock").push(Span {
                    name: s.name,
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    parent: s.parent_span_id,
                    attributes,
                });
            }
        }
    }
    StatusCode::OK
}

impl Collector {
    async fn start() -> (Collector, std::net::SocketAddr) {
        let c = Collector::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(traces))
            .with_state(c.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (c, addr)
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("lock").clone()
    }

    fn named(&self, name: &str, event_id: &str) -> Vec<Span> {
        self.spans()
            .into_iter()
            .filter(|s| {
                s.name == name && s.attributes.get("event_id").map(String::as_str) == Some(event_id)
            })
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// The environment of every `dokflyt` process of the test.
fn env(
    id: &str,
    collector: std::net::SocketAddr,
    svarut: &SvarUtStandIn,
    archive: &StandIn,
    http: u16,
) -> Vec<(String, String)> {
    let s = svarut.client_settings();
    [
        (
            "DOKFLYT_DATABASE_URL",
            format!("postgres://postgres@{PG_HOST_PORT}/dokflyt_test_{id}"),
        ),
        ("DOKFLYT_AMQP_PREFIX", format!("dokflyt_test_{id}")),
        ("DOKFLYT_HTTP_ADDR", format!("127.0.0.1:{http}")),
        (
            "DOKFLYT_TRACING__OTLP_ENDPOINT",
            format!("http://{collector}"),
        ),
        ("DOKFLYT_TRACING__SERVICE_NAME", "dokflyt-test".into()),
        ("DOKFLYT_LOG_FORMAT", "json".into()),
        ("DOKFLYT_LOG", "warn,dokflyt=debug".into()),
        ("DOKFLYT_ARCHIVE__SCHEDULE__ENABLED", "false".into()),
        ("DOKFLYT_ARCHIVE_URL", archive.url()),
        ("DOKFLYT_DELIVERY__SVARUT__BASE_URL", s.base_url.clone()),
        ("DOKFLYT_DELIVERY__SVARUT__KONTO_ID", s.konto_id.clone()),
        (
            "DOKFLYT_DELIVERY__SVARUT__MASKINPORTEN_TOKEN",
            s.maskinporten_token.expose().to_string(),
        ),
        (
            "DOKFLYT_DELIVERY__SVARUT__INTEGRASJON_ID",
            s.integrasjon_id.clone(),
        ),
        (
            "DOKFLYT_DELIVERY__SVARUT__INTEGRASJON_PASSORD",
            s.integrasjon_passord.expose().to_string(),
        ),
        (
            "DOKFLYT_DELIVERY__SVARUT__ENCRYPTION_CERTIFICATE",
            "dev/keys/svarut-demo-cert.pem".into(),
        ),
        ("DOKFLYT_DELIVERY__SVARUT__POLL_INTERVAL_SECS", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn dokflyt(env: &[(String, String)]) -> Command {
    let mut c = Command::new(crate::common::dokflyt_bin());
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DOKFLYT_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// Polls `cond` every 100 ms until it holds or `limit` passes (then panics).
async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_traced_from_consume_to_the_archive_and_exported_over_otlp() {
    let (collector, collector_addr) = Collector::start().await;
    let svarut = SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("svarut");
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let id = Uuid::new_v4().simple().to_string();
    let http = free_port();
    let env = env(&id, collector_addr, &svarut, &archive, http);

    let mut serve = Serve(
        dokflyt(&env)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dokflyt serve"),
    );
    crate::common::init_test_logging();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{http}/readyz");
    let start = Instant::now();
    loop {
        if client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(
            serve.0.try_wait().expect("wait").is_none(),
            "dokflyt serve exited before it was ready"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "serve not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A request id from the caller comes back and is on the request's span; a
    // malformed one is replaced by a new one.
    let request_id = format!("trace-test-{id}");
    let r = client
        .get(format!("http://127.0.0.1:{http}/healthz"))
        .header("x-request-id", &request_id)
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.headers()["x-request-id"], request_id.as_str());
    let r = client
        .get(format!("http://127.0.0.1:{http}/healthz"))
        .header("x-request-id", "ikke gyldig <id>")
        .send()
        .await
        .expect("healthz");
    let generated = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(Uuid::parse_str(&generated).is_ok(), "{generated}");

    // The event, published by the staff command.
    let event_id = Uuid::new_v4();
    let event = flow::example("conduct_warning", event_id);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_vec(&event).expect("json")).expect("write");
    let out = dokflyt(&env)
        .arg("publish")
        .arg(&file)
        .output()
        .expect("publish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Delivered to SvarUt by the running service.
    wait_until("the letter at SvarUt", Duration::from_secs(60), || {
        !svarut.received().is_empty()
    })
    .await;

    // Archived by `dokflyt archive run-now` (its own process, its own exporter).
    let out = dokflyt(&env)
        .args(["archive", "run-now"])
        .output()
        .expect("archive run-now");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(archive.with(|a| a.created.len()), 1);
    let eid = event_id.to_string();
    // run-now flushed its spans before it exited.
    assert_eq!(collector.named("archive_transfer", &eid).len(), 1);

    // SIGTERM: serve stops gracefully and flushes what its exporter still holds.
    let pid = serve.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = serve.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "serve exited with {status}");
    let mut logs = String::new();
    if let Some(mut e) = serve.0.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut logs);
    }

    // The event's span and its stages, in one trace.
    let events = collector.named("event", &eid);
    assert_eq!(events.len(), 1, "{:#?}", collector.spans());
    let ev = &events[0];
    assert_eq!(ev.attributes["document_type"], "conduct_warning");
    assert_eq!(ev.attributes["outcome"], "completed");
    let all = collector.spans();
    for stage in ["validate", "route", "render", "plan", "commit"] {
        assert!(
            all.iter()
                .any(|s| s.name == stage && s.trace_id == ev.trace_id && s.parent == ev.span_id),
            "no {stage} span under the event's"
        );
    }
    let consume: Vec<&Span> = all
        .iter()
        .filter(|s| s.name == "consume" && s.span_id == ev.parent)
        .collect();
    assert_eq!(
        consume.len(),
        1,
        "the event's span is under the consume span"
    );
    assert_eq!(consume[0].attributes["event_id"], eid);
    let route = all
        .iter()
        .find(|s| s.name == "route" && s.parent == ev.span_id)
        .expect("route");
    assert_eq!(route.attributes["channel"], "svarut");

    // Delivery and transfer: their own spans with the event's id and type.
    let deliver = collector.named("deliver", &eid);
    assert!(!deliver.is_empty(), "no deliver span");
    assert!(deliver
        .iter()
        .all(|d| d.attributes["document_type"] == "conduct_warning"
            && d.attributes["channel"] == "svarut"));
    let transfer = &collector.named("archive_transfer", &eid)[0];
    assert_eq!(transfer.attributes["document_type"], "conduct_warning");
    assert!(all
        .iter()
        .any(|s| s.name == "archive_run" && s.span_id == transfer.parent));

    // The HTTP request's span carries its id and route, not its path.
    let req = all
        .iter()
        .find(|s| s.name == "http_request" && s.attributes.get("request_id") == Some(&request_id))
        .expect("the request's span");
    assert_eq!(req.attributes["route"], "/healthz");
    assert_eq!(req.attributes["status"], "200");
    assert_eq!(req.attributes["method"], "GET");
    assert!(all
        .iter()
        .any(|s| s.name == "http_request" && s.attributes.get("request_id") == Some(&generated)));
    assert_eq!(
        collector
            .services
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["dokflyt-test".to_string()]
    );

    // No attribute of any span carries personal data.
    let mut names = scan::fixture_names();
    scan::personal_strings(&event, &mut names);
    let mut attribute_text = String::new();
    for s in &all {
        for (k, v) in &s.attributes {
            // The exporter's own timings (nanoseconds a span was busy or idle) are
            // not from the event, and an 8-digit one reads like a mobile number.
            if k == "busy_ns" || k == "idle_ns" {
                continue;
            }
            attribute_text.push_str(&format!("{} {k}={v}\n", s.name));
        }
    }
    let found = scan::scan("span attributes", &attribute_text, &names);
    assert!(found.is_empty(), "{found:#?}");

    // JSON log lines logged inside the spans carry their fields.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "JSON log lines: {logs}");
    let with_event = lines.iter().filter(|l| {
        l["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["event_id"] == eid.as_str()))
    });
    assert!(
        with_event.count() > 0,
        "no log line carries the event's id: {logs}"
    );
    let found = scan::scan("serve's logs", &logs, &names);
    assert!(found.is_empty(), "{found:#?}");

    // The broker's queues and the database of this test.
    let topology = dokflyt::broker::Topology::new(&format!("dokflyt_test_{id}"), 5);
    if let Ok(conn) = dokflyt::broker::connect(crate::common::AMQP_URL, 10).await {
        if let Ok(ch) = conn.create_channel().await {
            topology.remove(&ch).await;
        }
        let _ = conn.close(200, "done".into()).await;
    }
    crate::common::drop_database(&format!("dokflyt_test_{id}")).await;
}
