//! Grants: roles given in the dashboard, layered like the school systems'
//! administration (a municipal administrator for every school, a school
//! administrator or principal for one school, staff for their own school), each
//! ending with the school year unless renewed (issue 24, item 1).
//!
//! Input: the granting [`Actor`] (its role and schools as the request computed
//! them), the grantee's staff id, a role and a school; the clock ([`Clock`], so
//! expiry is testable). Output: a decision of the one grant matrix
//! ([`may_grant`], pure), the end of a grant ([`school_year_end`], pure), the
//! effective actor of a request from its claims and its grants in force
//! ([`effective_actor`], pure), and the stored grants ([`store`]: create, revoke,
//! renew per school, expire, and the leaver's revocation with the end of every
//! session). Failure: a refusal is a [`Refusal`] with a Norwegian reason; a
//! database error is returned to the caller (the dashboard answers 503).
//! Every grant, renewal, expiry and removal is written to the audit log with ids
//! and roles only.

pub mod store;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::access::{Actor, Role};

/// The time grants are judged at: the system clock, or a test's (the one
/// injectable clock of `calendar`).
pub use crate::calendar::{Clock, SystemClock};

/// The date in Norway at `now` (grants end on an Oslo date, inclusive).
pub fn oslo_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Oslo).date_naive()
}

/// The last day of the school year `day` lies in: a day on or after 1 August of
/// year Y is in the school year ending 31 July Y+1; a day before 1 August of Y in
/// the one ending 31 July Y.
pub fn school_year_end(day: NaiveDate) -> NaiveDate {
    let year = if day.month() >= 8 {
        day.year() + 1
    } else {
        day.year()
    };
    // 31 July exists in every year chrono can represent here.
    NaiveDate::from_ymd_opt(year, 7, 31).unwrap_or(day)
}

/// Where a grant's expiry stands on `today`: in force through `expires_on`.
pub fn in_force(expires_on: NaiveDate, today: NaiveDate) -> bool {
    today <= expires_on
}

pub use crate::config::RoleSource;

/// How high a role stands in the layers: 3 municipal, 2 school leader, 1 staff,
/// 0 not grantable at all (parents, pupils, the school owner, the system).
pub fn layer(role: Role) -> u8 {
    match role {
        Role::Kommuneadmin => 3,
        Role::Skoleadmin | Role::Rektor => 2,
        Role::Team
        | Role::Skoleadmin2
        | Role::Laerer
        | Role::Kontaktlaerer
        | Role::SfoAdmin
        | Role::SfoAnsatt
        | Role::Helsesykepleier => 1,
        Role::Skoleeier | Role::Foresatt | Role::Elev | Role::System => 0,
    }
}

/// The roles a grant can carry: the school-level layers (2 and 1). Municipal
/// roles come only from the identity provider.
pub fn grantable(role: Role) -> bool {
    matches!(layer(role), 1 | 2)
}

/// Why a grant (or its renewal or removal) is refused. [`Refusal::norwegian`] is
/// what the person reads and what the audit log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a person cannot grant to themselves")]
    ToSelf,
    #[error("the role cannot be granted")]
    NotGrantable,
    #[error("the granter's role grants nothing")]
    NoGrantRight,
    #[error("the role is not below the granter's own")]
    NotBelowOwn,
    #[error("the school is outside the granter's scope")]
    OutsideScope,
    #[error("the grantee is not an active staff member in the roster")]
    NotStaff,
    #[error("no such grant in the granter's scope")]
    NoSuchGrant,
}

impl Refusal {
    pub fn norwegian(self) -> &'static str {
        match self {
            Refusal::ToSelf => "Du kan ikke gi deg selv en rolle.",
            Refusal::NotGrantable => {
                "Rollen kan ikke gis i dokflyt (kommunenivå og skoleeier kommer fra innloggingen)."
            }
            Refusal::NoGrantRight => "Rollen din gir ikke rett til å gi roller.",
            Refusal::NotBelowOwn => "Du kan bare gi roller som er lavere enn din egen.",
            Refusal::OutsideScope => "Skolen er utenfor det du administrerer.",
            Refusal::NotStaff => "Personen er ikke registrert som ansatt i elevregisteret.",
            Refusal::NoSuchGrant => "Fant ikke tildelingen blant dem du administrerer.",
        }
    }

    /// A stable code for the audit log's details.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::ToSelf => "to_self",
            Refusal::NotGrantable => "not_grantable",
            Refusal::NoGrantRight => "no_grant_right",
            Refusal::NotBelowOwn => "not_below_own",
            Refusal::OutsideScope => "outside_scope",
            Refusal::NotStaff => "not_staff",
            Refusal::NoSuchGrant => "no_such_grant",
        }
    }
}

/// Who is granting: the actor as the request computed it, and the staff id of
/// the person behind it (from the sign-in), to refuse grants to oneself.
#[derive(Debug, Clone, Copy)]
pub struct Granter<'a> {
    pub actor: &'a Actor,
    pub staff_id: Option<&'a str>,
}

