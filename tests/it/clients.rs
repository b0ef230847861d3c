//! Registered API clients end to end: `dokflyt clients add|list|rotate|revoke`
//! through the CLI's own functions and over HTTP, the development token's start
//! rule, the bounds a client puts on the acting user, and the API's rate limits.

use crate::common;

use std::time::Duration;

use clap::Parser;
use common::{client, register, spawn_app, spawn_app_with, Spawn, TestApp};
use dokflyt::cli::{Cli, Command};
use dokflyt::config::{Settings, DEV_API_TOKEN};
use serde_json::Value;

/// Runs `dokflyt <args>` (a `clients` subcommand) against the app's database.
async fn cli(app: &TestApp, overlap: Duration, args: &[&str]) -> (u8, String) {
    let mut argv = vec!["dokflyt"];
    argv.extend_from_slice(args);
    let parsed = Cli::try_parse_from(argv).expect("the arguments parse");
    let Command::Clients(cmd) = parsed.command else {
        panic!("not a clients command");
    };
    let mut out = Vec::new();
    let code = dokflyt::cli::clients::run(&app.pool, overlap, cmd, &mut out)
        .await
        .expect("runs");
    (code.number(), String::from_utf8(out).expect("utf-8"))
}

async fn status_with(app: &TestApp, secret: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{}/api/status", app.http))
        .bearer_auth(secret)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_rotate_revoke_through_the_cli_and_over_http() {
    let app = spawn_app().await;
    let day = Duration::from_secs(24 * 3600);
    let (code, out) = cli(
        &app,
        day,
        &[
            "clients",
            "add",
            "skolesystem",
            "--municipality",
            "4699",
            "--schools",
            "fjellvik-ungdomsskole,fjellvik-barneskole",
            "--scope",
            "status:read",
            "--scope",
            "archive:read",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let secret = out
        .lines()
        .next()
        .expect("the secret first")
        .trim()
        .to_string();
    assert!(secret.starts_with("dfk_"));
    // Only the hash is stored.
    let stored: i64 = app
        .count(&format!(
            "SELECT count(*) FROM api_client_secrets WHERE secret_sha256 = decode('{}', 'hex')",
            hex::encode(dokflyt::clients::secret_hash(&secret))
        ))
        .await;
    assert_eq!(stored, 1);
    assert_eq!(status_with(&app, &secret).await, 200);

    let (code, listed) = cli(&app, day, &["clients", "list"]).await;
    assert_eq!(code, 0);
    let line = listed
        .lines()
        .find(|l| l.starts_with("skolesystem\t"))
        .expect("listed");
    assert!(line.contains("4699") && line.contains("archive:read status:read"));
    assert!(line.contains("fjellvik-barneskole,fjellvik-ungdomsskole"));
    assert!(!listed.contains(&secret), "list never shows a secret");

    // A bad registration is refused with a reason.
    let (code, _) = cli(
        &app,
        day,
        &[
            "clients",
            "add",
            "x",
            "--municipality",
            "46",
            "--all-schools",
            "--scope",
            "admin",
        ],
    )
    .await;
    assert_eq!(code, 2);
    let (code, _) = cli(
        &app,
        day,
        &[
            "clients",
            "add",
            "y",
            "--municipality",
            "4699",
            "--all-schools",
            "--scope",
            "root",
        ],
    )
    .await;
    assert_eq!(code, 2);
    let (code, _) = cli(
        &app,
        day,
        &[
            "clients",
            "add",
            "skolesystem",
            "--municipality",
            "4699",
            "--all-schools",
            "--scope",
            "admin",
        ],
    )
    .await;
    assert_eq!(code, 2, "names are unique");

    // Rotation: the new secret works, the old one too during the overlap.
    let (code, out) = cli(&app, day, &["clients", "rotate", "skolesystem"]).await;
    assert_eq!(code, 0);
    let new = out.lines().next().expect("secret").trim().to_string();
    assert_ne!(new, secret);
    assert_eq!(status_with(&app, &new).await, 200);
    assert_eq!(
        status_with(&app, &secret).await,
        200,
        "the old secret in its overlap"
    );
    // A rotation with no overlap ends the previous secrets at once.
    let (code, out) = cli(&app, Duration::ZERO, &["clients", "rotate", "skolesystem"]).await;
    assert_eq!(code, 0);
    let newest = out.lines().next().expect("secret").trim().to_string();
    assert_eq!(status_with(&app, &newest).await, 200);
    assert_eq!(status_with(&app, &new).await, 401, "past its overlap");
    assert_eq!(status_with(&app, &secret).await, 401);

    // Revocation counts from the very next request.
    assert_eq!(status_with(&app, &newest).await, 200);
    let (code, _) = cli(&app, day, &["clients", "revoke", "skolesystem"]).await;
    assert_eq!(code, 0);
    assert_eq!(status_with(&app, &newest).await, 401);
    let (code, listed) = cli(&app, day, &["clients", "list", "--json"]).await;
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&listed).expect("json");
    let me = list
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["client"]["name"] == "skolesystem")
        .expect("listed");
    assert!(me["revoked_at"].is_string());
    assert_eq!(me["live_secrets"], 0);
    let (code, _) = cli(&app, day, &["clients", "rotate", "skolesystem"]).await;
    assert_eq!(code, 2, "a revoked client gets no new secret");
    // Every refusal above is in the audit log.
    let refused = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'api.authenticate' AND outcome = 'refused'")
        .await;
    assert_eq!(refused, 3);
    app.stop_and_clean().await;
}

async fn actor_call(app: &TestApp, secret: &str, role: &str, schools: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/archive/counts", app.http))
        .bearer_auth(secret)
        .header("X-Dokflyt-User", "u.1")
        .header("X-Dokflyt-Role", role)
        .header("X-Dokflyt-Schools", schools)
        .send()
        .await
        .expect("GET");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_bounds_the_user_it_claims() {
    let app = spawn_app().await;
    let one = client(&app, &["archive:read"], Some(&["skole-1"])).await;
    assert_eq!(actor_call(&app, &one, "team", "skole-1").await.0, 200);
    let (code, body) = actor_call(&app, &one, "team", "skole-1,skole-2").await;
    assert_eq!(code, 403, "a school outside the client: {body}");
    let (code, body) = actor_call(&app, &one, "kommuneadmin", "").await;
    assert_eq!(
        code, 403,
        "a municipal role needs an all-schools client: {body}"
    );
    let all = client(&app, &["archive:read"], None).await;
    assert_eq!(actor_call(&app, &all, "kommuneadmin", "").await.0, 200);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'api.actor' AND outcome = 'refused'"
        )
        .await,
        2
    );
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_client_per_user_and_for_bad_secrets() {
    fn tight(s: &mut Settings) {
        s.http.requests_per_minute_per_client = 5;
        s.http.requests_per_minute_per_user = 3;
        s.http.failed_requests_per_minute_per_address = 2;
    }
    let app = spawn_app_with(Spawn {
        tweak: Some(tight),
        ..Spawn::default()
    })
    .await;
    // Per user: the fourth call of one user is refused, another user goes on.
    let c = client(&app, &["archive:read"], None).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(actor_call(&app, &c, "kommuneadmin", "").await.0);
    }
    assert_eq!(codes, [200, 200, 200, 429]);
    let other_user = reqwest::Client::new()
        .get(format!("http://{}/api/archive/counts", app.http))
        .bearer_auth(&c)
        .header("X-Dokflyt-User", "u.2")
        .header("X-Dokflyt-Role", "kommuneadmin")
        .send()
        .await
        .expect("GET");
    assert_eq!(other_user.status().as_u16(), 200);
    // Per client: its sixth request is refused whoever it acts for.
    let (code, body) = actor_call(&app, &c, "kommuneadmin", "").await;
    assert_eq!(code, 429, "{body}");
    // Another client is not affected.
    let d = client(&app, &["status:read"], None).await;
    assert_eq!(status_with(&app, &d).await, 200);
    // Bad secrets: two are answered (and audited), then 429 without audit rows.
    let codes: Vec<u16> =
        futures::future::join_all((0..4).map(|_| status_with(&app, "dfk_feil"))).await;
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [401, 401, 429, 429], "{codes:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'api.authenticate'")
            .await,
        2
    );
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_token_is_for_loopback_or_the_demo_only() {
    use dokflyt::app::{dev_token_rule, StartError};
    let mut http = Settings::default().http;
    let outside: std::net::SocketAddr = "192.0.2.10:8080".parse().expect("addr");
    let loopback: std::net::SocketAddr = "127.0.0.1:8080".parse().expect("addr");
    assert_eq!(
        dev_token_rule(&http, outside),
        Err(StartError::DevTokenOffLoopback(outside.ip()))
    );
    assert_eq!(dev_token_rule(&http, loopback), Ok(()));
    assert_eq!(
        dev_token_rule(&http, "[::1]:8080".parse().expect("addr")),
        Ok(())
    );
    http.trust_proxy_headers = true;
    assert_eq!(
        dev_token_rule(&http, loopback),
        Err(StartError::DevTokenBehindProxy)
    );
    http.trust_proxy_headers = false;
    http.demo_mode = true;
    assert_eq!(
        dev_token_rule(&http, outside),
        Err(StartError::PublishedDevTokenOffLoopback(outside.ip())),
        "the demo off loopback with the published default (docker-compose must set its own)"
    );
    assert_eq!(dev_token_rule(&http, loopback), Ok(()), "the demo");
    http.dev_token = dokflyt::config::Secret::new("a-secret-of-the-operators-own");
    assert_eq!(
        dev_token_rule(&http, outside),
        Ok(()),
        "the demo, own secret"
    );
    http.demo_mode = false;
    http.dev_token = dokflyt::config::Secret::new("");
    assert_eq!(dev_token_rule(&http, outside), Ok(()), "no token, no rule");

    // The app itself refuses to start on 0.0.0.0 with the token, and says why.
    fn everywhere(s: &mut Settings) {
        s.http.addr = "0.0.0.0:0".into();
    }
    let mut settings = Settings::default();
    everywhere(&mut settings);
    settings.database.url = dokflyt::config::Secret::new(format!(
        "postgres://postgres@{}/dokflyt_test_{}",
        common::PG_HOST_PORT,
        uuid::Uuid::new_v4().simple()
    ));
    let db = settings.database.url.clone();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.paths.rules_dir = manifest.join("routing-rules");
    settings.paths.templates_dir = manifest.join("templates");
    let err = match dokflyt::app::App::build(settings.clone()).await {
        Ok(_) => panic!("must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("dokflyt clients add"), "{err}");
    // With the token off it starts.
    settings.http.dev_token = dokflyt::config::Secret::new("");
    let app = dokflyt::app::App::build(settings).await.expect("starts");
    drop(app);
    let name = db.expose().rsplit('/').next().expect("name").to_string();
    common::drop_database(&name).await;

    // On loopback the development token is the demo client (municipality 4699).
    let app = spawn_app().await;
    assert_eq!(status_with(&app, DEV_API_TOKEN).await, 200);
    app.stop_and_clean().await;
}

#[test]
fn the_shared_api_token_variable_is_refused() {
    let mut s = Settings::default();
    let err = s
        .apply_env(|k| (k == "DOKFLYT_API_TOKEN").then(|| "hemmelig".to_string()))
        .expect_err("refused");
    assert!(err.to_string().contains("dokflyt clients add"), "{err}");
    assert!(!err.to_string().contains("hemmelig"));
    let mut s = Settings::default();
    s.apply_env(|k| (k == "DOKFLYT_DEV_TOKEN").then(String::new))
        .expect("ok");
    assert!(s.http.dev_token.expose().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skoleeier_sees_contact_gaps_of_its_own_municipality_only() {
    let app = spawn_app().await;
    for (school, muni) in [("egen-skole", "4699"), ("fremmed-skole", "0301")] {
        sqlx::query(
            "INSERT INTO roster_schools (school_id, name, municipality_number, version)
             VALUES ($1, $1, $2, 1)",
        )
        .bind(school)
        .bind(muni)
        .execute(&app.pool)
        .await
        .expect("school");
    }
    let get = |secret: String, school: &'static str| {
        let url = format!("http://{}/api/schools/{school}/contact-gaps", app.http);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .header("X-Dokflyt-User", "eier")
                .header("X-Dokflyt-Role", "skoleeier")
                .send()
                .await
                .expect("GET")
                .status()
                .as_u16()
        }
    };
    let mine = register(&app.pool, "eier-4699", "4699", &["contacts:read"], None).await;
    assert_eq!(get(mine.clone(), "egen-skole").await, 200);
    assert_eq!(get(mine, "fremmed-skole").await, 403);
    // Even a client listing the other municipality's school by name cannot reach it.
    let listed = register(
        &app.pool,
        "liste-4699",
        "4699",
        &["contacts:read"],
        Some(&["fremmed-skole"]),
    )
    .await;
    assert_eq!(get(listed, "fremmed-skole").await, 403);
    app.stop_and_clean().await;
}
