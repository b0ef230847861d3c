//! Who may send an emergency SMS to a school (DOMAIN.md §5): the principal
//! (`rektor`) of that school, or the school owner (`skoleeier`) of its
//! municipality. Everyone else — other roles, other schools, other
//! municipalities — is refused.
//!
//! Input: the [`Requester`] (an [`Actor`] plus the municipality a school owner acts
//! for), the school id and the school's municipality from the roster. Output: the
//! [`Route`] the message takes (recorded with the message and in the audit log:
//! a principal's message says whether it was on the school owner's instruction),
//! or a [`Refusal`] with a Norwegian reason for the staff. Pure; the callers write
//! every decision, granted or refused, to the audit log.

use serde::{Deserialize, Serialize};

use crate::access::{Actor, Role};

/// Who asks, as the school system sends it on behalf of a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedBy {
    pub user_id: String,
    pub role: String,
    /// The schools the user acts for (a principal's school).
    #[serde(default)]
    pub schools: Vec<String>,
    /// The municipality a school owner acts for (kommunenummer).
    #[serde(default)]
    pub municipality_number: Option<String>,
}

/// A checked requester: the role is a known [`Role`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub actor: Actor,
    pub municipality_number: Option<String>,
}

impl RequestedBy {
    pub fn check(&self) -> Result<Requester, crate::access::AccessError> {
        let role: Role = self.role.parse()?;
        Ok(Requester {
            actor: Actor::new(&self.user_id, role, self.schools.clone())?,
            municipality_number: self.municipality_number.clone(),
        })
    }
}

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

pub fn decide(
    who: &Requester,
    school_id: &str,
    school_municipality: Option<&str>,
) -> Result<Route, Refusal> {
    match who.actor.role {
        Role::Rektor if who.actor.schools.iter().any(|s| s == school_id) => Ok(Route::Rektor),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, schools: &[&str], muni: Option<&str>) -> Requester {
        Requester {
            actor: Actor::new("u", role, schools.iter().map(|s| s.to_string()).collect()).unwrap(),
            municipality_number: muni.map(str::to_string),
        }
    }

    #[test]
    fn only_the_schools_principal_or_its_owner() {
        assert_eq!(
            decide(&who(Role::Rektor, &["s1"], None), "s1", Some("4601")),
            Ok(Route::Rektor)
        );
        assert!(decide(&who(Role::Rektor, &["s2"], None), "s1", Some("4601")).is_err());
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
}
