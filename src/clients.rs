//! Registered API clients: who may call `/api/*` at all, for which municipality,
//! which schools and which kinds of call (issue 16, item 1).
//!
//! Stage: beside the pipeline, the first thing every API request meets. Input: a
//! bearer secret (`Authorization: Bearer <secret>`), or an operator's
//! `dokflyt clients add|list|rotate|revoke`. Output: a [`Client`] — id, name, its
//! municipality, a [`SchoolScope`] and its [`Scope`]s — or a [`Resolution`] saying
//! why there is none. Failure: [`ClientError`] (an invalid registration, an unknown
//! client, the database).
//!
//! Secrets are 256 random bits shown once; the database holds only their SHA-256.
//! A fast hash is enough here (unlike for passwords): nobody can search a 2^256
//! space, so a slow key-derivation function would only cost every request time.
//! Rotation issues a new secret and lets the old one live for an overlap; a
//! revoked client is refused on its next request, because every request resolves
//! its secret against the database again (nothing is cached beyond one request).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// What a client may ask for. A route needs exactly one of these (README,
/// "Security model", lists which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Scope {
    /// In-app messages and delivery statuses of the client's schools.
    #[serde(rename = "documents:read")]
    DocumentsRead,
    /// The archive log, its counts, deadlines and the audit log.
    #[serde(rename = "archive:read")]
    ArchiveRead,
    /// Archive staff actions: retry, re-produce, remove from failed, run now.
    #[serde(rename = "archive:act")]
    ArchiveAct,
    /// Emergency SMS: preview, send, approve, status, costs.
    #[serde(rename = "sms:request")]
    SmsRequest,
    /// The contact-gap report.
    #[serde(rename = "contacts:read")]
    ContactsRead,
    /// `GET /api/status`: counts per stage and archive status.
    #[serde(rename = "status:read")]
    StatusRead,
    /// Operating the service: reloading the routing table.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::DocumentsRead,
        Scope::ArchiveRead,
        Scope::ArchiveAct,
        Scope::SmsRequest,
        Scope::ContactsRead,
        Scope::StatusRead,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DocumentsRead => "documents:read",
            Scope::ArchiveRead => "archive:read",
            Scope::ArchiveAct => "archive:act",
            Scope::SmsRequest => "sms:request",
            Scope::ContactsRead => "contacts:read",
            Scope::StatusRead => "status:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Scope, ClientError> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| ClientError::Invalid(format!("unknown scope `{}`", s.trim())))
    }
}

/// The schools a client is trusted with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolScope {
    /// Every school of the client's municipality (needed for municipal roles).
    All,
    /// Exactly these schools.
    Only(Vec<String>),
}

/// A registered client, as one request resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    pub id: Uuid,
    pub name: String,
    /// The municipality (kommunenummer) the client belongs to.
    pub municipality_number: String,
    pub schools: SchoolScope,
    pub scopes: Vec<Scope>,
}

impl Client {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the client is trusted with `school_id`, whose municipality is
    /// `school_municipality` (from the roster or the event; `None` = unknown).
    /// An all-schools client covers only schools known to be in its municipality;
    /// a listed school is covered unless it is known to be in another one.
    pub fn covers_school(&self, school_id: &str, school_municipality: Option<&str>) -> bool {
        let same_municipality = school_municipality == Some(self.municipality_number.as_str());
        match &self.schools {
            SchoolScope::All => same_municipality,
            SchoolScope::Only(list) => {
                list.iter().any(|s| s == school_id)
                    && (school_municipality.is_none() || same_municipality)
            }
        }
    }

    /// Whether a claimed school list stays inside the client's schools.
    pub fn allows_schools(&self, schools: &[String]) -> bool {
        match &self.schools {
            SchoolScope::All => true,
            SchoolScope::Only(list) => schools.iter().all(|s| list.contains(s)),
        }
    }

    /// The built-in client behind the development token (`serve --demo`, or a
    /// loopback listener): every scope, every school of the demo municipality.
    pub fn demo() -> Client {
        Client {
            id: DEMO_CLIENT_ID,
            name: "utvikling".into(),
            municipality_number: DEMO_MUNICIPALITY.into(),
            schools: SchoolScope::All,
            scopes: Scope::ALL.to_vec(),
        }
    }
}

/// The development token's client id (never stored in `api_clients`).
pub const DEMO_CLIENT_ID: Uuid = Uuid::from_u128(0x00000000_0000_4000_8000_00000000d0c0);
/// The municipality of the example events (Fjellvik kommune).
pub const DEMO_MUNICIPALITY: &str = "4699";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("no client named `{0}`")]
    Unknown(String),
    #[error("a client named `{0}` exists already")]
    Exists(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A registration as the operator gives it.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub municipality_number: String,
    pub schools: SchoolScope,
    pub scopes: Vec<Scope>,
}

