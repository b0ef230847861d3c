//! Who is asking: the [`Actor`] behind a staff action, an emergency SMS or a
//! dashboard request, and the roles of docs/domain.md §6.
//!
//! Input: a user id, a role word and the schools the user belongs to, from the
//! school system (API calls on behalf of a signed-in user), from OpenID Connect
//! claims (dashboard) or from the operating system user (CLI). Output: an
//! [`Actor`] whose role is one of the known [`Role`]s; an unknown role word is
//! refused at parse time ([`AccessError::UnknownRole`]), so code that checks
//! access never sees a string it has to guess about.
//!
//! The checks themselves live next to the actions (archive staff actions, emergency
//! SMS, dashboard pages); every decision, granted or refused, goes to [`crate::audit`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The roles of docs/domain.md §6 that dokflyt knows, plus `skoleeier` (the school owner,
/// i.e. the municipality acting as owner) and `system` (the worker itself or a
/// command run on the server by an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Municipal administrator: all schools.
    Kommuneadmin,
    /// The school owner (municipality) — may send emergency SMS to any of its schools.
    Skoleeier,
    /// The principal of a school.
    Rektor,
    /// Local administrator of one or more schools.
    Skoleadmin,
    /// Local administrator of contact information at a school.
    Skoleadmin2,
    /// A school team member watching the archive log of their schools.
    Team,
    Laerer,
    Kontaktlaerer,
    SfoAdmin,
    SfoAnsatt,
    Helsesykepleier,
    Foresatt,
    Elev,
    /// The worker itself or an operator on the server (CLI).
    System,
}

impl Role {
    pub const ALL: [Role; 14] = [
        Role::Kommuneadmin,
        Role::Skoleeier,
        Role::Rektor,
        Role::Skoleadmin,
        Role::Skoleadmin2,
        Role::Team,
        Role::Laerer,
        Role::Kontaktlaerer,
        Role::SfoAdmin,
        Role::SfoAnsatt,
        Role::Helsesykepleier,
        Role::Foresatt,
        Role::Elev,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Kommuneadmin => "kommuneadmin",
            Role::Skoleeier => "skoleeier",
            Role::Rektor => "rektor",
            Role::Skoleadmin => "skoleadmin",
            Role::Skoleadmin2 => "skoleadmin2",
            Role::Team => "team",
            Role::Laerer => "laerer",
            Role::Kontaktlaerer => "kontaktlaerer",
            Role::SfoAdmin => "sfo_admin",
            Role::SfoAnsatt => "sfo_ansatt",
            Role::Helsesykepleier => "helsesykepleier",
            Role::Foresatt => "foresatt",
            Role::Elev => "elev",
            Role::System => "system",
        }
    }

    /// Roles that act for the whole municipality rather than for listed schools.
    pub fn is_municipal(self) -> bool {
        matches!(self, Role::Kommuneadmin | Role::Skoleeier | Role::System)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("the user id is empty")]
    EmptyUser,
}

impl FromStr for Role {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Role, AccessError> {
        let norm = s.trim().to_lowercase().replace(['-', ' '], "_");
        let norm = norm.replace('æ', "ae").replace('ø', "o").replace('å', "a");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == norm)
            .ok_or_else(|| AccessError::UnknownRole(s.to_string()))
    }
}

/// A user (or the system) acting on dokflyt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// A user id from the identity provider or the school system; never a national id.
    pub user: String,
    pub role: Role,
    /// The schools the user acts for (ignored for municipal roles).
    pub schools: Vec<String>,
    /// The municipality (kommunenummer) the user acts in. API actors always have
    /// their client's; `None` is a deployment-wide actor (the CLI operator, and
    /// dashboard sessions until the sign-in carries a municipality).
    #[serde(default)]
    pub municipality_number: Option<String>,
}

impl Actor {
    pub fn new(user: &str, role: Role, schools: Vec<String>) -> Result<Actor, AccessError> {
        let user = user.trim();
        if user.is_empty() {
            return Err(AccessError::EmptyUser);
        }
        Ok(Actor {
            user: user.to_string(),
            role,
            schools,
            municipality_number: None,
        })
    }

    /// The same actor, bounded to municipality `number`.
    pub fn in_municipality(mut self, number: &str) -> Actor {
        self.municipality_number = Some(number.to_string());
        self
    }

