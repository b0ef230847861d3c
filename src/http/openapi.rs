//! The HTTP API's contract: an OpenAPI 3.1 document generated from the handlers,
//! served at `GET /api/openapi.json`.
//!
//! Input: the routes as `http::api` builds them — every handler carries a
//! `#[utoipa::path]` annotation (method, path, parameters, body, answers) and is
//! registered with `utoipa_axum::routes!`, which takes the route's method and path
//! from that same annotation, so a route cannot be served under another path than
//! the one documented; request and answer bodies are the Rust types the handlers
//! (de)serialize, deriving `utoipa::ToSchema`. Each group of routes is put behind
//! its door by [`behind`], which both installs the door (`auth::require_scope`) and
//! writes the door into the document (the `bearer` requirement with the route's
//! scope, the 401/403/429 answers): the scope documented is the scope enforced.
//! Output: [`finish`] adds the title, the security schemes and the tags; the JSON
//! is rendered once at start ([`OpenApiJson`]). Failure: none at run time; a
//! handler whose annotation does not fit its route does not compile.
//!
//! Why utoipa (with utoipa-axum) and not aide: the handlers here build most of
//! their answers by hand (`Response`), and errors are one shape written in
//! several places; utoipa documents what an annotation states and derives body
//! schemas from the serde types, where aide infers from the handler's signature
//! (which says `Response`). utoipa is the more used of the two, and its
//! `OpenApiRouter` keeps the route table and the document one list.
//!
//! Why unauthenticated: the document is the contract (paths, parameters, shapes,
//! scopes), not data; a school system's developers and the municipality's API
//! gateway read it before they hold a credential. It lists no client, school or
//! person.

use std::sync::Arc;

use axum::extract::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, SecurityRequirement, Tag,
};
use utoipa_axum::router::OpenApiRouter;

use super::auth::{require_scope, ApiAuth};
use super::error::ApiError;
use crate::clients::Scope;

/// The security scheme of a registered client (`Authorization: Bearer <secret>`).
pub const BEARER: &str = "bearer";
/// The SMS gateway's delivery-report token (`?token=`).
pub const DLR_TOKEN: &str = "dlr_token";

/// Who may pass: the door in front of a group of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// A registered client holding this scope (and covering the school in the
    /// path): `auth::require_scope`.
    Client(Scope),
    /// The SMS gateway, with the configured delivery-report token (checked by
    /// the handler itself).
    DeliveryReportToken,
    /// Anyone: health, readiness, metrics, this document.
    Open,
}

/// `api` behind `door`: the door installed on its routes and written into its
/// operations (security requirement and the door's refusals).
pub fn behind<S>(door: Door, mut api: OpenApiRouter<S>, auth: &ApiAuth) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    document_door(api.get_openapi_mut(), door);
    match door {
        Door::Client(scope) => api.route_layer(axum::middleware::from_fn_with_state(
            (auth.clone(), scope),
            require_scope,
        )),
        Door::DeliveryReportToken | Door::Open => api,
    }
}

fn error_answer(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build(),
    )
}

fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
            item.head.as_mut(),
            item.options.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// Writes `door` into every operation of `doc`.
fn document_door(doc: &mut OpenApi, door: Door) {
    for op in operations(doc) {
        let answers = &mut op.responses.responses;
        match door {
            Door::Client(scope) => {
                op.security = Some(vec![SecurityRequirement::new(BEARER, [scope.to_string()])]);
                answers.entry("401".into()).or_insert_with(|| {
                    error_answer("Ingen, en ukjent, tilbakekalt eller utløpt API-nøkkel.")
                });
                answers.entry("403".into()).or_insert_with(|| {
                    error_answer(&format!(
                        "Klienten mangler tilgangen «{scope}», eller skolen i adressen er ikke klientens."
                    ))
                });
                answers.entry("429".into()).or_insert_with(|| {
                    error_answer(
                        "Over klientens, brukerens eller adressens grense for forespørsler.",
                    )
                });
                answers
                    .entry("503".into())
                    .or_insert_with(|| error_answer("Databasen svarer ikke; prøv igjen om litt."));
            }
            Door::DeliveryReportToken => {
                op.security = Some(vec![SecurityRequirement::new(
                    DLR_TOKEN,
                    Vec::<String>::new(),
                )]);
                answers
                    .entry("401".into())
                    .or_insert_with(|| error_answer("Mangler eller feil token."));
            }
            Door::Open => op.security = Some(Vec::new()),
        }
    }
}