impl NewClient {
    fn check(&self) -> Result<(), ClientError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(ClientError::Invalid(
                "the name must be 1–100 printable characters".into(),
            ));
        }
        let m = &self.municipality_number;
        if m.len() != 4 || !m.chars().all(|c| c.is_ascii_digit()) {
            return Err(ClientError::Invalid(
                "the municipality is a four-digit kommunenummer".into(),
            ));
        }
        if let SchoolScope::Only(list) = &self.schools {
            if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
                return Err(ClientError::Invalid(
                    "name at least one school (--schools a,b) or --all-schools".into(),
                ));
            }
        }
        if self.scopes.is_empty() {
            return Err(ClientError::Invalid("give at least one --scope".into()));
        }
        Ok(())
    }
}

/// A fresh secret: `dfk_` and 256 random bits, URL-safe base64.
pub fn new_secret() -> String {
    use base64::Engine;
    use rand::Rng;
    let mut buf = [0u8; 32];
    // ThreadRng: a CSPRNG seeded and reseeded from the operating system.
    rand::rng().fill_bytes(&mut buf);
    format!(
        "dfk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    )
}

/// What is stored of a secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Registers a client; returns it and its secret (to be shown once).
pub async fn add(pool: &PgPool, new: &NewClient) -> Result<(Client, String), ClientError> {
    new.check()?;
    let mut scopes = new.scopes.clone();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let (all, schools) = match &new.schools {
        SchoolScope::All => (true, Vec::new()),
        SchoolScope::Only(list) => {
            let mut l: Vec<String> = list.iter().map(|s| s.trim().to_string()).collect();
            l.sort();
            l.dedup();
            (false, l)
        }
    };
    let id = Uuid::new_v4();
    let secret = new_secret();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO api_clients (id, name, municipality_number, all_schools, schools, scopes)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
    )
    .bind(id)
    .bind(new.name.trim())
    .bind(&new.municipality_number)
    .bind(all)
    .bind(&schools)
    .bind(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ClientError::Exists(new.name.trim().to_string()));
    }
    sqlx::query("INSERT INTO api_client_secrets (secret_sha256, client_id) VALUES ($1, $2)")
        .bind(secret_hash(&secret))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let client = Client {
        id,
        name: new.name.trim().to_string(),
        municipality_number: new.municipality_number.clone(),
        schools: if all {
            SchoolScope::All
        } else {
            SchoolScope::Only(schools)
        },
        scopes,
    };
    Ok((client, secret))
}

/// One row of `dokflyt clients list`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client: Client,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Secrets that work now (two during a rotation's overlap).
    pub live_secrets: i64,
}

type ClientRow = (Uuid, String, String, bool, Vec<String>, Vec<String>);

fn from_row((id, name, municipality_number, all, schools, scopes): ClientRow) -> Client {
    Client {
        id,
        name,
        municipality_number,
        schools: if all {
            SchoolScope::All
        } else {
            SchoolScope::Only(schools)
        },
        // A scope word this version does not know grants nothing.
        scopes: scopes.iter().filter_map(|s| s.parse().ok()).collect(),
    }
}

pub async fn list(pool: &PgPool) -> Result<Vec<ClientInfo>, ClientError> {
    type Row = (
        Uuid,
        String,
        String,
        bool,
        Vec<String>,
        Vec<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.id, c.name, c.municipality_number, c.all_schools, c.schools, c.scopes,
                c.created_at, c.revoked_at,
                (SELECT count(*) FROM api_client_secrets s WHERE s.client_id = c.id
                    AND (s.expires_at IS NULL OR s.expires_at > now()))
           FROM api_clients c ORDER BY c.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, n, m, a, sc, sp, created_at, revoked_at, live)| ClientInfo {
                client: from_row((id, n, m, a, sc, sp)),
                created_at,
                revoked_at,
                live_secrets: if revoked_at.is_some() { 0 } else { live },
            },
        )
        .collect())
}

/// The id of the live client called `name_or_id` (its name or its uuid).
async fn live_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    name_or_id: &str,
) -> Result<Uuid, ClientError> {
    sqlx::query_scalar(
        "SELECT id FROM api_clients WHERE (name = $1 OR id::text = $1) AND revoked_at IS NULL
         FOR UPDATE",
    )
    .bind(name_or_id.trim())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ClientError::Unknown(name_or_id.trim().to_string()))
}

