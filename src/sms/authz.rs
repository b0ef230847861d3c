//! Who may send, approve and read a school's emergency SMS (docs/domain.md §5).
//!
//! Send and approve: the principal (`rektor`) of that school, or the school owner
//! (`skoleeier`) of its municipality. Everyone else — other roles, other schools,
//! other municipalities — is refused. Read (status of a message, the cost ledger):
//! the same two, and the municipal administrator (`kommuneadmin`) of the school's
//! municipality.
//!
//! Input: the [`Actor`] — for send and approve a PROVEN person (a dashboard
//! session, a person assertion over the API, or the roster's answer for an
//! event's sender), never a claim in a header or a body — with the municipality
//! it acts in, the school id and the school's municipality from the roster.
//! Output: the [`Route`] the message takes (recorded with the message and in the
//! audit log), or a [`Refusal`] with a Norwegian reason for the staff. Pure; the
//! callers write every decision, granted or refused, to the audit log.

use serde::Serialize;

use crate::access::{Actor, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The principal of the school (on the school owner's instruction or not).
    Rektor,
    /// The school owner for the school's municipality.
    Skoleeier,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub &'static str);

/// Whether the actor's own municipality (when it has one) is the school's.
fn in_municipality(who: &Actor, school_municipality: Option<&str>) -> bool {
    match who.municipality_number.as_deref() {
        None => true,
        Some(mine) => school_municipality == Some(mine),
    }
}

pub fn decide(
    who: &Actor,
    school_id: &str,
    school_municipality: Option<&str>,
) -> Result<Route, Refusal> {
    match who.role {
        Role::Rektor
            if who.schools.iter().any(|s| s == school_id)
                && in_municipality(who, school_municipality) =>
        {
            Ok(Route::Rektor)
        }
        Role::Rektor => Err(Refusal(
            "Bare rektor ved denne skolen kan sende beredskapsmelding til den",
        )),
        Role::Skoleeier => match (who.municipality_number.as_deref(), school_municipality) {
            (Some(mine), Some(theirs)) if mine == theirs => Ok(Route::Skoleeier),
            (_, None) => Err(Refusal("Skolen er ukjent i elevregisteret")),
            _ => Err(Refusal(
                "Skoleeier kan bare sende beredskapsmelding til skoler i egen kommune",
            )),
        },
        _ => Err(Refusal(
            "Bare rektor eller skoleeier kan sende beredskapsmelding",
        )),
    }
}

/// Who may see a school's messages and costs: its principal, the school owner
/// and the municipal administrator of its municipality.
pub fn may_read(
    who: &Actor,
    school_id: &str,
    school_municipality: Option<&str>,
) -> Result<(), Refusal> {
    let ok = match who.role {
        Role::Rektor => who.schools.iter().any(|s| s == school_id),
        Role::Skoleeier | Role::Kommuneadmin => true,
        _ => false,
    } && in_municipality(who, school_municipality);
    if ok {
        Ok(())
    } else {
        Err(Refusal(
            "Du har ikke tilgang til denne skolens beredskapsmeldinger",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, schools: &[&str], muni: Option<&str>) -> Actor {
        let a = Actor::new("u", role, schools.iter().map(|s| s.to_string()).collect()).unwrap();
        match muni {
            Some(m) => a.in_municipality(m),
            None => a,
        }
    }

    #[test]
    fn only_the_schools_principal_or_its_owner() {
        assert_eq!(
            decide(&who(Role::Rektor, &["s1"], None), "s1", Some("4601")),
            Ok(Route::Rektor)
        );
        assert!(decide(&who(Role::Rektor, &["s2"], None), "s1", Some("4601")).is_err());
        assert!(
            decide(
                &who(Role::Rektor, &["s1"], Some("4602")),
                "s1",
                Some("4601")
            )
            .is_err(),
            "a client of another municipality cannot name the school"
        );
        assert_eq!(
            decide(&who(Role::Skoleeier, &[], Some("4601")), "s1", Some("4601")),
            Ok(Route::Skoleeier)
        );
        assert!(decide(&who(Role::Skoleeier, &[], Some("4602")), "s1", Some("4601")).is_err());
        assert!(decide(&who(Role::Skoleeier, &[], None), "s1", Some("4601")).is_err());
        for r in Role::ALL {
            if !matches!(r, Role::Rektor | Role::Skoleeier) {
                assert!(
                    decide(&who(r, &["s1"], Some("4601")), "s1", Some("4601")).is_err(),
                    "{r}"
                );
            }
        }
    }

    #[test]
    fn readers_are_the_principal_and_the_municipality() {
        assert!(may_read(
            &who(Role::Rektor, &["s1"], Some("4601")),
            "s1",
            Some("4601")
        )
        .is_ok());
        assert!(may_read(
            &who(Role::Rektor, &["s2"], Some("4601")),
            "s1",
            Some("4601")
        )
        .is_err());
        assert!(may_read(
            &who(Role::Kommuneadmin, &[], Some("4601")),
            "s1",
            Some("4601")
        )
        .is_ok());
        assert!(may_read(
            &who(Role::Kommuneadmin, &[], Some("4602")),
            "s1",
            Some("4601")
        )
        .is_err());
        assert!(may_read(&who(Role::Skoleeier, &[], Some("4602")), "s1", Some("4601")).is_err());
        for r in [Role::Laerer, Role::Team, Role::Skoleadmin, Role::Foresatt] {
            assert!(
                may_read(&who(r, &["s1"], Some("4601")), "s1", Some("4601")).is_err(),
                "{r}"
            );
        }
    }
}
