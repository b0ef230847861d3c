//! The API's one authorization matrix (issue 16, item 9), generated from ONE table.
//!
//! Dimensions: credential {none, wrong, revoked, another municipality's client, a
//! client without the route's scope, the right client} × role (every §6 role but
//! `system`) × place {own school, a neighbour school of the same municipality, a
//! school of another municipality} × every `/api` route that reads or acts.
//!
//! [`TABLE`] gives, per route and role, the answer at each place for the right
//! client (an all-schools client of municipality 4601 holding exactly the route's
//! scope). The credential column follows from it, one rule per credential:
//! none, wrong and revoked secrets get 401; a client without the scope gets 403;
//! to another municipality's client every school here is foreign, so it gets the
//! route's "other municipality" entry. Every cell is requested, its status (and for
//! "missing", its body) compared, and every denial must add a refused row to
//! `audit_log`.
//!
//! Codes in the table: `A` allowed; `F` 403; `M` 404 with exactly the body of a
//! missing id; `H` 200 with the item left out; `D` the client door is passed (an
//! emergency-SMS preview with an empty body, a status of a message id that does
//! not exist for an allowed reader); `U` 401. Emergency-SMS send and approve need a
//! person assertion; this matrix sends none (`U` wherever the client door is
//! passed). The person dimension — no, expired, replayed, too weak or valid
//! assertion × role × place — is `tests/sms_person.rs`,
//! `the_person_dimension_of_send_and_approve`.

use crate::common;

use std::collections::BTreeMap;

use common::archive_standin::Action;
use common::flow::{example, transfer};
use common::{register, spawn_app_with, Spawn, TestApp, ALL_SCOPES};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// The roles, in the order of each row's triples.
const ROLES: [&str; 13] = [
    "kommuneadmin",
    "skoleeier",
    "rektor",
    "skoleadmin",
    "skoleadmin2",
    "team",
    "laerer",
    "kontaktlaerer",
    "sfo_admin",
    "sfo_ansatt",
    "helsesykepleier",
    "foresatt",
    "elev",
];

const OWN: &str = "fjellvik-ungdomsskole"; // the example events' school, municipality 4601
const NEIGHBOUR: &str = "fjellvik-barneskole"; // 4601, not the user's
const FOREIGN: &str = "nidaros-skole"; // municipality 5001

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    None,
    Wrong,
    Revoked,
    OtherMunicipality,
    NoScope,
    Right,
}

const CREDS: [Cred; 6] = [
    Cred::None,
    Cred::Wrong,
    Cred::Revoked,
    Cred::OtherMunicipality,
    Cred::NoScope,
    Cred::Right,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Own,
    Neighbour,
    Foreign,
}

const PLACES: [Place; 3] = [Place::Own, Place::Neighbour, Place::Foreign];

/// The emergency-SMS routes' proof of the person (issue 16, item 2). Today only
/// `None` exists: the matrix checks the client door; the person engineer adds
/// the variants (no assertion, expired, replayed, another person, valid) and a
/// column to [`Route`] giving the answer for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonProof {
    NotYetChecked,
}

struct Route {
    method: &'static str,
    /// `{school}`, `{doc}`, `{event}`, `{recipient}`, `{message}` are filled in per place.
    path: &'static str,
    scope: &'static str,
    /// Sends the acting user's headers.
    actor: bool,
    /// 13 triples (own, neighbour, foreign) in [`ROLES`] order.
    cells: &'static str,
    person: PersonProof,
}

