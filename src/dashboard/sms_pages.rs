//! The dashboard's Beredskaps-SMS pages: a principal composes an emergency SMS,
//! sees the preview (recipients per group, unreachable, segments, exact cost),
//! confirms, and follows the progress; the school's cost ledger per month; and
//! the approval page, where a second person approves a message that waits (over
//! the cost cap or the recipient limit).
//!
//! Input: a [`SignedIn`] `rektor` (compose and approve, for their school),
//! `skoleeier` (approve, for the schools of their municipality) or `kommuneadmin`
//! (the ledger); forms with the session's CSRF token; the message text is posted,
//! never put in a URL. The dashboard session is the proof of the person for send
//! and approve (the API needs a person assertion instead). Output: HTML pages; a
//! small JSON status for the progress (`app.js` polls it). Failure: the decisions
//! and Norwegian reasons of `sms::request` (who may send or approve, preview
//! token, hourly limit, daily cap, a different person to approve) as
//! 403/404/409/422/429 pages; every decision is audited there.
//! Sending needs the assurance level `[assurance.required] sms_send`, approving
//! `sms_approve` (via [`super::stepup::require_level`]); below it the person
//! steps up and comes back to the same confirmation (kept in the session).

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::pages::oslo;
use super::{guard_action, page, problem, unavailable, DashboardState, SignedIn};
use crate::access::{Actor, Role};
use crate::assurance::Action;
use crate::sms::request::{self, ApproveRequest, Channel, PreviewRequest, SendRequest};
use crate::sms::{cost, SmsError};

pub fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/dashboard/sms", get(sms_page))
        .route(
            "/dashboard/sms/forhandsvis",
            post(preview).get(back_to_preview),
        )
        .route("/dashboard/sms/send", post(send).get(back_to_sms))
        .route("/dashboard/sms/telling", post(live_count))
        .route("/dashboard/sms/melding/{id}", get(message))
        .route("/dashboard/sms/melding/{id}/status", get(message_status))
        .route("/dashboard/sms/godkjenning", get(approvals))
        .route(
            "/dashboard/sms/godkjenning/{id}",
            get(approve_page).post(approve),
        )
}

/// Whether `actor` may open the SMS page of `school` (send: rektor; read the
/// ledger: rektor or kommuneadmin). `sms::request` decides the send itself.
fn may_open(actor: &Actor, school: &str) -> bool {
    match actor.role {
        Role::Rektor => actor.covers_school(school),
        Role::Kommuneadmin => true,
        _ => false,
    }
}

async fn refuse(state: &DashboardState, actor: &Actor, school: Option<&str>) -> Response {
    let reason = match actor.role {
        Role::Rektor | Role::Kommuneadmin => {
            "Du har ikke tilgang til denne skolens beredskapsmeldinger."
        }
        _ => "Bare rektor kan sende beredskapsmelding fra dashbordet.",
    };
    super::refuse(state, actor, school, "sms.page", reason).await
}

fn sms_error(state: &DashboardState, e: SmsError) -> Response {
    let (code, title) = match &e {
        SmsError::Forbidden(_) => (StatusCode::FORBIDDEN, "Ingen tilgang"),
        SmsError::Invalid(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Meldingen kan ikke sendes",
        ),
        SmsError::Conflict(_) => (StatusCode::CONFLICT, "Meldingen kan ikke sendes"),
        SmsError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "Grensen er nådd"),
        SmsError::NotFound => (StatusCode::NOT_FOUND, "Fant ikke meldingen"),
        SmsError::Cost(err) => {
            tracing::error!(error = %err, "dashboard: no SMS price");
            return problem(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Prisen mangler",
                "Prisen for SMS er ikke satt opp; kontakt driften.",
            );
        }
        SmsError::Db(err) => {
            tracing::warn!(error = %err, "dashboard: SMS database error");
            return unavailable(state);
        }
    };
    problem(state, code, title, &e.to_string())
}

/// A GET on the preview's form address (a reload, the back button): the kept
/// confirmation while it is there (its token still unused), else the SMS page.
async fn back_to_preview(SignedIn(session): SignedIn) -> Response {
    let kept = session
        .pending
        .as_ref()
        .is_some_and(|p| p.return_to == "/dashboard/fortsett");
    Redirect::to(if kept {
        "/dashboard/fortsett"
    } else {
        "/dashboard/sms"
    })
    .into_response()
}

