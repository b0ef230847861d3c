//! Delivery test harness: the SvarUt v2 stand-in (a real axum HTTP server, from
//! `dokflyt_dev::standins` so the demo uses the same one), a real SMTP server (Debian's aiosmtpd,
//! writing a Maildir), and a dokflyt whose delivery settings the test chooses.
//!
//! The app is spawned with its channel workers off unless the test turns them on;
//! tests then drive one dispatch round or one status poll at a time through
//! [`Channels`], so every step is deterministic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dokflyt::channels::Channels;
use dokflyt::App;
use dokflyt::{Secret, Settings};
use serde_json::Value;
use uuid::Uuid;

#[allow(unused_imports)]
pub use dokflyt_dev::standins::svarut::{Fault, StandInAuth, SvarUtStandIn};

use super::{TestApp, AMQP_URL, PG_HOST_PORT};

/// A dokflyt on the real broker and database with `configure` applied to its settings.
pub async fn spawn_delivery_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    super::init_test_logging();
    let id = Uuid::new_v4().simple().to_string();
    let database = format!("dokflyt_test_{id}");
    let mut settings = Settings::default();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.paths.rules_dir = manifest.join("routing-rules");
    settings.paths.templates_dir = manifest.join("templates");
    settings.paths.examples_dir = manifest.join("examples/events");
    settings.amqp.prefix = format!("dokflyt_test_{id}");
    settings.amqp.heartbeat_secs = 5;
    settings.database.url = Secret::new(format!("postgres://postgres@{PG_HOST_PORT}/{database}"));
    settings.database.acquire_timeout_ms = 2_000;
    settings.http.addr = "127.0.0.1:0".into();
    settings.delivery.enabled = false;
    settings.delivery.email.enabled = false;
    settings.delivery.concurrency = 1;
    settings.delivery.backoff_initial_ms = 10;
    settings.delivery.backoff_max_ms = 20;
    configure(&mut settings);

    let app = App::build(settings.clone()).await.expect("the app builds");
    super::start(app, settings, database, false).await
}

/// The channel senders of `app`, built from its settings (same database, broker, prefix).
pub fn channels(app: &TestApp) -> Channels {
    Channels::build(
        app.pool.clone(),
        &app.settings.delivery,
        Secret::new(AMQP_URL),
        5,
        &app.settings.amqp.prefix,
    )
    .expect("channels build")
}

/// Publishes `event` and waits until the pipeline committed its document.
pub async fn publish_and_commit(app: &TestApp, event: &Value) -> Uuid {
    let id: Uuid = event["event_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("event id");
    app.publish(event).await;
    app.wait_until(
        "the document is committed",
        Duration::from_secs(30),
        || async {
            app.count(&format!(
                "SELECT count(*) FROM documents WHERE event_id = '{id}'"
            ))
            .await
                == 1
        },
    )
    .await;
    id
}

/// Declares the outbound exchange and a queue bound to `binding` on it.
pub async fn bind_outbound(app: &TestApp, binding: &str) -> String {
    let exchange = dokflyt::channels::outbound::exchange_name(&app.settings.amqp.prefix);
    dokflyt::channels::outbound::Outbound::declare(&app.channel, &exchange)
        .await
        .expect("declare outbound");
    let queue = format!(
        "{}.test.{}",
        app.settings.amqp.prefix,
        Uuid::new_v4().simple()
    );
    app.channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                auto_delete: false,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("queue");
    app.channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            binding.into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("bind");
    queue
}

/// Takes every message of `queue`: (routing key, body).
pub async fn drain(app: &TestApp, queue: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while let Some(m) = app
        .channel
        .basic_get(
            queue.into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
    {
        let body = serde_json::from_slice(&m.delivery.data).expect("json body");
        out.push((m.delivery.routing_key.to_string(), body));
    }
    out
}

/// A real SMTP server: `python3 -m aiosmtpd` writing every message to a Maildir.
pub struct Smtp {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Smtp {
    pub async fn start() -> Smtp {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("mail");
        let mut child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts (apt-get install python3-aiosmtpd)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Smtp { port, dir, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {port}");
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every received message parsed by Python's email package (a real MIME parser):
    /// subject (decoded), from, reply_to, to, message_id, content_type, text,
    /// attachments [{filename, content_type, size}].
    pub fn messages(&self) -> Vec<Value> {
        let script = r#"
import email, email.policy, json, mailbox, sys
out = []
for key, m in mailbox.Maildir(sys.argv[1], factory=None, create=False).iteritems():
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    text = ''
    atts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            atts.append({'filename': part.get_filename(), 'content_type': part.get_content_type(), 'size': len(part.get_payload(decode=True))})
        elif part.get_content_type() == 'text/plain':
            text += part.get_content()
    out.append({'subject': str(msg['subject']), 'raw_subject': msg.get('subject').__class__.__name__,
                'from': str(msg['from']), 'reply_to': str(msg['reply-to']) if msg['reply-to'] else None,
                'to': str(msg['to']), 'message_id': str(msg['message-id']),
                'content_type': msg.get_content_type(), 'text': text, 'attachments': atts})
print(json.dumps(out))
"#;
        if !self.maildir().join("new").exists() {
            return Vec::new();
        }
        let o = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(self.maildir())
            .output()
            .expect("python3 parses the maildir");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("json")
    }

    /// Raw bytes of every message (to check the wire encoding).
    pub fn raw(&self) -> Vec<Vec<u8>> {
        let new = self.maildir().join("new");
        let Ok(rd) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
