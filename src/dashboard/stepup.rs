//! Step-up sign-in: an action whose required assurance level is above the level
//! in force for the session sends the person back to the identity provider for a
//! stronger sign-in, then returns them to the confirmation they started.
//!
//! Input: the [`Session`] (its proven level and when, [`crate::assurance::Proven`]),
//! the [`Action`] and `[assurance]` from configuration. Output: `Ok(())` when the
//! level suffices ([`require_level`]); otherwise a [`StepUp`] that a handler turns
//! into a response ([`step_up`]): for a page (GET), a redirect to
//! `/dashboard/logg-inn?niva=…&til=…` (which asks the provider with `acr_values`
//! and `prompt=login`); after a form (POST), a page explaining what is needed
//! with a link to that sign-in (a form may only post to dokflyt itself, CSP
//! `form-action 'self'`). The form's values, when they matter, are kept in the
//! session ([`Pending`]), never in the URL. Every step-up is audited as a refusal
//! with the level that was required and the level the session had.
//! Failure: a callback whose level is still too low shows [`still_too_low`]
//! (Norwegian, no automatic retry, so no loop).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;

use super::session::{self, Pending, Session};
use super::{page, problem, unavailable, DashboardState, SignedIn};
use crate::assurance::{Action, Level};
use crate::audit::{self, Entry, Verdict};

/// The session's level is below what an action requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{action:?} requires assurance level {required}, the session has {effective}")]
pub struct StepUp {
    pub action: Action,
    pub required: Level,
    pub effective: Level,
}

/// Whether `session`'s level in force meets what `action` requires.
pub fn require_level(
    state: &DashboardState,
    session: &Session,
    action: Action,
) -> Result<(), StepUp> {
    let required = state.assurance.required(action);
    let effective = session.level(&state.assurance);
    if effective >= required {
        Ok(())
    } else {
        Err(StepUp {
            action,
            required,
            effective,
        })
    }
}

/// What the action is called on the step-up page.
fn action_nb(a: Action) -> &'static str {
    match a {
        Action::ReadLists => "Å lese listene",
        Action::PreviewProtected => "Å se et dokument som er unntatt offentlighet",
        Action::ActOnProtected => "Å endre et dokument som er unntatt offentlighet",
        Action::SmsSend => "Å sende beredskaps-SMS",
        Action::SmsApprove => "Å godkjenne beredskaps-SMS",
        Action::GrantRights => "Å gi eller fjerne rettigheter",
    }
}

/// The sign-in URL that asks for `level` and comes back to `return_to`.
pub fn signin_href(level: Level, return_to: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("niva", level.as_str());
    s.append_pair("til", return_to);
    format!("/dashboard/logg-inn?{}", s.finish())
}

/// What a step-up refused, for the audit log, and where to come back to.
pub struct Refused<'a> {
    /// The action's audit name (`archive.preview`, `sms.send`, …).
    pub audit_action: &'a str,
    pub school: Option<&'a str>,
    pub target: Option<&'a str>,
    /// The dashboard path to come back to after the stronger sign-in.
    pub return_to: &'a str,
    /// The confirmation's values to keep in the session meanwhile.
    pub pending: Option<&'a Pending>,
}

/// Answers a [`StepUp`]: audits the refusal (with the missing level), keeps
/// `pending` in the session, and sends the person to a stronger sign-in that
/// comes back to `return_to`.
pub async fn step_up(
    state: &DashboardState,
    session: &Session,
    method: &Method,
    need: StepUp,
    refused: &Refused<'_>,
) -> Response {
    let Refused {
        audit_action,
        school,
        target,
        return_to,
        pending,
    } = *refused;
    let reason = format!(
        "Krever innlogging på nivå {} (økten har {}).",
        need.required.norwegian(),
        need.effective.norwegian()
    );
    if let Err(e) = audit::record(
        state.pool(),
        &Entry {
            actor: &session.actor,
            school_id: school,
            action: audit_action,
            target,
            outcome: Verdict::Refused,
            reason: Some(&reason),
            details: json!({
                "assurance_action": need.action.as_str(),
                "required_level": need.required,
                "session_level": need.effective,
                "missing_level": need.required,
            }),
        },
    )
    .await
    {
        tracing::warn!(error = %e, "dashboard: a step-up could not be audited");
    }
    if let Some(p) = pending {
        if let Err(e) = session::set_pending(state.pool(), session, Some(p)).await {
            tracing::warn!(error = %e, "dashboard: cannot keep the confirmation for a step-up");
            return unavailable(state);
        }
    }
    let href = signin_href(need.required, return_to);
    if method == Method::GET {
        return Redirect::to(&href).into_response();
    }
    let mut ctx = tera::Context::new();
    ctx.insert("title", "Sterkere innlogging kreves");
    ctx.insert(
        "message",
        &format!(
            "{} krever sterkere innlogging enn den du har nå.",
            action_nb(need.action)
        ),
    );
    ctx.insert("have", need.effective.norwegian());
    ctx.insert("need", need.required.norwegian());
    ctx.insert("signin_href", &href);
    ctx.insert("back_href", return_to);
    let mut resp = page(state, session, "", "steg_opp.html", ctx);
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp
}

