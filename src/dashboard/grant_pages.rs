//! The dashboard's «Tilganger» page: a kommuneadmin, skoleadmin or rektor sees
//! the grants in their scope, gives a role, removes one, and — from 1 August —
//! renews every expired grant of a school in one action (issue 24, item 1).
//!
//! Input: a [`SignedIn`] person whose role may grant ([`crate::grants::layer`] 2
//! or more); forms with the session's CSRF token, signed in at
//! `[assurance.required] grant_rights` (else a step-up). Output: the page, and
//! after an action a 303 back to it with what was done. Every decision goes
//! through the one grant matrix ([`crate::grants::may_grant`]) with the injected
//! clock's date. Failure: a refusal is a Norwegian 403 page (a grant outside the
//! scope answers like a missing one, 404; a grantee not in the roster, 422), and
//! is audited; database trouble is a 503.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::stepup::{self, Refused};
use super::{guard_action, page, problem, unavailable, DashboardState, SignedIn};
use crate::access::{school_municipality, Role};
use crate::assurance::Action;
use crate::audit::{self, Entry, Verdict};
use crate::grants::store::{self, GrantRow, NewGrant};
use crate::grants::{self, Granter, Refusal};

const PAGE: &str = "/dashboard/tilganger";

pub fn routes() -> Router<DashboardState> {
    Router::new()
        .route(PAGE, get(grants_page))
        .route("/dashboard/tilganger/gi", post(give).get(back))
        .route("/dashboard/tilganger/forny", post(renew).get(back))
        .route("/dashboard/tilganger/{id}/fjern", post(remove).get(back))
}

/// A GET on a form's address (a reload, the back button): the page.
async fn back() -> Response {
    Redirect::to(PAGE).into_response()
}

fn granter(session: &super::session::Session) -> Granter<'_> {
    Granter {
        actor: &session.actor,
        staff_id: session.staff_id.as_deref(),
    }
}

/// Audits `refusal` of `action` and answers it with its Norwegian reason.
async fn refused(
    state: &DashboardState,
    session: &super::session::Session,
    school: Option<&str>,
    action: &str,
    target: Option<&str>,
    refusal: Refusal,
) -> Response {
    let reason = refusal.norwegian();
    if let Err(e) = audit::record(
        state.pool(),
        &Entry {
            actor: &session.actor,
            school_id: school,
            action,
            target,
            outcome: Verdict::Refused,
            reason: Some(reason),
            details: json!({ "refusal": refusal.code() }),
        },
    )
    .await
    {
        tracing::warn!(error = %e, action, "dashboard: a refusal could not be audited");
    }
    let (status, title) = match refusal {
        Refusal::NoSuchGrant => (StatusCode::NOT_FOUND, "Fant ikke tildelingen"),
        Refusal::NotStaff => (StatusCode::UNPROCESSABLE_ENTITY, "Rollen ble ikke gitt"),
        _ => (StatusCode::FORBIDDEN, "Ingen tilgang"),
    };
    problem(state, status, title, reason)
}

/// The roles `session` may grant somewhere (for the form's choice).
fn roles_to_offer(session: &super::session::Session) -> Vec<&'static str> {
    let own = grants::layer(session.actor.role);
    Role::ALL
        .into_iter()
        .filter(|r| grants::grantable(*r) && grants::layer(*r) < own)
        .map(Role::as_str)
        .collect()
}

/// Whether `session` may grant (and so renew or remove) grant `g`.
fn may_handle(session: &super::session::Session, g: &GrantRow) -> bool {
    g.role.parse::<Role>().is_ok_and(|role| {
        grants::may_grant(
            granter(session),
            &g.grantee,
            role,
            &g.school_id,
            g.municipality_number.as_deref(),
        )
        .is_ok()
    })
}

/// The grants of `session`'s scope (live ones: in force and expired).
async fn in_scope(
    state: &DashboardState,
    session: &super::session::Session,
) -> sqlx::Result<Vec<GrantRow>> {
    let a = &session.actor;
    if a.role == Role::Kommuneadmin {
        store::list(state.pool(), None, a.municipality_number.as_deref()).await
    } else {
        store::list(state.pool(), Some(&a.schools), None).await
    }
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    grant: GrantRow,
    may_revoke: bool,
    /// The grantee's name in the roster (empty when not in the staff listed).
    name: String,
}