/// Issues a new secret; the current ones stay valid for `overlap` (then expire).
pub async fn rotate(
    pool: &PgPool,
    name_or_id: &str,
    overlap: std::time::Duration,
) -> Result<String, ClientError> {
    let overlap = chrono::Duration::from_std(overlap)
        .map_err(|_| ClientError::Invalid("the rotation overlap is too long".into()))?;
    let mut tx = pool.begin().await?;
    let id = live_id(&mut tx, name_or_id).await?;
    sqlx::query(
        "UPDATE api_client_secrets SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + $2)
          WHERE client_id = $1",
    )
    .bind(id)
    .bind(overlap)
    .execute(&mut *tx)
    .await?;
    let secret = new_secret();
    sqlx::query("INSERT INTO api_client_secrets (secret_sha256, client_id) VALUES ($1, $2)")
        .bind(secret_hash(&secret))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Revokes the client: every secret stops working from the next request on.
pub async fn revoke(pool: &PgPool, name_or_id: &str) -> Result<Client, ClientError> {
    let mut tx = pool.begin().await?;
    let id = live_id(&mut tx, name_or_id).await?;
    let row: ClientRow = sqlx::query_as(
        "UPDATE api_clients SET revoked_at = now() WHERE id = $1
         RETURNING id, name, municipality_number, all_schools, schools, scopes",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(from_row(row))
}

/// What a presented secret turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Client(Client),
    /// No such secret.
    Unknown,
    /// The secret's client is revoked.
    Revoked {
        client_id: Uuid,
    },
    /// A rotated-out secret past its overlap.
    Expired {
        client_id: Uuid,
    },
}

/// Resolves a secret against the database (every request; no cache, so a
/// revocation counts from the next request on). The lookup is by the secret's
/// hash, so timing reveals nothing about the secret itself.
pub async fn resolve(pool: &PgPool, secret: &str) -> Result<Resolution, sqlx::Error> {
    type Row = (
        Uuid,
        String,
        String,
        bool,
        Vec<String>,
        Vec<String>,
        bool,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.id, c.name, c.municipality_number, c.all_schools, c.schools, c.scopes,
                c.revoked_at IS NOT NULL, s.expires_at IS NOT NULL AND s.expires_at <= now()
           FROM api_client_secrets s JOIN api_clients c ON c.id = s.client_id
          WHERE s.secret_sha256 = $1",
    )
    .bind(secret_hash(secret))
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Resolution::Unknown,
        Some((id, .., true, _)) => Resolution::Revoked { client_id: id },
        Some((id, .., false, true)) => Resolution::Expired { client_id: id },
        Some((id, n, m, a, sc, sp, false, false)) => {
            Resolution::Client(from_row((id, n, m, a, sc, sp)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(schools: &[&str]) -> Client {
        Client {
            schools: SchoolScope::Only(schools.iter().map(|s| s.to_string()).collect()),
            ..Client::demo()
        }
    }

    #[test]
    fn scopes_parse_from_their_words_only() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().ok(), Some(s));
        }
        assert!("archive:write".parse::<Scope>().is_err());
        assert!("".parse::<Scope>().is_err());
    }

    #[test]
    fn school_coverage_respects_municipality() {
        let all = Client::demo();
        assert!(all.covers_school("s1", Some(DEMO_MUNICIPALITY)));
        assert!(!all.covers_school("s1", Some("0301")));
        assert!(
            !all.covers_school("s1", None),
            "unknown municipality: closed"
        );
        let c = only(&["s1"]);
        assert!(c.covers_school("s1", None));
        assert!(c.covers_school("s1", Some(DEMO_MUNICIPALITY)));
        assert!(!c.covers_school("s1", Some("0301")));
        assert!(!c.covers_school("s2", Some(DEMO_MUNICIPALITY)));
        assert!(c.allows_schools(&["s1".into()]));
        assert!(!c.allows_schools(&["s1".into(), "s2".into()]));
    }

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = new_secret();
        assert_ne!(a, new_secret());
        assert!(a.starts_with("dfk_") && a.len() == 4 + 43);
        assert_eq!(secret_hash(&a).len(), 32);
    }

    #[test]
    fn registrations_are_checked() {
        let ok = NewClient {
            name: "skolesystem".into(),
            municipality_number: "4601".into(),
            schools: SchoolScope::Only(vec!["s1".into()]),
            scopes: vec![Scope::ArchiveRead],
        };
        assert!(ok.check().is_ok());
        for bad in [
            NewClient {
                municipality_number: "46".into(),
                ..ok.clone()
            },
            NewClient {
                schools: SchoolScope::Only(vec![]),
                ..ok.clone()
            },
            NewClient {
                scopes: vec![],
                ..ok.clone()
            },
            NewClient {
                name: " ".into(),
                ..ok.clone()
            },
        ] {
            assert!(matches!(bad.check(), Err(ClientError::Invalid(_))));
        }
    }
}