/// THE table: per route, 13 triples (own, neighbour, foreign) for the right client.
#[rustfmt::skip]
const TABLE: &[Route] = &[
    //                                                                                                kadm seier rekt sadm sadm2 team laer klaer sfoa sfoan helse fors elev
    r("GET", "/api/status", "status:read", false,                                                   "AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA"),
    r("POST", "/api/admin/rules/reload", "admin", false,                                            "AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA AAA"),
    r("GET", "/api/archive/documents?school={school}", "archive:read", true,                        "AAF FFF AFF AFF FFF AFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/archive/counts?school={school}", "archive:read", true,                           "AAF FFF AFF AFF FFF AFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/archive/documents/{doc}", "archive:read", true,                                  "AAM FFF AMM AMM FFF AMM FFF FFF FFF FFF FFF FFF FFF"),
    r("POST", "/api/archive/documents/{doc}/retry", "archive:act", true,                            "AAM FFF AMM AMM FFF AMM FFF FFF FFF FFF FFF FFF FFF"),
    r("POST", "/api/archive/documents/{doc}/reproduce", "archive:act", true,                        "AAM FFF AMM AMM FFF AMM FFF FFF FFF FFF FFF FFF FFF"),
    r("POST", "/api/archive/documents/{doc}/remove-from-failed", "archive:act", true,               "AAM FFF AMM AMM FFF AMM FFF FFF FFF FFF FFF FFF FFF"),
    r("POST", "/api/archive/run-now", "archive:act", true,                                          "AAA FFF FFF FFF FFF FFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/archive/deadlines?school={school}", "archive:read", true,                        "AAF FFF AFF AFF FFF AFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/audit?school={school}", "archive:read", true,                                    "AAF FFF AFF AFF FFF AFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/schools/{school}/contact-gaps", "contacts:read", true,                           "AAF AAF AFF AFF AFF FFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/schools/{school}/unreachable", "contacts:read", true,                            "AAF AAF AFF AFF AFF FFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/messages?recipient={recipient}", "documents:read", false,                        "AAH AAH AAH AAH AAH AAH AAH AAH AAH AAH AAH AAH AAH"),
    r("GET", "/api/deliveries?event_id={event}", "documents:read", false,                           "AAM AAM AAM AAM AAM AAM AAM AAM AAM AAM AAM AAM AAM"),
    r("POST", "/api/schools/{school}/emergency-sms/preview", "sms:request", true,                   "DDF DDF DDF DDF DDF DDF DDF DDF DDF DDF DDF DDF DDF"),
    r("POST", "/api/schools/{school}/emergency-sms", "sms:request", true,                           "UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF"),
    r("POST", "/api/schools/{school}/emergency-sms/{message}/approve", "sms:request", true,         "UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF UUF"),
    r("GET", "/api/schools/{school}/emergency-sms/{message}", "sms:request", true,                  "DDF DDF DFF FFF FFF FFF FFF FFF FFF FFF FFF FFF FFF"),
    r("GET", "/api/schools/{school}/sms-costs?month=2026-11", "sms:request", true,                  "AAF AAF AFF FFF FFF FFF FFF FFF FFF FFF FFF FFF FFF"),
];

const fn r(
    method: &'static str,
    path: &'static str,
    scope: &'static str,
    actor: bool,
    cells: &'static str,
) -> Route {
    Route {
        method,
        path,
        scope,
        actor,
        cells,
        person: PersonProof::NotYetChecked,
    }
}

/// The expected answer of one cell, from the table and the credential rules.
fn expected(route: &Route, cred: Cred, role: usize, place: Place) -> char {
    let triple: Vec<char> = route
        .cells
        .split_whitespace()
        .nth(role)
        .expect("13 triples per row")
        .chars()
        .collect();
    assert_eq!(triple.len(), 3, "{}: a triple per role", route.path);
    let at = |p: Place| match p {
        Place::Own => triple[0],
        Place::Neighbour => triple[1],
        Place::Foreign => triple[2],
    };
    match cred {
        Cred::None | Cred::Wrong | Cred::Revoked => 'U',
        Cred::NoScope => 'F',
        // To another municipality's client every school of 4601 is foreign; its
        // own municipality has no school here.
        Cred::OtherMunicipality => at(Place::Foreign),
        Cred::Right => at(place),
    }
}

/// What one place is made of.
struct Fixture {
    school: &'static str,
    doc: Uuid,
    recipient: String,
}

