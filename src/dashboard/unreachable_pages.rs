//! The dashboard page «Ikke nådd»: the school's open tasks for guardians no
//! channel could reach with a document (`channels::unreachable`), «Merk som løst»,
//! and the reachability report (open and resolved tasks per school and reason).
//!
//! Input: a [`SignedIn`] user, an optional school filter, and for the action the
//! task id and the session's CSRF token. Output: an HTML page, a 303 back to it
//! after resolving. Failure: 403 for a school outside the user's scope (audited),
//! 404 for a task of another school (audited, like a document of another school),
//! 503 when the database is down. Guardians appear by initials only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::json;

use super::pages::{oslo, school_choices};
use super::{guard_action, page, problem, refuse, unavailable, DashboardState, SignedIn};
use crate::archive::staff;
use crate::audit::{self, Entry, Verdict};
use crate::channels::unreachable::{self, Reason};
use crate::event::DocumentType;

pub fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/dashboard/ikke-nadd", get(tasks))
        .route(
            "/dashboard/ikke-nadd/{id}/lost",
            post(resolve).get(|| async { Redirect::to("/dashboard/ikke-nadd") }),
        )
}

#[derive(Deserialize)]
struct TaskQuery {
    school: Option<String>,
    melding: Option<String>,
}

fn db_down(state: &DashboardState, e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "dashboard: database error");
    unavailable(state)
}

fn type_name(key: &str) -> String {
    key.parse::<DocumentType>()
        .map(|t| t.name_nb().to_string())
        .unwrap_or_else(|_| key.to_string())
}

fn reason_label(code: &str) -> String {
    Reason::parse(code)
        .map(|r| r.label_nb().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// Ikke nådd: open tasks, and the report, of the schools in scope.
async fn tasks(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<TaskQuery>,
) -> Response {
    let actor = &session.actor;
    let school = q.school.filter(|s| !s.is_empty());
    let scope = staff::school_scope(actor, school.as_deref());
    let allowed = match &scope {
        Some(list) => list.iter().all(|s| staff::may_read(actor, Some(s))),
        None => staff::may_read(actor, None),
    };
    if !allowed {
        let reason = "Du har ikke tilgang til oppgavene for denne skolen.";
        return refuse(&state, actor, school.as_deref(), "unreachable.list", reason).await;
    }
    let open = match unreachable::open_tasks(state.pool(), scope.clone()).await {
        Ok(t) => t,
        Err(e) => return db_down(&state, e),
    };
    let report = match unreachable::report(state.pool(), scope).await {
        Ok(r) => r,
        Err(e) => return db_down(&state, e),
    };
    let rows: Vec<serde_json::Value> = open
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "event_id": t.event_id.to_string(),
                "school_id": t.school_id,
                "type_name": type_name(&t.document_type),
                "initials": t.initials,
                "reason": t.reason,
                "reason_nb": t.reason_nb,
                "created": oslo(t.created_at),
            })
        })
        .collect();
    let report: Vec<serde_json::Value> = report
        .into_iter()
        .map(|r| {
            json!({
                "school_id": r.school_id,
                "reason": r.reason,
                "label": reason_label(&r.reason),
                "open": r.open,
                "resolved": r.resolved,
            })
        })
        .collect();
    let flash = match q.melding.as_deref() {
        Some("lost") => Some("Oppgaven er merket som løst."),
        Some("allerede") => Some("Oppgaven var allerede løst."),
        _ => None,
    };
    let mut ctx = tera::Context::new();
    ctx.insert("rows", &rows);
    ctx.insert("report", &report);
    ctx.insert("flash", &flash);
    ctx.insert("school", &school);
    ctx.insert(
        "schools",
        &school_choices(&state, actor, school.as_deref()).await,
    );
    page(&state, &session, "ikke-nadd", "ikke_nadd.html", ctx)
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

/// «Merk som løst»: records who resolved the task, in the task and the audit log.
async fn resolve(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    let actor = &session.actor;
    let not_found = || {
        problem(
            &state,
            StatusCode::NOT_FOUND,
            "Fant ikke oppgaven",
            "Oppgaven finnes ikke.",
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let task = match unreachable::task_by_id(state.pool(), id).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => return db_down(&state, e),
    };
    let target = id.to_string();
    if !staff::may_read(actor, Some(&task.school_id)) {
        let entry = Entry {
            actor,
            school_id: Some(&task.school_id),
            action: "unreachable.resolve",
            target: Some(&target),
            outcome: Verdict::Refused,
            reason: Some("Oppgaven hører til en skole brukeren ikke har tilgang til."),
            details: json!({}),
        };
        if let Err(e) = audit::record(state.pool(), &entry).await {
            return db_down(&state, e);
        }
        return not_found();
    }
    let done = match unreachable::resolve(state.pool(), id, &actor.user).await {
        Ok(d) => d,
        Err(e) => return db_down(&state, e),
    };
    if done {
        let entry = Entry {
            actor,
            school_id: Some(&task.school_id),
            action: "unreachable.resolve",
            target: Some(&target),
            outcome: Verdict::Granted,
            reason: None,
            details: json!({
                "event_id": task.event_id.to_string(),
                "reason": task.reason,
            }),
        };
        if let Err(e) = audit::record(state.pool(), &entry).await {
            return db_down(&state, e);
        }
    }
    let melding = if done { "lost" } else { "allerede" };
    Redirect::to(&format!("/dashboard/ikke-nadd?melding={melding}")).into_response()
}
