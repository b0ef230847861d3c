//! Broker accounts on the real RabbitMQ (issue 16, item 3): `dokflyt broker
//! permissions --apply` creates a producer user that can publish to
//! `{prefix}.events` and nothing else (no consume, no declare, no other
//! exchange), and a worker user that can run the topology; `guest` is refused at
//! start unless the broker is on loopback.
//!
//! Needs `rabbitmqctl` with the right to manage users (root on the broker host, as
//! in CI). The users get names unique to the run and are deleted afterwards.

use crate::common;

use std::time::Duration;

use dokflyt::broker::{self, Topology};
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};

/// Deletes the run's users whatever happens to the test.
struct Users(Vec<String>);

impl Drop for Users {
    fn drop(&mut self) {
        for u in &self.0 {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_user", u])
                .output();
        }
    }
}

fn is_access_refused<T: std::fmt::Debug>(r: Result<T, lapin::Error>) -> bool {
    match r {
        Ok(v) => panic!("expected ACCESS_REFUSED, got Ok({v:?})"),
        Err(e) => {
            let text = format!("{e:?}");
            text.contains("ACCESS_REFUSED") || text.contains("AccessRefused")
        }
    }
}

async fn connect_as(user: &str, password: &str) -> Connection {
    Connection::connect(
        &format!("amqp://{user}:{password}@127.0.0.1:5672/%2f"),
        ConnectionProperties::default(),
    )
    .await
    .expect("the user can connect")
}