struct Matrix {
    app: TestApp,
    places: BTreeMap<&'static str, Fixture>,
    /// Per scope: (the right client, a client with every other scope).
    clients: BTreeMap<&'static str, (String, String)>,
    other_municipality: String,
    revoked: String,
}

fn high_limits(s: &mut dokflyt::config::Settings) {
    // The matrix sends thousands of requests; the limits are tested on their own.
    s.http.requests_per_minute_per_client = 1_000_000;
    s.http.requests_per_minute_per_user = 1_000_000;
    s.http.failed_requests_per_minute_per_address = 1_000_000;
    s.archive.target = dokflyt::config::ArchiveTarget::Directory;
    s.archive.directory = std::env::temp_dir().join("dokflyt-authz-matrix-arkiv");
}

async fn setup() -> Matrix {
    let app = spawn_app_with(Spawn {
        tweak: Some(high_limits),
        ..Spawn::default()
    })
    .await;
    for (school, muni) in [(OWN, "4601"), (NEIGHBOUR, "4601"), (FOREIGN, "5001")] {
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
    let mut places = BTreeMap::new();
    for (school, muni) in [(OWN, "4601"), (NEIGHBOUR, "4601"), (FOREIGN, "5001")] {
        let id = Uuid::new_v4();
        let mut ev = example("conduct_warning", id);
        ev["school"]["id"] = json!(school);
        ev["municipality"]["number"] = json!(muni);
        app.publish(&ev).await;
        let sql = format!("SELECT count(*) FROM archive_queue WHERE event_id = '{id}'");
        app.wait_until(
            "the document is queued",
            std::time::Duration::from_secs(30),
            || async { app.count(&sql).await == 1 },
        )
        .await;
        let recipient = format!("matrise-{school}");
        let delivery: i64 = sqlx::query_scalar(
            "INSERT INTO deliveries (event_id, recipient_id, channel, status)
             VALUES ($1, $2, 'message', 'sent') RETURNING id",
        )
        .bind(id)
        .bind(&recipient)
        .fetch_one(&app.pool)
        .await
        .expect("delivery");
        sqlx::query(
            "INSERT INTO messages (id, delivery_id, event_id, recipient_id, school_id, kind,
                                   subject, body, has_document)
             VALUES ($1, $2, $3, $4, $5, 'message', 'Melding', 'Tekst', false)",
        )
        .bind(Uuid::new_v4())
        .bind(delivery)
        .bind(id)
        .bind(&recipient)
        .bind(school)
        .execute(&app.pool)
        .await
        .expect("message");
        places.insert(
            school,
            Fixture {
                school,
                doc: id,
                recipient,
            },
        );
    }
    // Every document `feilet`, so retry and remove-from-failed have work to do.
    transfer(&app, vec![Action::Ugyldig; 3]).await;

    let mut clients = BTreeMap::new();
    for scope in ALL_SCOPES {
        let right = register(&app.pool, &format!("rett-{scope}"), "4601", &[scope], None).await;
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != scope).collect();
        let without = register(&app.pool, &format!("uten-{scope}"), "4601", &others, None).await;
        clients.insert(scope, (right, without));
    }
    let other_municipality = register(&app.pool, "annen-kommune", "0301", &ALL_SCOPES, None).await;
    let revoked = register(&app.pool, "tilbakekalt", "4601", &ALL_SCOPES, None).await;
    dokflyt::clients::revoke(&app.pool, "tilbakekalt")
        .await
        .expect("revoked");
    Matrix {
        app,
        places,
        clients,
        other_municipality,
        revoked,
    }
}

fn place_school(p: Place) -> &'static str {
    match p {
        Place::Own => OWN,
        Place::Neighbour => NEIGHBOUR,
        Place::Foreign => FOREIGN,
    }
}

fn fill(path: &str, f: &Fixture, message: Uuid) -> String {
    path.replace("{school}", f.school)
        .replace("{doc}", &f.doc.to_string())
        .replace("{event}", &f.doc.to_string())
        .replace("{recipient}", &f.recipient)
        .replace("{message}", &message.to_string())
}

