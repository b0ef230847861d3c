//! HTTP handlers for emergency SMS (the school system calls these on behalf of a
//! signed-in person) and the gateway's delivery-report callback.
//!
//! - `POST /api/schools/{school}/emergency-sms/preview` — counts, segments, cost, token.
//! - `POST /api/schools/{school}/emergency-sms` — send, quoting `preview_token`.
//! - `POST /api/schools/{school}/emergency-sms/{message}/approve` — a second person
//!   approves a message that waits (over the daily cost cap or the recipient limit).
//! - `GET  /api/schools/{school}/emergency-sms/{message}` — status per recipient state.
//! - `GET  /api/schools/{school}/sms-costs?month=YYYY-MM` — the cost ledger.
//! - `POST /api/sms/dlr?token=…` — delivery reports from the gateway.
//!
//! Input: a registered client with `sms:request` covering the school (401/403
//! otherwise, `http::openapi::behind`). Preview, status and costs act for the
//! client's acting user (`X-Dokflyt-User/Role/Schools`, bounded by the client:
//! `http::auth::ApiActor`); status and costs need a user who may see the school's
//! SMS (its principal, or the school owner / municipal administrator of its
//! municipality). **Send and approve** need proof of the person: a person
//! assertion in `X-Dokflyt-Person` (`crate::assertion`) at the level
//! `assurance.required.sms_send` / `sms_approve` (default high); headers and body
//! fields are never enough. The delivery-report callback has its own token.
//! Output: JSON; errors are `http::error::ApiError` (`{"error": code, "message":
//! "<Norwegian text>"}`) with
//! 400/401/403/404/409/422/429, or 503 when the database is unavailable. Every
//! refusal is audited; nothing personal is logged.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{same, ApiActor, ApiAuth, ApiClient, HasApiAuth};
use super::error::{error_response, ApiError};
use super::openapi::{behind, ActorHeaders, Door};
use super::HttpState;
use crate::assertion::{self, AssertionError, PersonProof};
use crate::assurance::Action;
use crate::clients::{Client, Scope};
use crate::sms::request::{self, ApproveRequest, Channel, PreviewRequest, SendRequest};
use crate::sms::{cost, dlr, SmsContext, SmsError};

/// The SMS routes' state: the SMS context and the API's doors.
#[derive(Clone)]
pub struct SmsApi {
    pub ctx: SmsContext,
    pub auth: ApiAuth,
}

impl HasApiAuth for SmsApi {
    fn api_auth(&self) -> &ApiAuth {
        &self.auth
    }
}

impl FromRef<HttpState> for SmsApi {
    fn from_ref(s: &HttpState) -> SmsApi {
        SmsApi {
            ctx: s.sms.clone(),
            auth: s.auth.clone(),
        }
    }
}

/// The routes; all but the gateway's callback need a registered client with
/// `sms:request` that covers the school in the path (`http::openapi::behind`).
pub fn routes(auth: &ApiAuth) -> OpenApiRouter<HttpState> {
    let guarded = OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(send))
        .routes(routes!(approve))
        .routes(routes!(status))
        .routes(routes!(costs));
    behind(Door::Client(Scope::SmsRequest), guarded, auth).merge(behind(
        Door::DeliveryReportToken,
        OpenApiRouter::new().routes(routes!(delivery_report)),
        auth,
    ))
}

/// The header that proves the person on send and approve.
#[allow(dead_code)]
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
struct PersonHeader {
    /// A person assertion: an ID token from the identity provider, or a JWT
    /// signed by the client's registered key, at the level the action requires
    /// (`assurance.required.sms_send` / `sms_approve`, default high).
    #[serde(rename = "X-Dokflyt-Person")]
    person: String,
}

fn error(e: SmsError) -> Response {
    let code = match &e {
        SmsError::Forbidden(_) => StatusCode::FORBIDDEN,
        SmsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SmsError::Conflict(_) => StatusCode::CONFLICT,
        SmsError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        SmsError::NotFound => StatusCode::NOT_FOUND,
        SmsError::Cost(_) => StatusCode::INTERNAL_SERVER_ERROR,
        SmsError::Db(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let text = match &e {
        SmsError::Db(err) => {
            tracing::warn!(error = %err, "emergency SMS request: database error");
            "Databasen er utilgjengelig; prøv igjen".to_string()
        }
        SmsError::Cost(err) => {
            tracing::error!(error = %err, "emergency SMS request: no price");
            "Prisen for SMS er ikke satt opp; kontakt driften".to_string()
        }
        other => other.to_string(),
    };
    error_response(code, text)
}

fn bad_body(r: JsonRejection) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        format!("Ugyldig forespørsel: {}", r.body_text()),
    )
}

/// Audits a refused person proof as the client (there is no proven person yet).
async fn audit_proof_refusal(
    pool: &sqlx::PgPool,
    client: &Client,
    school: &str,
    action: &str,
    reason: &str,
    details: serde_json::Value,
) {
    let who = format!("klient:{}", client.name);
    let r = crate::audit::record_client_refusal(
        pool,
        crate::audit::ClientRefusal {
            who: (who.as_str(), "klient"),
            school_id: Some(school),
            action,
            target: school,
            reason,
            details,
        },
    )
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, action, "a refused person proof could not be audited");
    }
}