fn dokflyt(args: &[&str], prefix: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOKFLYT_AMQP_PREFIX", prefix)
        .env_remove("DOKFLYT_CONFIG")
        .output()
        .expect("dokflyt runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_can_only_publish_events_and_the_worker_runs_the_topology() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("dokflyt_test_{id}");
    let producer = format!("dokflyt-test-producer-{}", &id[..12]);
    let worker = format!("dokflyt-test-worker-{}", &id[..12]);
    let _cleanup = Users(vec![producer.clone(), worker.clone()]);

    // Printed: the exact commands.
    let printed = dokflyt(
        &[
            "broker",
            "permissions",
            "--producer-user",
            &producer,
            "--worker-user",
            &worker,
        ],
        &prefix,
    );
    assert!(printed.status.success(), "{printed:?}");
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains(&format!(
            "rabbitmqctl set_permissions -p '/' {producer} '^$' '^{prefix}\\.events$' '^$'"
        )),
        "{text}"
    );

    // Applied: the users are created, their passwords shown once.
    let applied = dokflyt(
        &[
            "broker",
            "permissions",
            "--producer-user",
            &producer,
            "--worker-user",
            &worker,
            "--apply",
        ],
        &prefix,
    );
    assert!(applied.status.success(), "{applied:?}");
    let out = String::from_utf8_lossy(&applied.stdout).to_string();
    let password = |user: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("user created: {user} password: ")))
            .unwrap_or_else(|| panic!("no password for {user} in {out}"))
            .to_string()
    };
    let (producer_pw, worker_pw) = (password(&producer), password(&worker));

    // The worker user declares the whole topology and can consume.
    let topology = Topology::new(&prefix, 5);
    let worker_conn = connect_as(&worker, &worker_pw).await;
    let wch = worker_conn.create_channel().await.expect("channel");
    topology.declare(&wch).await.expect("the worker declares");
    topology
        .declare_roster_and_sms(&wch)
        .await
        .expect("the worker declares the roster and SMS queues");
    wch.basic_consume(
        topology.documents_queue.as_str().into(),
        "probe".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("the worker consumes");
    // ... and publishes the SMS fan-out through the default exchange.
    let wconfirm = broker::confirm_channel(&worker_conn)
        .await
        .expect("confirm");
    broker::publish_confirmed(&wconfirm, "", &topology.sms_queue, b"[]", vec![], true)
        .await
        .expect("the worker publishes to its SMS queue");
    wch.close(200, "done".into()).await.expect("close");

    let prod = connect_as(&producer, &producer_pw).await;

    // It can publish an event to the events exchange; the event reaches the queue.
    let ch = broker::confirm_channel(&prod)
        .await
        .expect("confirm channel");
    broker::publish_confirmed(
        &ch,
        &topology.events_exchange,
        "document.emergency_sms",
        b"{}",
        vec![],
        true,
    )
    .await
    .expect("the producer publishes an event");

    // It cannot consume (get or subscribe) from any queue.
    let ch = prod.create_channel().await.expect("channel");
    assert!(is_access_refused(
        ch.basic_get(
            topology.documents_queue.as_str().into(),
            BasicGetOptions::default()
        )
        .await
    ));
    let ch = prod.create_channel().await.expect("channel");
    assert!(is_access_refused(
        ch.basic_consume(
            topology.dead_letter_queue.as_str().into(),
            "x".into(),
            BasicConsumeOptions::default(),
            FieldTable::default()
        )
        .await
    ));

    // It cannot declare a queue or an exchange, not even under the prefix.
    let ch = prod.create_channel().await.expect("channel");
    assert!(is_access_refused(
        ch.queue_declare(
            format!("{prefix}.mine").into(),
            QueueDeclareOptions::default(),
            FieldTable::default()
        )
        .await
    ));
    let ch = prod.create_channel().await.expect("channel");
    assert!(is_access_refused(
        ch.exchange_declare(
            format!("{prefix}.mine").into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default()
        )
        .await
    ));

    // It cannot publish anywhere else: the dead-letter exchange, the default
    // exchange (straight into a queue), another prefix's events exchange.
    for (exchange, key) in [
        (
            topology.dead_letter_exchange.clone(),
            "document.x".to_string(),
        ),
        (String::new(), topology.sms_queue.clone()),
        ("amq.topic".to_string(), "document.x".to_string()),
    ] {
        let ch = broker::confirm_channel(&prod)
            .await
            .expect("confirm channel");
        let r = broker::publish_confirmed(&ch, &exchange, &key, b"{}", vec![], false).await;
        let text = format!("{r:?}");
        assert!(
            r.is_err() && text.contains("ACCESS_REFUSED"),
            "publish to `{exchange}` must be refused: {text}"
        );
    }

    // Exactly the one event arrived (the refused publishes left nothing).
    let guest = Connection::connect(common::AMQP_URL, ConnectionProperties::default())
        .await
        .expect("guest on loopback");
    let gch = guest.create_channel().await.expect("channel");
    // The one accepted publish was confirmed, so it is in the queue: wait for the
    // first get to see it, then count everything there is.
    let get = || async {
        gch.basic_get(
            topology.documents_queue.as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("get")
        .is_some()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !get().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the accepted event never reached the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = 1;
    while get().await {
        got += 1;
    }
    assert_eq!(got, 1);
    topology.remove(&gch).await;
    let _ = prod.close(200, "done".into()).await;
    let _ = worker_conn.close(200, "done".into()).await;
    let _ = guest.close(200, "done".into()).await;
}

/// `guest` outside loopback: `dokflyt serve` refuses to start and says why;
/// `dokflyt publish` refuses to connect.
#[test]
fn guest_is_refused_unless_the_broker_is_on_loopback() {
    for url in [
        "amqp://guest:guest@192.0.2.10:5672/%2f",
        "amqp://mq.kommune.example:5672/%2f",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(["serve"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("DOKFLYT_CONFIG")
            .env("DOKFLYT_AMQP_URL", url)
            .env(
                "DOKFLYT_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/dokflyt_never_created",
            )
            .env("DOKFLYT_HTTP_ADDR", "127.0.0.1:0")
            .output()
            .expect("dokflyt runs");
        assert!(!out.status.success(), "{url}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("`guest`") && err.contains("loopback"),
            "{url}: {err}"
        );
        assert!(!err.contains("guest:guest"), "the password is not echoed");
    }
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events/emergency_sms.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .arg("publish")
        .arg(&example)
        .env_remove("DOKFLYT_CONFIG")
        .env("DOKFLYT_AMQP_URL", "amqp://guest:guest@192.0.2.10:5672/%2f")
        .output()
        .expect("dokflyt runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