/// The callback's answer when the new sign-in is still below the level asked for.
pub fn still_too_low(
    state: &DashboardState,
    wanted: Level,
    achieved: Level,
    return_to: &str,
) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("title", "Innloggingen var ikke sterk nok");
    ctx.insert(
        "message",
        &format!(
            "Du logget inn på nivå {}, men handlingen krever nivå {}. Handlingen er ikke utført. \
             Velg en sterkere innloggingsmetode hos innloggingstjenesten og prøv igjen.",
            achieved.norwegian(),
            wanted.norwegian()
        ),
    );
    ctx.insert("have", achieved.norwegian());
    ctx.insert("need", wanted.norwegian());
    ctx.insert("signin_href", &signin_href(wanted, return_to));
    ctx.insert("back_href", "/dashboard/arkivlogg");
    match state.views.render("steg_opp.html", &ctx) {
        Ok(html) => (StatusCode::FORBIDDEN, Html(html)).into_response(),
        Err(_) => problem(
            state,
            StatusCode::FORBIDDEN,
            "Innloggingen var ikke sterk nok",
            "Handlingen krever sterkere innlogging.",
        ),
    }
}

/// Templates `/dashboard/fortsett` may render from a kept confirmation.
const RESUMABLE: [&str; 1] = ["sms_preview.html"];

/// `GET /dashboard/fortsett`: the confirmation page kept in the session, shown
/// again (with the session's current CSRF token) after a step-up.
pub async fn resume(State(state): State<DashboardState>, SignedIn(session): SignedIn) -> Response {
    let kept = session
        .pending
        .as_ref()
        .filter(|p| p.return_to == "/dashboard/fortsett")
        .and_then(|p| {
            p.template
                .as_deref()
                .filter(|t| RESUMABLE.contains(t))
                .map(|t| (t.to_string(), p))
        });
    let Some((template, p)) = kept else {
        return problem(
            &state,
            StatusCode::NOT_FOUND,
            "Ingenting å fortsette",
            "Det er ingen bekreftelse som venter. Start handlingen på nytt.",
        );
    };
    let ctx = match tera::Context::from_value(serde_json::Value::Object(p.context.clone())) {
        Ok(c) => c,
        Err(_) => {
            return problem(
                &state,
                StatusCode::NOT_FOUND,
                "Ingenting å fortsette",
                "Bekreftelsen kunne ikke vises igjen. Start handlingen på nytt.",
            )
        }
    };
    page(&state, &session, &p.nav, &template, ctx)
}

/// Keeps a confirmation page rendered from a POST (its template and context)
/// in the session, so `/dashboard/fortsett` can show it again after a step-up.
/// A failure is logged: the page still shows, only the return would start over.
pub async fn keep_confirmation(
    state: &DashboardState,
    session: &Session,
    nav: &str,
    template: &str,
    ctx: &tera::Context,
) {
    let context = match ctx.clone().into_json() {
        serde_json::Value::Object(m) => m,
        _ => return,
    };
    let pending = Pending {
        return_to: "/dashboard/fortsett".into(),
        template: Some(template.to_string()),
        nav: nav.to_string(),
        context,
    };
    if let Err(e) = session::set_pending(state.pool(), session, Some(&pending)).await {
        tracing::warn!(error = %e, "dashboard: cannot keep a confirmation");
    }
}

/// Where to come back to after a step-up from a kept confirmation whose
/// `p.<field>` is `value` (the SMS preview token): `/dashboard/fortsett`, or
/// the SMS page (start over) when the session keeps another confirmation.
pub fn confirmation_of<'a>(session: &'a Session, field: &str, value: &str) -> &'a str {
    let kept = session.pending.as_ref().is_some_and(|p| {
        p.return_to == "/dashboard/fortsett"
            && p.context
                .get("p")
                .and_then(|v| v.get(field))
                .and_then(|v| v.as_str())
                == Some(value)
    });
    if kept {
        "/dashboard/fortsett"
    } else {
        "/dashboard/sms"
    }
}