#[derive(Serialize)]
struct Waiting {
    school_id: String,
    grants: Vec<GrantRow>,
    may_renew: bool,
}

#[derive(Deserialize)]
struct PageQuery {
    melding: Option<String>,
    antall: Option<u32>,
}

async fn grants_page(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<PageQuery>,
) -> Response {
    if grants::layer(session.actor.role) < 2 {
        return refused(
            &state,
            &session,
            None,
            "grant.page",
            None,
            Refusal::NoGrantRight,
        )
        .await;
    }
    let now = state.clock.now();
    let today = grants::oslo_date(now);
    if let Err(e) = store::record_expiries(state.pool(), None, today, now).await {
        tracing::warn!(error = %e, "dashboard: cannot record expired grants");
        return unavailable(&state);
    }
    let rows = match in_scope(&state, &session).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot list grants");
            return unavailable(&state);
        }
    };
    let mut active = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    for g in rows {
        if grants::in_force(g.expires_on, today) {
            active.push(Shown {
                may_revoke: may_handle(&session, &g),
                grant: g,
                name: String::new(),
            });
        } else {
            let may = may_handle(&session, &g);
            match waiting.iter_mut().find(|w| w.school_id == g.school_id) {
                Some(w) => {
                    w.may_renew |= may;
                    w.grants.push(g);
                }
                None => waiting.push(Waiting {
                    school_id: g.school_id.clone(),
                    may_renew: may,
                    grants: vec![g],
                }),
            }
        }
    }
    let flash = match (q.melding.as_deref(), q.antall) {
        (Some("gitt"), _) => Some("Rollen er gitt.".to_string()),
        (Some("fjernet"), _) => Some("Rollen er fjernet.".to_string()),
        (Some("fornyet"), Some(n)) => Some(format!("{n} roller er fornyet.")),
        _ => None,
    };
    let schools = super::pages::school_choices(&state, &session.actor, None).await;
    // The staff to pick from (their names help; the form posts the staff id).
    let a = &session.actor;
    let staff = if a.role == Role::Kommuneadmin {
        crate::roster::store::staff_of_schools(state.pool(), None, a.municipality_number.as_deref())
            .await
    } else {
        crate::roster::store::staff_of_schools(state.pool(), Some(&a.schools), None).await
    };
    let staff = match staff {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot list the staff");
            return unavailable(&state);
        }
    };
    let names: std::collections::HashMap<&str, &str> = staff
        .iter()
        .map(|(id, name, _)| (id.as_str(), name.as_str()))
        .collect();
    let name_of = |id: &str| names.get(id).map(|n| n.to_string()).unwrap_or_default();
    for g in &mut active {
        g.name = name_of(&g.grant.grantee);
    }
    let mut ctx = tera::Context::new();
    ctx.insert("flash", &flash);
    ctx.insert("ends_on", &grants::school_year_end(today));
    ctx.insert("roles", &roles_to_offer(&session));
    ctx.insert("schools", &schools);
    ctx.insert("active", &active);
    ctx.insert("waiting", &waiting);
    ctx.insert("staff", &staff);
    page(&state, &session, "tilganger", "tilganger.html", ctx)
}

/// Checks CSRF, the action rate and the sign-in level of a grant action; `Some`
/// is the answer instead.
async fn guard(
    state: &DashboardState,
    session: &super::session::Session,
    csrf: Option<&str>,
    audit_action: &str,
    school: Option<&str>,
) -> Option<Response> {
    if let Some(r) = guard_action(state, session, csrf) {
        return Some(r);
    }
    if let Err(need) = stepup::require_level(state, session, Action::GrantRights) {
        return Some(
            stepup::step_up(
                state,
                session,
                &Method::POST,
                need,
                &Refused {
                    audit_action,
                    school,
                    target: None,
                    return_to: PAGE,
                    pending: None,
                },
            )
            .await,
        );
    }
    None
}

#[derive(Deserialize)]
struct GiveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    ansatt: String,
    #[serde(default)]
    rolle: String,
    #[serde(default)]
    skole: String,
}