/// The headers of the acting user (`auth::ApiActor`), on the routes that act for
/// a person.
#[allow(dead_code)]
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct ActorHeaders {
    /// The acting user's id in the school system (never a national id).
    #[serde(rename = "X-Dokflyt-User")]
    user: String,
    /// The user's role: kommuneadmin, skoleeier, rektor, skoleadmin, skoleadmin2,
    /// arkivansvarlig, laerer, kontaktlaerer, … (`system` is refused).
    #[serde(rename = "X-Dokflyt-Role")]
    role: String,
    /// The schools the user acts for, comma-separated (must be the client's).
    #[serde(rename = "X-Dokflyt-Schools")]
    schools: Option<String>,
}

/// The document: `paths` (from the routes) with the title, the security schemes
/// and the tags.
pub fn finish(paths: OpenApi) -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("dokflyt API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The archive staff's API, delivery statuses, in-app messages, \
                     contact gaps and emergency SMS of dokflyt, plus health, readiness and \
                     metrics. Every `/api` route but this document and the SMS gateway's \
                     delivery reports needs a registered client (`dokflyt clients add`) \
                     with the route's scope, as `Authorization: Bearer <secret>`. Routes \
                     that act for a person also take the `X-Dokflyt-User`, `X-Dokflyt-Role` \
                     and `X-Dokflyt-Schools` headers. Every error answer is an `ApiError`: \
                     `{\"error\": \"<code>\", \"message\": \"<Norwegian text>\"}`.",
                ))
                .build(),
        )
        .build();
    doc.merge(paths);
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        BEARER.into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The secret of a registered API client. The requirement of each \
                     operation names the scope the client must hold: documents:read, \
                     archive:read, archive:act, sms:request, contacts:read, status:read, admin.",
                ))
                .build(),
        )),
    );
    components.security_schemes.insert(
        DLR_TOKEN.into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Query(
            ApiKeyValue::with_description(
                "token",
                "The delivery-report token configured for the SMS gateway (sms.dlr_token).",
            ),
        ))),
    );
    let mut schemas = Vec::new();
    <ApiError as utoipa::ToSchema>::schemas(&mut schemas);
    components.schemas.insert(
        "ApiError".into(),
        <ApiError as utoipa::PartialSchema>::schema(),
    );
    components.schemas.extend(schemas);
    doc.tags = Some(
        [
            (
                "arkiv",
                "Arkivloggen, handlinger på dokumenter, frister og revisjonslogg.",
            ),
            ("utsending", "Utsendinger, statuser og meldinger i appen."),
            ("kontakt", "Hvem skolen ikke når (kontakthull)."),
            (
                "nød-sms",
                "Nød-SMS: forhåndsvisning, sending, godkjenning, status, kostnader.",
            ),
            ("drift", "Helse, beredskap, status, regler og metrikker."),
            ("kontrakt", "Dette dokumentet."),
        ]
        .into_iter()
        .map(|(name, description)| {
            let mut t = Tag::new(name);
            t.description = Some(description.into());
            t
        })
        .collect(),
    );
    doc
}

/// The rendered document, shared by every request.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

impl OpenApiJson {
    pub fn new(doc: &OpenApi) -> OpenApiJson {
        OpenApiJson(Arc::new(doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document cannot be written");
            "{}".into()
        })))
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "kontrakt",
    responses((status = 200, description = "Dette dokumentet (OpenAPI 3.1).", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}