/// The proven person for `action` (send or approve), or the answer to give:
/// 401 without a valid assertion, 403 for a person outside the client or below
/// the required assurance level (the missing level named). Every refusal is
/// audited.
async fn prove(
    api: &SmsApi,
    client: &Client,
    headers: &HeaderMap,
    school: &str,
    action: Action,
    verb: &str,
) -> Result<PersonProof, Response> {
    let refused = |code: StatusCode, text: String| error_response(code, text);
    let Some(verifier) = &api.ctx.person else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            AssertionError::Missing.to_string(),
        ));
    };
    let proof = match verifier.verify(client, headers).await {
        Ok(p) => p,
        Err(AssertionError::Db(e)) => return Err(error(SmsError::Db(e))),
        Err(e) => {
            if let AssertionError::Invalid(why) = &e {
                tracing::info!(reason = %why, "person assertion refused");
            }
            audit_proof_refusal(
                &api.ctx.pool,
                client,
                school,
                verb,
                e.code(),
                json!({ "client_id": client.id }),
            )
            .await;
            let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            return Err(refused(code, e.to_string()));
        }
    };
    if let Err(missing) = assertion::require_level(&verifier.assurance, &proof.proven, action) {
        let reason = format!(
            "Handlingen krever innlogging med sikkerhetsnivå «{}»",
            missing.norwegian()
        );
        let r = crate::audit::record(
            &api.ctx.pool,
            &crate::audit::Entry {
                actor: &proof.actor,
                school_id: Some(school),
                action: verb,
                target: Some(school),
                outcome: crate::audit::Verdict::Refused,
                reason: Some(&reason),
                details: json!({
                    "missing_level": missing.as_str(),
                    "proven_level": proof.proven.level.as_str(),
                    "client_id": client.id,
                }),
            },
        )
        .await;
        if let Err(e) = r {
            return Err(error(SmsError::Db(e)));
        }
        return Err(refused(StatusCode::FORBIDDEN, format!("{reason}.")));
    }
    Ok(proof)
}

/// `POST /api/schools/{school}/emergency-sms/preview`.
#[utoipa::path(post, path = "/api/schools/{school}/emergency-sms/preview", tag = "nød-sms",
    params(("school" = String, Path, description = "The school's id."), ActorHeaders),
    request_body = crate::sms::request::PreviewRequest,
    responses(
        (status = 200, description = "Mottakere, segmenter, kostnad og et token å sende med.", body = crate::sms::request::Preview),
        (status = 400, description = "Ugyldig JSON eller manglende brukerhoder.", body = ApiError),
        (status = 422, description = "Ugyldig tekst eller mottakergrupper.", body = ApiError),
    ))]
async fn preview(
    State(api): State<SmsApi>,
    Path(school): Path<String>,
    who: ApiActor,
    body: Result<Json<PreviewRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::preview(
        &api.ctx,
        &school,
        &who.actor,
        Channel::Client(who.client.id),
        &req,
    )
    .await
    {
        Ok(p) => (StatusCode::OK, Json(p)).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/schools/{school}/emergency-sms`.
#[utoipa::path(post, path = "/api/schools/{school}/emergency-sms", tag = "nød-sms",
    params(("school" = String, Path, description = "The school's id."), PersonHeader),
    request_body = crate::sms::request::SendRequest,
    responses(
        (status = 202, description = "Meldingen er godkjent og sendes, eller venter på en andre person (over kostnadstaket eller mottakergrensen).", body = crate::sms::request::Sent),
        (status = 400, description = "Ugyldig JSON.", body = ApiError),
        (status = 401, description = "Mangler eller ugyldig personbevis (X-Dokflyt-Person).", body = ApiError),
        (status = 403, description = "Personen er ikke klientens, har ikke lov, eller er logget inn på for lavt sikkerhetsnivå.", body = ApiError),
        (status = 409, description = "Forhåndsvisningen er brukt eller utløpt.", body = ApiError),
        (status = 422, description = "Ugyldig forespørsel.", body = ApiError),
    ))]
async fn send(
    State(api): State<SmsApi>,
    Path(school): Path<String>,
    ApiClient(client): ApiClient,
    headers: HeaderMap,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Response {
    let person = match prove(
        &api,
        &client,
        &headers,
        &school,
        Action::SmsSend,
        "sms.send",
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::send(
        &api.ctx,
        &school,
        &person.actor,
        Channel::Client(client.id),
        &req,
    )
    .await
    {
        Ok(s) => (StatusCode::ACCEPTED, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/schools/{school}/emergency-sms/{message}/approve`.
#[utoipa::path(post, path = "/api/schools/{school}/emergency-sms/{message}/approve", tag = "nød-sms",
    params(
        ("school" = String, Path, description = "The school's id."),
        ("message" = Uuid, Path, description = "The message's id."),
        PersonHeader,
    ),
    request_body = crate::sms::request::ApproveRequest,
    responses(
        (status = 200, description = "Meldingen er godkjent av en andre person og sendes.", body = crate::sms::request::Sent),
        (status = 400, description = "Ugyldig JSON eller meldings-id.", body = ApiError),
        (status = 401, description = "Mangler eller ugyldig personbevis (X-Dokflyt-Person).", body = ApiError),
        (status = 403, description = "Personen har ikke lov (for eksempel den samme som ba om sendingen).", body = ApiError),
        (status = 404, description = "Fant ikke meldingen.", body = ApiError),
        (status = 409, description = "Meldingen venter ikke på godkjenning.", body = ApiError),
    ))]