async fn give(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<GiveForm>,
) -> Response {
    let school = f.skole.trim();
    let grantee = f.ansatt.trim();
    if let Some(r) = guard(
        &state,
        &session,
        f.csrf.as_deref(),
        "grant.create",
        Some(school),
    )
    .await
    {
        return r;
    }
    let Ok(role) = f.rolle.parse::<Role>() else {
        return refused(
            &state,
            &session,
            Some(school),
            "grant.create",
            None,
            Refusal::NotGrantable,
        )
        .await;
    };
    let pool = state.pool();
    let muni = match school_municipality(pool, school).await {
        Ok(m) => m,
        Err(_) => return unavailable(&state),
    };
    if let Err(r) = grants::may_grant(granter(&session), grantee, role, school, muni.as_deref()) {
        return refused(&state, &session, Some(school), "grant.create", None, r).await;
    }
    match crate::roster::store::staff_is_active(pool, grantee).await {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                &state,
                &session,
                Some(school),
                "grant.create",
                None,
                Refusal::NotStaff,
            )
            .await
        }
        Err(_) => return unavailable(&state),
    }
    let now = state.clock.now();
    let new = NewGrant {
        grantee,
        role,
        school_id: school,
        municipality_number: muni.as_deref(),
        expires_on: grants::school_year_end(grants::oslo_date(now)),
    };
    match store::create(pool, &session.actor, &new, now).await {
        Ok(_) => Redirect::to(&format!("{PAGE}?melding=gitt")).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot store a grant");
            unavailable(&state)
        }
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    begrunnelse: String,
}

async fn remove(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(f): Form<RemoveForm>,
) -> Response {
    if let Some(r) = guard(&state, &session, f.csrf.as_deref(), "grant.revoke", None).await {
        return r;
    }
    let found = match id.parse::<i64>() {
        Ok(n) => match store::get(state.pool(), n).await {
            Ok(g) => g,
            Err(_) => return unavailable(&state),
        },
        Err(_) => None,
    };
    // Another scope's grant answers like a missing one.
    let Some(g) = found.filter(|g| g.revoked_at.is_none() && may_handle(&session, g)) else {
        return refused(
            &state,
            &session,
            None,
            "grant.revoke",
            Some(&id),
            Refusal::NoSuchGrant,
        )
        .await;
    };
    let reason = match f.begrunnelse.trim() {
        "" => "Fjernet i dashbordet",
        r => r,
    };
    match store::revoke(
        state.pool(),
        &session.actor,
        g.id,
        reason,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("{PAGE}?melding=fjernet")).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot revoke a grant");
            unavailable(&state)
        }
    }
}

#[derive(Deserialize)]
struct RenewForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    skole: String,
}

/// Renews every expired grant of one school that the person may grant, to the
/// end of the current school year: one action per school.
async fn renew(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<RenewForm>,
) -> Response {
    let school = f.skole.trim();
    if let Some(r) = guard(
        &state,
        &session,
        f.csrf.as_deref(),
        "grant.renew",
        Some(school),
    )
    .await
    {
        return r;
    }
    let muni = match school_municipality(state.pool(), school).await {
        Ok(m) => m,
        Err(_) => return unavailable(&state),
    };
    // The roles this person may give at this school; `-` is nobody's staff id,
    // so only the role and the scope decide here (their own grants are left out below).
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| grants::may_grant(granter(&session), "-", *r, school, muni.as_deref()).is_ok())
        .collect();
    if roles.is_empty() {
        let why = match grants::may_grant(
            granter(&session),
            "-",
            Role::Laerer,
            school,
            muni.as_deref(),
        ) {
            Err(r) => r,
            Ok(()) => Refusal::NoGrantRight,
        };
        return refused(&state, &session, Some(school), "grant.renew", None, why).await;
    }
    let now = state.clock.now();
    let today = grants::oslo_date(now);
    let until: NaiveDate = grants::school_year_end(today);
    match store::renew_school(
        state.pool(),
        &session.actor,
        &store::Renewal {
            school,
            roles: &roles,
            except_grantee: session.staff_id.as_deref(),
            today,
            until,
        },
        now,
    )
    .await
    {
        Ok(rows) => {
            Redirect::to(&format!("{PAGE}?melding=fornyet&antall={}", rows.len())).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot renew grants");
            unavailable(&state)
        }
    }
}