async fn call(
    m: &Matrix,
    route: &Route,
    secret: Option<&str>,
    role: &str,
    path: &str,
) -> (u16, Value) {
    let method: Method = route.method.parse().expect("method");
    let mut req =
        reqwest::Client::new().request(method.clone(), format!("http://{}{path}", m.app.http));
    if let Some(s) = secret {
        req = req.bearer_auth(s);
    }
    if route.actor {
        let municipal = matches!(role, "kommuneadmin" | "skoleeier");
        req = req
            .header("X-Dokflyt-User", format!("matrise.{role}"))
            .header("X-Dokflyt-Role", role)
            .header("X-Dokflyt-Schools", if municipal { "" } else { OWN });
    }
    if method == Method::POST {
        req = req.json(&json!({}));
    }
    let r = req.send().await.expect("request");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn refused(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_api_authorization_matrix() {
    let m = setup().await;
    // Every §6 role but `system` is in the table (a new role must be added to it).
    assert_eq!(
        ROLES.len(),
        dokflyt::access::Role::ALL.len() - 1,
        "every role has a column"
    );
    let mut failures = Vec::new();
    let mut cells = 0usize;
    for route in TABLE {
        assert_eq!(route.person, PersonProof::NotYetChecked);
        let (right, without) = m.clients.get(route.scope).expect("a client per scope");
        for cred in CREDS {
            let secret: Option<&str> = match cred {
                Cred::None => None,
                Cred::Wrong => Some("dfk_gjettet-feil-nokkel"),
                Cred::Revoked => Some(&m.revoked),
                Cred::OtherMunicipality => Some(&m.other_municipality),
                Cred::NoScope => Some(without),
                Cred::Right => Some(right),
            };
            for (ri, role) in ROLES.iter().enumerate() {
                for place in PLACES {
                    cells += 1;
                    let want = expected(route, cred, ri, place);
                    let fixture = &m.places[place_school(place)];
                    let path = fill(route.path, fixture, Uuid::new_v4());
                    let before = refused(&m.app).await;
                    let (code, body) = call(&m, route, secret, role, &path).await;
                    let audited = refused(&m.app).await > before;
                    let cell = format!(
                        "{} {} × {cred:?} × {role} × {place:?}: want {want}, got {code} {body}",
                        route.method, route.path
                    );
                    let ok = match want {
                        'A' => {
                            let status_ok = if route.method == "GET" {
                                code == 200
                            } else {
                                // An allowed action may still find nothing to do.
                                matches!(code, 200 | 202 | 409 | 422)
                            };
                            let shows_item = !route.path.starts_with("/api/messages")
                                || body["messages"].as_array().is_some_and(|a| !a.is_empty());
                            status_ok && shows_item && !audited
                        }
                        'H' => {
                            code == 200 && body["messages"].as_array().is_some_and(Vec::is_empty)
                        }
                        'U' => code == 401 && audited,
                        'F' => code == 403 && audited,
                        'M' => {
                            // Exactly the answer to an id that does not exist.
                            let missing = Fixture {
                                school: fixture.school,
                                doc: Uuid::new_v4(),
                                recipient: fixture.recipient.clone(),
                            };
                            let (mcode, mbody) = call(
                                &m,
                                route,
                                secret,
                                role,
                                &fill(route.path, &missing, Uuid::new_v4()),
                            )
                            .await;
                            code == 404 && mcode == 404 && body == mbody && audited
                        }
                        'D' => !matches!(code, 401 | 403 | 429) && !audited,
                        other => panic!("unknown code {other} in the table"),
                    };
                    if !ok {
                        failures.push(format!("{cell} (audited: {audited})"));
                    }
                }
            }
        }
    }
    assert_eq!(
        cells,
        TABLE.len() * CREDS.len() * ROLES.len() * PLACES.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    m.app.stop_and_clean().await;
}