async fn approve(
    State(api): State<SmsApi>,
    Path((school, message)): Path<(String, Uuid)>,
    ApiClient(client): ApiClient,
    headers: HeaderMap,
    body: Result<Json<ApproveRequest>, JsonRejection>,
) -> Response {
    let person = match prove(
        &api,
        &client,
        &headers,
        &school,
        Action::SmsApprove,
        "sms.approve",
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::approve(&api.ctx, &school, message, &person.actor, &req).await {
        Ok(s) => (StatusCode::OK, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

/// `GET /api/schools/{school}/emergency-sms/{message}`.
#[utoipa::path(get, path = "/api/schools/{school}/emergency-sms/{message}", tag = "nød-sms",
    params(
        ("school" = String, Path, description = "The school's id."),
        ("message" = Uuid, Path, description = "The message's id."),
        ActorHeaders,
    ),
    responses(
        (status = 200, description = "Meldingens status og antall mottakere per status.", body = crate::sms::request::MessageStatus),
        (status = 400, description = "Ugyldig meldings-id eller manglende brukerhoder.", body = ApiError),
        (status = 404, description = "Fant ikke meldingen.", body = ApiError),
    ))]
async fn status(
    State(api): State<SmsApi>,
    Path((school, message)): Path<(String, Uuid)>,
    who: ApiActor,
) -> Response {
    if let Err(e) = request::check_read(&api.ctx, &who.actor, &school, "sms.status").await {
        return error(e);
    }
    match request::message_status(&api.ctx, &school, message).await {
        Ok(s) => (StatusCode::OK, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MonthQuery {
    /// The month, YYYY-MM.
    month: String,
}

/// `GET /api/schools/{school}/sms-costs`.
#[utoipa::path(get, path = "/api/schools/{school}/sms-costs", tag = "nød-sms",
    params(("school" = String, Path, description = "The school's id."), MonthQuery, ActorHeaders),
    responses(
        (status = 200, description = "Kostnadsloggen for måneden.", body = crate::sms::cost::MonthReport),
        (status = 400, description = "Mangler måned eller brukerhoder.", body = ApiError),
        (status = 422, description = "Ugyldig måned.", body = ApiError),
    ))]
async fn costs(
    State(api): State<SmsApi>,
    Path(school): Path<String>,
    who: ApiActor,
    Query(q): Query<MonthQuery>,
) -> Response {
    if let Err(e) = request::check_read(&api.ctx, &who.actor, &school, "sms.costs").await {
        return error(e);
    }
    match cost::month_report(&api.ctx.pool, &school, &q.month).await {
        Ok(r) => (StatusCode::OK, Json(r)).into_response(),
        Err(SmsError::Cost(e)) => error(SmsError::Invalid(e.to_string())),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct DlrQuery {
    #[serde(default)]
    token: Option<String>,
}

/// `POST /api/sms/dlr?token=…` — the SMS gateway's delivery reports.
#[utoipa::path(post, path = "/api/sms/dlr", tag = "nød-sms",
    request_body = crate::sms::dlr::DeliveryReport,
    responses(
        (status = 200, description = "Rapporten er registrert (også for en ukjent eller allerede levert SMS, så gatewayen slutter å prøve)."),
        (status = 400, description = "Ugyldig JSON.", body = ApiError),
    ))]
async fn delivery_report(
    State(SmsApi { ctx, .. }): State<SmsApi>,
    Query(q): Query<DlrQuery>,
    body: Result<Json<dlr::DeliveryReport>, JsonRejection>,
) -> Response {
    let expected = ctx.settings.dlr_token.expose();
    // Fail closed: without a configured token nobody may post delivery reports
    // (a forged report would mark an emergency SMS delivered).
    let given = q.token.as_deref().unwrap_or("");
    if expected.is_empty() || !same(given.as_bytes(), expected.as_bytes()) {
        return error_response(StatusCode::UNAUTHORIZED, "Mangler eller feil token.");
    }
    let Json(report) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match dlr::apply(&ctx.pool, &report).await {
        Ok(dlr::DlrOutcome::Unknown) => {
            tracing::info!("delivery report for an unknown or already delivered SMS");
            StatusCode::OK.into_response()
        }
        Ok(dlr::DlrOutcome::Updated) => {
            let status = if report.result_code == dlr::DELIVERED {
                "delivered"
            } else {
                "failed"
            };
            crate::metrics::sms_recipients(&[status]);
            StatusCode::OK.into_response()
        }
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => error(SmsError::Db(e)),
    }
}