    /// The operator running a command on the server (`cli:<os user>`).
    pub fn cli() -> Actor {
        let who = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "ukjent".to_string());
        Actor {
            user: format!("cli:{who}"),
            role: Role::System,
            schools: Vec::new(),
            municipality_number: None,
        }
    }

    /// Whether the actor's role and school list cover `school_id` (municipal roles
    /// cover every school; their municipality is checked by [`Actor::covers`]).
    pub fn covers_school(&self, school_id: &str) -> bool {
        self.role.is_municipal() || self.schools.iter().any(|s| s == school_id)
    }

    /// Whether the actor covers `school_id` of municipality `school_municipality`
    /// (`None` = unknown): its schools or municipal role, and its own municipality.
    /// An actor bound to a municipality never covers a school not known to be in it.
    pub fn covers(&self, school_id: &str, school_municipality: Option<&str>) -> bool {
        self.covers_school(school_id)
            && match self.municipality_number.as_deref() {
                None => true,
                Some(m) => school_municipality == Some(m),
            }
    }
}

/// The municipality (kommunenummer) of a school: the roster's, else the one its
/// latest event names; `None` when neither knows the school.
pub async fn school_municipality(
    pool: &sqlx::PgPool,
    school_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT COALESCE(
            (SELECT municipality_number FROM roster_schools
              WHERE school_id = $1 AND NOT deleted),
            (SELECT payload #>> '{municipality,number}' FROM events
              WHERE school_id = $1 ORDER BY received_at DESC LIMIT 1))",
    )
    .bind(school_id)
    .fetch_one(pool)
    .await
}

/// The schools dokflyt knows in municipality `number` (roster and events).
pub async fn schools_of_municipality(
    pool: &sqlx::PgPool,
    number: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT school_id FROM roster_schools WHERE municipality_number = $1 AND NOT deleted
         UNION
         SELECT DISTINCT school_id FROM events WHERE payload #>> '{municipality,number}' = $1",
    )
    .bind(number)
    .fetch_all(pool)
    .await
}

/// [`Actor::covers`] with the school's municipality read from the database
/// (skipped for actors not bound to a municipality).
pub async fn covers_in_db(
    pool: &sqlx::PgPool,
    actor: &Actor,
    school_id: &str,
) -> sqlx::Result<bool> {
    if !actor.covers_school(school_id) {
        return Ok(false);
    }
    if actor.municipality_number.is_none() {
        return Ok(true);
    }
    let muni = school_municipality(pool, school_id).await?;
    Ok(actor.covers(school_id, muni.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_words_and_nothing_else() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("Rektor".parse::<Role>(), Ok(Role::Rektor));
        assert_eq!("lærer".parse::<Role>(), Ok(Role::Laerer));
        assert_eq!("SFO-admin".parse::<Role>(), Ok(Role::SfoAdmin));
        assert!(matches!(
            "superuser".parse::<Role>(),
            Err(AccessError::UnknownRole(_))
        ));
    }

    #[test]
    fn school_scope() {
        let rektor = Actor::new("u1", Role::Rektor, vec!["s1".into()]).expect("actor");
        assert!(rektor.covers_school("s1"));
        assert!(!rektor.covers_school("s2"));
        let admin = Actor::new("u2", Role::Kommuneadmin, vec![]).expect("actor");
        assert!(admin.covers_school("s2"));
        assert_eq!(
            Actor::new("  ", Role::Team, vec![]),
            Err(AccessError::EmptyUser)
        );
    }

    #[test]
    fn municipal_roles_stay_in_their_municipality() {
        let eier = Actor::new("u3", Role::Skoleeier, vec![])
            .expect("actor")
            .in_municipality("4601");
        assert!(eier.covers("s1", Some("4601")));
        assert!(!eier.covers("s1", Some("0301")));
        assert!(!eier.covers("s1", None));
        let rektor = Actor::new("u1", Role::Rektor, vec!["s1".into()])
            .expect("actor")
            .in_municipality("4601");
        assert!(rektor.covers("s1", Some("4601")));
        assert!(!rektor.covers("s1", Some("0301")));
        let cli = Actor::cli();
        assert!(cli.covers("s9", None));
    }
}