/// The grant matrix: may `granter` give `role` at `school` (of municipality
/// `school_municipality`, `None` = unknown) to the staff member `grantee`?
///
/// - a kommuneadmin grants school leaders (skoleadmin, rektor) and staff roles
///   for any school of its municipality;
/// - a skoleadmin or rektor grants staff roles for its own schools;
/// - nobody grants a role at or above their own layer, a role outside the
///   school layers, outside their scope, or to themselves.
///
/// Renewing and revoking a grant are decided by the same question.
pub fn may_grant(
    granter: Granter<'_>,
    grantee: &str,
    role: Role,
    school: &str,
    school_municipality: Option<&str>,
) -> Result<(), Refusal> {
    let grantee = grantee.trim();
    if granter.staff_id.is_some_and(|s| s == grantee) || granter.actor.user == grantee {
        return Err(Refusal::ToSelf);
    }
    if !grantable(role) {
        return Err(Refusal::NotGrantable);
    }
    let own = layer(granter.actor.role);
    if own < 2 {
        return Err(Refusal::NoGrantRight);
    }
    if layer(role) >= own {
        return Err(Refusal::NotBelowOwn);
    }
    let in_scope = match granter.actor.role {
        Role::Kommuneadmin => granter.actor.covers(school, school_municipality),
        _ => {
            granter.actor.schools.iter().any(|s| s == school)
                && granter.actor.covers(school, school_municipality)
        }
    };
    if !in_scope {
        return Err(Refusal::OutsideScope);
    }
    Ok(())
}

/// One grant in force for the person of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub role: Role,
    pub school_id: String,
}

/// The order in which a role wins when a person holds several (the dashboard's
/// actor has one role): municipal first, then the principal (who also has the
/// emergency SMS), the school administrator, the school team, then the rest.
fn preference(role: Role) -> u8 {
    match role {
        Role::Kommuneadmin => 0,
        Role::Skoleeier => 1,
        Role::Rektor => 2,
        Role::Skoleadmin => 3,
        Role::Team => 4,
        Role::Skoleadmin2 => 5,
        _ => 6,
    }
}

/// The actor a request acts as: from the claims' actor (`claims`, as the sign-in
/// stored it) and the grants in force (`held`), by `source`. The strongest role
/// wins ([`preference`]); the schools are those where that role is held (the
/// claims' schools when the claims carry it, and every school a grant of it names).
/// `None`: no role at all (only with `Grants` and nothing held).
pub fn effective_actor(claims: &Actor, held: &[Held], source: RoleSource) -> Option<Actor> {
    let use_claims = source != RoleSource::Grants;
    let use_grants = source != RoleSource::Claims;
    let mut candidates: Vec<Role> = Vec::new();
    if use_claims {
        candidates.push(claims.role);
    }
    if use_grants {
        candidates.extend(held.iter().map(|h| h.role));
    }
    let role = candidates.into_iter().min_by_key(|r| preference(*r))?;
    let mut schools: Vec<String> = Vec::new();
    if use_claims && claims.role == role {
        schools.extend(claims.schools.iter().cloned());
    }
    if use_grants {
        schools.extend(
            held.iter()
                .filter(|h| h.role == role)
                .map(|h| h.school_id.clone()),
        );
    }
    schools.sort();
    schools.dedup();
    Some(Actor {
        user: claims.user.clone(),
        role,
        schools,
        municipality_number: claims.municipality_number.clone(),
    })
}