/// A GET on the send form's address: the SMS page.
async fn back_to_sms() -> Response {
    Redirect::to("/dashboard/sms").into_response()
}

#[derive(Deserialize)]
struct SmsQuery {
    school: Option<String>,
    month: Option<String>,
}

async fn sms_page(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<SmsQuery>,
) -> Response {
    let actor = &session.actor;
    let school = q
        .school
        .filter(|s| !s.is_empty())
        .or_else(|| actor.schools.first().cloned());
    let Some(school) = school else {
        if actor.role == Role::Kommuneadmin {
            let mut ctx = tera::Context::new();
            ctx.insert("school", &Option::<String>::None);
            ctx.insert(
                "schools",
                &super::pages::school_choices(&state, actor, None).await,
            );
            return page(&state, &session, "sms", "sms.html", ctx);
        }
        return refuse(&state, actor, None).await;
    };
    if !may_open(actor, &school) {
        return refuse(&state, actor, Some(&school)).await;
    }
    let month = q
        .month
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| crate::calendar::today_in_oslo().format("%Y-%m").to_string());
    let report = match cost::month_report(state.pool(), &school, &month).await {
        Ok(r) => r,
        Err(SmsError::Cost(e)) => return sms_error(&state, SmsError::Invalid(e.to_string())),
        Err(e) => return sms_error(&state, e),
    };
    let ledger: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            json!({
                "booked": oslo(r.booked_at),
                "message_id": r.message_id.to_string(),
                "sms_count": r.sms_count,
                "price": cost::nok(r.price_ore),
                "cost": cost::nok(r.cost_ore),
            })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("school", &Some(&school));
    ctx.insert(
        "schools",
        &super::pages::school_choices(&state, actor, Some(&school)).await,
    );
    ctx.insert("may_compose", &(actor.role == Role::Rektor));
    // A school with a Sámi setting gets a field for the Sámi text.
    let sami = match request::whole_text(&state.sms, &school, "", None).await {
        Ok((_, sami)) => sami,
        Err(e) => return sms_error(&state, SmsError::Db(e)),
    };
    ctx.insert("sami", &sami);
    ctx.insert("month", &month);
    ctx.insert("month_name", &super::pages::month_nb(&month));
    ctx.insert("ledger", &ledger);
    ctx.insert("ledger_messages", &report.messages);
    ctx.insert("ledger_sms", &report.sms_count);
    ctx.insert("ledger_cost", &report.cost_nok);
    page(&state, &session, "sms", "sms.html", ctx)
}

#[derive(Deserialize)]
struct ComposeForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    school: String,
    tekst: String,
    /// The Sámi text (only offered for a school with a Sámi setting).
    #[serde(default)]
    samisk: Option<String>,
    begrunnelse: String,
    #[serde(default)]
    skoleeiers_instruks: Option<String>,
}