/// The actor of a sign-in whose claims carry no role, from the grants in force
/// alone (`role_source = "grants"`): the strongest granted role and its schools;
/// `None` when nothing is held.
pub fn granted_actor(user: &str, municipality: Option<&str>, held: &[Held]) -> Option<Actor> {
    let role = held.iter().map(|h| h.role).min_by_key(|r| preference(*r))?;
    let mut schools: Vec<String> = held
        .iter()
        .filter(|h| h.role == role)
        .map(|h| h.school_id.clone())
        .collect();
    schools.sort();
    schools.dedup();
    let actor = Actor::new(user, role, schools).ok()?;
    Some(match municipality {
        Some(m) => actor.in_municipality(m),
        None => actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn a_grant_ends_on_31_july_of_its_school_year() {
        assert_eq!(school_year_end(d("2026-08-01")), d("2027-07-31"));
        assert_eq!(school_year_end(d("2026-12-01")), d("2027-07-31"));
        assert_eq!(school_year_end(d("2027-07-31")), d("2027-07-31"));
        assert_eq!(school_year_end(d("2027-01-15")), d("2027-07-31"));
        assert_eq!(school_year_end(d("2027-08-01")), d("2028-07-31"));
        assert!(in_force(d("2027-07-31"), d("2027-07-31")));
        assert!(!in_force(d("2027-07-31"), d("2027-08-01")));
    }

    #[test]
    fn the_oslo_date_decides_the_boundary() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("instant")
                .with_timezone(&Utc)
        };
        // 23:59 on 31 July in Oslo (CEST, UTC+2) is 21:59 UTC.
        assert_eq!(oslo_date(at("2027-07-31T21:59:00Z")), d("2027-07-31"));
        assert_eq!(oslo_date(at("2027-07-31T22:00:00Z")), d("2027-08-01"));
    }

    fn actor(role: Role, schools: &[&str]) -> Actor {
        Actor::new(
            "oidc:granter",
            role,
            schools.iter().map(|s| s.to_string()).collect(),
        )
        .expect("actor")
        .in_municipality("4601")
    }

    /// The grant matrix, every granter role × every role × own school / another
    /// school of the municipality / another municipality's school, and to oneself.
    #[test]
    fn the_grant_matrix() {
        let staff = [
            Role::Team,
            Role::Skoleadmin2,
            Role::Laerer,
            Role::Kontaktlaerer,
            Role::SfoAdmin,
            Role::SfoAnsatt,
            Role::Helsesykepleier,
        ];
        let mut cells = 0;
        for granter_role in Role::ALL {
            let a = actor(granter_role, &["s1"]);
            let g = Granter {
                actor: &a,
                staff_id: Some("ansatt-1"),
            };
            for role in Role::ALL {
                for (school, muni, own_school, own_muni) in [
                    ("s1", Some("4601"), true, true),
                    ("s2", Some("4601"), false, true),
                    ("s3", Some("0301"), false, false),
                ] {
                    cells += 1;
                    let got = may_grant(g, "ansatt-2", role, school, muni);
                    let expected = if !grantable(role) {
                        Err(Refusal::NotGrantable)
                    } else {
                        match granter_role {
                            Role::Kommuneadmin if !own_muni => Err(Refusal::OutsideScope),
                            Role::Kommuneadmin => Ok(()),
                            Role::Skoleadmin | Role::Rektor if !staff.contains(&role) => {
                                Err(Refusal::NotBelowOwn)
                            }
                            Role::Skoleadmin | Role::Rektor if !own_school => {
                                Err(Refusal::OutsideScope)
                            }
                            Role::Skoleadmin | Role::Rektor => Ok(()),
                            _ => Err(Refusal::NoGrantRight),
                        }
                    };
                    assert_eq!(got, expected, "{granter_role} grants {role} at {school}");
                    // Never to oneself, whatever else holds.
                    assert_eq!(
                        may_grant(g, "ansatt-1", role, school, muni),
                        Err(Refusal::ToSelf)
                    );
                }
            }
        }
        assert_eq!(cells, 14 * 14 * 3);
        // Every refusal has a Norwegian reason.
        for r in [
            Refusal::ToSelf,
            Refusal::NotGrantable,
            Refusal::NoGrantRight,
            Refusal::NotBelowOwn,
            Refusal::OutsideScope,
            Refusal::NotStaff,
            Refusal::NoSuchGrant,
        ] {
            assert!(r.norwegian().ends_with('.') && !r.code().is_empty());
        }
    }

    #[test]
    fn effective_roles_by_source() {
        let claims = Actor::new("oidc:x", Role::Team, vec!["s1".into()]).expect("actor");
        let held = vec![
            Held {
                role: Role::Rektor,
                school_id: "s2".into(),
            },
            Held {
                role: Role::Team,
                school_id: "s3".into(),
            },
        ];
        let c = effective_actor(&claims, &held, RoleSource::Claims).expect("claims");
        assert_eq!((c.role, c.schools.clone()), (Role::Team, vec!["s1".into()]));
        let b = effective_actor(&claims, &held, RoleSource::Both).expect("both");
        assert_eq!((b.role, b.schools), (Role::Rektor, vec!["s2".to_string()]));
        let g = effective_actor(&claims, &held[1..], RoleSource::Grants).expect("grants");
        assert_eq!((g.role, g.schools), (Role::Team, vec!["s3".to_string()]));
        let both = effective_actor(&claims, &held[1..], RoleSource::Both).expect("both");
        assert_eq!(both.schools, vec!["s1".to_string(), "s3".to_string()]);
        assert_eq!(effective_actor(&claims, &[], RoleSource::Grants), None);
        let signed_in = granted_actor("oidc:y", Some("4601"), &held).expect("granted");
        assert_eq!(
            (
                signed_in.role,
                signed_in.schools.clone(),
                signed_in.municipality_number
            ),
            (
                Role::Rektor,
                vec!["s2".to_string()],
                Some("4601".to_string())
            )
        );
        assert_eq!(granted_actor("oidc:y", None, &[]), None);
        assert_eq!(
            effective_actor(&claims, &[], RoleSource::Both),
            Some(claims)
        );
    }
}