async fn preview(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<ComposeForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    let req = PreviewRequest {
        text: f.tekst.clone(),
        reason: f.begrunnelse.clone(),
        on_owner_instruction: f.skoleeiers_instruks.is_some(),
        sami_text: f.samisk.clone(),
    };
    let p = match request::preview(
        &state.sms,
        &f.school,
        &session.actor,
        Channel::Dashboard,
        &req,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return sms_error(&state, e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("school", &f.school);
    // The whole SMS as it is sent: the Norwegian, then any Sámi text.
    ctx.insert("text", &p.message);
    ctx.insert("reason", &f.begrunnelse);
    ctx.insert("p", &p);
    ctx.insert("expires", &oslo(p.expires_at));
    // Kept server-side, so a step-up at «Send» comes back to this confirmation.
    super::stepup::keep_confirmation(&state, &session, "sms", "sms_preview.html", &ctx).await;
    page(&state, &session, "sms", "sms_preview.html", ctx)
}

#[derive(Deserialize)]
struct CountForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    school: String,
    #[serde(default)]
    tekst: String,
    #[serde(default)]
    samisk: Option<String>,
}

/// The compose page's live count (`app.js` posts the text as it is typed; the
/// text is never put in a URL): the same counter as `dokflyt sms count` and the
/// preview, the reachable numbers, the cost, and the characters that force
/// UCS-2 with their GSM stand-ins. Needs the CSRF token, not the action limit
/// (typing is not an action); nothing is stored or audited.
async fn live_count(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<CountForm>,
) -> Response {
    if !session.csrf_ok(f.csrf.as_deref()) {
        return super::csrf_refused(&state);
    }
    if !(session.actor.role == Role::Rektor && session.actor.covers_school(&f.school)) {
        return refuse(&state, &session.actor, Some(&f.school)).await;
    }
    // The whole text as it will be sent (with the Sámi part for a school with a
    // Sámi setting), counted as the preview counts it.
    let (whole, sami) =
        match request::whole_text(&state.sms, &f.school, &f.tekst, f.samisk.as_deref()).await {
            Ok(w) => w,
            Err(e) => return sms_error(&state, SmsError::Db(e)),
        };
    let count = crate::sms::segments::count(&whole);
    let numbers = match crate::sms::recipients::for_school(state.pool(), &f.school).await {
        Ok(set) => set.numbers.len() as i64,
        Err(e) => return sms_error(&state, SmsError::Db(e)),
    };
    let price = match cost::price_on(&state.sms.settings.prices, crate::calendar::today_in_oslo()) {
        Ok(p) => p,
        Err(e) => return sms_error(&state, SmsError::Cost(e)),
    };
    let max = state.sms.settings.max_segments;
    let cost_ore = cost::cost_ore(numbers, count.segments as i64, price);
    // Stand-ins are offered for the Norwegian text only, and only while the Sámi
    // part (whose letters always need UCS-2) does not force UCS-2 anyway.
    let sami_only = whole.strip_prefix(f.tekst.trim_end()).unwrap_or("");
    let sami_forces_ucs2 = !sami_only.trim().is_empty()
        && crate::sms::segments::count(sami_only).encoding == crate::sms::segments::Encoding::Ucs2;
    let norwegian_ucs2 = if sami_forces_ucs2 {
        Vec::new()
    } else {
        crate::sms::segments::ucs2_characters(&f.tekst)
    };
    let ucs2: Vec<serde_json::Value> = norwegian_ucs2
        .into_iter()
        .map(|(c, r)| json!({ "char": c.to_string(), "replacement": r }))
        .collect();
    let (single, part) = crate::sms::segments::capacity(count.encoding);
    let per_segment = if count.segments <= 1 { single } else { part };
    Json(json!({
        "characters": count.characters,
        "segments": count.segments,
        "encoding": count.encoding,
        "per_segment": per_segment,
        "max_segments": max,
        "too_long": count.segments > max,
        "numbers": numbers,
        "cost": super::words::kroner(&cost::nok(cost_ore)),
        "price": super::words::kroner(&cost::nok(price.ore)),
        "ucs2": ucs2,
        "sami": sami,
        "sami_forces_ucs2": sami_forces_ucs2,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    school: String,
    token: Uuid,
}

async fn send(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<SendForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    if session.actor.role == Role::Rektor && session.actor.covers_school(&f.school) {
        let check = super::stepup::require_level(&state, &session, Action::SmsSend);
        if let Err(need) = check {
            let to = super::stepup::confirmation_of(&session, "token", &f.token.to_string());
            let target = f.token.to_string();
            return super::stepup::step_up(
                &state,
                &session,
                &Method::POST,
                need,
                &super::stepup::Refused {
                    audit_action: "sms.send",
                    school: Some(&f.school),
                    target: Some(&target),
                    return_to: to,
                    pending: None,
                },
            )
            .await;
        }
    }
    let req = SendRequest {
        preview_token: f.token,
    };
    match request::send(
        &state.sms,
        &f.school,
        &session.actor,
        Channel::Dashboard,
        &req,
    )
    .await
    {
        Ok(sent) => {
            if session.pending.is_some() {
                let _ = super::session::set_pending(state.pool(), &session, None).await;
            }
            let school: String =
                url::form_urlencoded::byte_serialize(f.school.as_bytes()).collect();
            Redirect::to(&format!(
                "/dashboard/sms/melding/{}?school={school}",
                sent.message_id
            ))
            .into_response()
        }
        Err(e) => sms_error(&state, e),
    }
}

#[derive(Deserialize)]
struct MessageQuery {
    school: String,
}

#[derive(Deserialize)]
struct MaybeSchool {
    school: Option<String>,
}

async fn message(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<Uuid>,
    Query(q): Query<MaybeSchool>,
) -> Response {
    // Without `?school=` (a shortened link): the message's own school, when the
    // person may read it; otherwise the same answer as a missing message.
    let Some(school) = q.school.filter(|s| !s.is_empty()) else {
        let found = crate::sms::message::school_of(state.pool(), id).await;
        return match found {
            Ok(Some(s)) if may_open(&session.actor, &s) => {
                Redirect::to(&message_path(id, &s)).into_response()
            }
            Ok(_) => sms_error(&state, SmsError::NotFound),
            Err(e) => sms_error(&state, SmsError::Db(e)),
        };
    };
    let q = MessageQuery { school };
    if let Err(e) = request::check_read(&state.sms, &session.actor, &q.school, "sms.status").await {
        return sms_error(&state, e);
    }
    let s = match request::message_status(&state.sms, &q.school, id).await {
        Ok(s) => s,
        Err(e) => return sms_error(&state, e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("school", &q.school);
    ctx.insert("s", &s);
    ctx.insert("id", &id.to_string());
    page(&state, &session, "sms", "sms_message.html", ctx)
}

async fn message_status(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<Uuid>,
    Query(q): Query<MessageQuery>,
) -> Response {
    if let Err(e) = request::check_read(&state.sms, &session.actor, &q.school, "sms.status").await {
        return sms_error(&state, e);
    }
    match request::message_status(&state.sms, &q.school, id).await {
        Ok(s) => {
            // The page's script shows the Norwegian words; the raw values stay.
            let mut v = serde_json::to_value(&s).unwrap_or_else(|_| json!({}));
            if let Some(o) = v.as_object_mut() {
                let status = o.get("status").and_then(|x| x.as_str()).unwrap_or("");
                let status_nb = super::words::status(status).to_string();
                let labels: serde_json::Map<String, serde_json::Value> = o
                    .get("recipients")
                    .and_then(|r| r.as_object())
                    .map(|r| {
                        r.keys()
                            .map(|k| (k.clone(), json!(super::words::status(k))))
                            .collect()
                    })
                    .unwrap_or_default();
                o.insert("status_nb".into(), json!(status_nb));
                o.insert("labels".into(), serde_json::Value::Object(labels));
            }
            Json(v).into_response()
        }
        Err(e) => sms_error(&state, e),
    }
}

/// The schools `actor` may approve messages for: a principal's own, a school
/// owner's municipality's (none when the session carries no municipality).
async fn approvable_schools(
    state: &DashboardState,
    actor: &Actor,
) -> Result<Vec<String>, SmsError> {
    Ok(match actor.role {
        Role::Rektor => actor.schools.clone(),
        Role::Skoleeier => match &actor.municipality_number {
            Some(m) => crate::access::schools_of_municipality(state.pool(), m).await?,
            None => Vec::new(),
        },
        _ => Vec::new(),
    })
}

fn awaiting_json(a: &request::Awaiting, me: &Actor) -> serde_json::Value {
    json!({
        "message_id": a.message_id.to_string(),
        "school_id": a.school_id,
        "text": a.text,
        "reason": a.reason,
        "numbers": a.numbers,
        "cost_nok": a.cost_nok,
        "why": a.why,
        "created": oslo(a.created_at),
        "mine": a.requested_by == me.user,
    })
}

async fn approvals(State(state): State<DashboardState>, SignedIn(session): SignedIn) -> Response {
    let actor = &session.actor;
    if !matches!(actor.role, Role::Rektor | Role::Skoleeier) {
        return super::refuse(
            &state,
            actor,
            None,
            "sms.approvals",
            "Bare rektor eller skoleeier kan godkjenne beredskapsmeldinger.",
        )
        .await;
    }
    let schools = match approvable_schools(&state, actor).await {
        Ok(s) => s,
        Err(e) => return sms_error(&state, e),
    };
    let list = match request::awaiting_approval(state.pool(), &schools).await {
        Ok(l) => l,
        Err(e) => return sms_error(&state, e),
    };
    let messages: Vec<serde_json::Value> = list.iter().map(|a| awaiting_json(a, actor)).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("messages", &messages);
    page(&state, &session, "sms", "sms_approvals.html", ctx)
}

/// A school the actor may approve for, else the refusal page (audited). An id
/// from another school answers like a missing one.
async fn may_approve(state: &DashboardState, actor: &Actor, school: &str) -> Option<Response> {
    match approvable_schools(state, actor).await {
        Ok(s) if s.iter().any(|x| x == school) => None,
        Ok(_) => Some(
            super::refuse(
                state,
                actor,
                Some(school),
                "sms.approve",
                "Du kan ikke godkjenne beredskapsmeldinger for denne skolen.",
            )
            .await,
        ),
        Err(e) => Some(sms_error(state, e)),
    }
}

async fn approve_page(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<Uuid>,
    Query(q): Query<MessageQuery>,
) -> Response {
    if let Some(r) = may_approve(&state, &session.actor, &q.school).await {
        return r;
    }
    let a = match request::awaiting_one(state.pool(), &q.school, id).await {
        Ok(a) => a,
        Err(e) => return sms_error(&state, e),
    };
    if a.requested_by == session.actor.user {
        return sms_error(
            &state,
            SmsError::Forbidden("En annen person enn den som sendte må godkjenne".into()),
        );
    }
    if let Err(r) = approve_level(&state, &session, &Method::GET, id, &q.school).await {
        return r;
    }
    let mut ctx = tera::Context::new();
    ctx.insert("m", &awaiting_json(&a, &session.actor));
    page(&state, &session, "sms", "sms_approve.html", ctx)
}

#[derive(Deserialize)]
struct ApproveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    school: String,
    #[serde(default)]
    bekreft: Option<String>,
    #[serde(default)]
    begrunnelse: Option<String>,
}

/// The progress page of message `id` at `school`.
fn message_path(id: Uuid, school: &str) -> String {
    let school: String = url::form_urlencoded::byte_serialize(school.as_bytes()).collect();
    format!("/dashboard/sms/melding/{id}?school={school}")
}

/// The approval page of message `id` at `school` (where a step-up comes back to).
fn approve_path(id: Uuid, school: &str) -> String {
    let school: String = url::form_urlencoded::byte_serialize(school.as_bytes()).collect();
    format!("/dashboard/sms/godkjenning/{id}?school={school}")
}

/// Approving needs `[assurance.required] sms_approve`: below it, the person is
/// sent to a stronger sign-in that comes back to the approval page (audited).
async fn approve_level(
    state: &DashboardState,
    session: &super::session::Session,
    method: &Method,
    id: Uuid,
    school: &str,
) -> Result<(), Response> {
    let Err(need) = super::stepup::require_level(state, session, Action::SmsApprove) else {
        return Ok(());
    };
    let here = approve_path(id, school);
    let target = id.to_string();
    Err(super::stepup::step_up(
        state,
        session,
        method,
        need,
        &super::stepup::Refused {
            audit_action: "sms.approve",
            school: Some(school),
            target: Some(&target),
            return_to: &here,
            pending: None,
        },
    )
    .await)
}

async fn approve(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<Uuid>,
    Form(f): Form<ApproveForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    if let Some(r) = may_approve(&state, &session.actor, &f.school).await {
        return r;
    }
    if let Err(r) = approve_level(&state, &session, &Method::POST, id, &f.school).await {
        return r;
    }
    if f.bekreft.as_deref() != Some("ja") {
        return sms_error(
            &state,
            SmsError::Invalid("Bekreft at du har lest meldingen før du godkjenner".into()),
        );
    }
    let req = ApproveRequest {
        reason: f.begrunnelse.filter(|r| !r.trim().is_empty()),
    };
    match request::approve(&state.sms, &f.school, id, &session.actor, &req).await {
        Ok(_) => {
            let school: String =
                url::form_urlencoded::byte_serialize(f.school.as_bytes()).collect();
            Redirect::to(&format!("/dashboard/sms/melding/{id}?school={school}")).into_response()
        }
        Err(e) => sms_error(&state, e),
    }
}
