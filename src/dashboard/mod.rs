//! The archive staff's dashboard: server-rendered pages under `/dashboard`, in
//! Norwegian bokmål, for school teams, school administrators, principals and the
//! municipal administrator (docs/domain.md §1, §4, §6).
//!
//! Input: browser requests with the session cookie (sign-in by OpenID Connect,
//! [`oidc`]; sessions, CSRF and rate limits, [`session`]). Output: HTML pages
//! ([`pages`], [`sms_pages`]) built on the same functions as the JSON API
//! (`archive::staff`, `archive::deadlines`, `audit`, `sms::request`).
//! Failure: not signed in → 303 to sign-in (GET) or 401 (POST); a role or school
//! the user may not see → a 403 page (and an audit-log entry); a form without
//! the session's CSRF token → 403; too many attempts → 429; database down → 503;
//! a session whose sign-in was too weak for an action → a step-up sign-in
//! ([`stepup`]: the identity provider is asked for the level, then the person
//! comes back to the confirmation they started).
//! Access is decided on the server for every page and every action; the pages
//! only hide what the server would refuse anyway.
//!
//! Who may use it: `kommuneadmin` (all schools; it alone starts a transfer outside
//! the windows), `skoleadmin` and `team` (their schools), `rektor` (their school,
//! and the emergency SMS). Everyone else gets 403. The role a request acts as is
//! computed on every request from the sign-in's claims and the grants in force
//! (`crate::grants`, by `[access] role_source`); «Tilganger» ([`grant_pages`])
//! gives, removes and renews grants.

mod grant_pages;
pub(crate) mod pages;
pub mod session;
mod sms_pages;
mod stepup;
mod unreachable_pages;
pub mod words;

pub use pages::may_preview;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::access::Role;
use crate::assurance::{Level, Proven};
use crate::audit::{self, Entry, Verdict};
use crate::config::{AssuranceSettings, DashboardSettings};
use crate::http::HttpState;
use crate::oidc::{ClientConfig, OidcClient};
use session::{Session, LOGIN_COOKIE, SESSION_COOKIE};

/// Everything a dashboard handler needs.
#[derive(Clone)]
pub struct DashboardState {
    pub http: HttpState,
    pub sms: crate::sms::SmsContext,
    pub oidc: Option<Arc<OidcClient>>,
    pub views: Arc<tera::Tera>,
    pub settings: Arc<DashboardSettings>,
    /// `[assurance]`: the level each action needs and how a provider's words map.
    pub assurance: Arc<AssuranceSettings>,
    pub signin_limit: Arc<session::RateLimiter>,
    pub action_limit: Arc<session::RateLimiter>,
    /// School id → name (the roster's), read by the templates' `skole` filter so
    /// people read names and only URLs carry ids. Refreshed on every signed-in request.
    pub school_names: SchoolNames,
    /// `[access] role_source`: whether claims, grants or both give roles.
    pub role_source: crate::grants::RoleSource,
    /// The clock grants expire by (a test injects its own).
    pub clock: Arc<dyn crate::grants::Clock>,
}

/// See [`DashboardState::school_names`].
pub type SchoolNames = Arc<std::sync::RwLock<HashMap<String, String>>>;

/// Reloads the school names from the roster (a small table). A failure keeps the
/// names already known: pages then show ids where a name is missing.
pub async fn refresh_school_names(state: &DashboardState) {
    let rows = crate::roster::store::school_names(state.pool()).await;
    match rows {
        Ok(rows) => {
            if let Ok(mut names) = state.school_names.write() {
                *names = rows.into_iter().collect();
            }
        }
        Err(e) => tracing::warn!(error = %e, "dashboard: cannot read the school names"),
    }
}

/// The name of school `id`, or the id when the roster has no name for it.
pub fn school_name(names: &SchoolNames, id: &str) -> String {
    names
        .read()
        .ok()
        .and_then(|n| n.get(id).cloned())
        .unwrap_or_else(|| id.to_string())
}

impl DashboardState {
    pub fn new(
        http: HttpState,
        sms: crate::sms::SmsContext,
        settings: DashboardSettings,
        assurance: AssuranceSettings,
    ) -> anyhow::Result<DashboardState> {
        assurance
            .validate()
            .map_err(|e| anyhow::anyhow!("[assurance]: {e}"))?;
        let oidc = if settings.oidc_issuer.trim().is_empty() {
            None
        } else {
            Some(Arc::new(OidcClient::new(ClientConfig {
                issuer: settings.oidc_issuer.clone(),
                client_id: settings.oidc_client_id.clone(),
                client_secret: settings.oidc_client_secret.clone(),
                redirect_uri: settings.redirect_uri(),
                scopes: settings.oidc_scopes.clone(),
                claims: settings.claims.clone(),
            })?))
        };
        let school_names = SchoolNames::default();
        Ok(DashboardState {
            http,
            sms,
            oidc,
            views: Arc::new(views(school_names.clone())?),
            school_names,
            signin_limit: Arc::new(session::RateLimiter::new(
                settings.signins_per_minute,
                Duration::from_secs(60),
            )),
            action_limit: Arc::new(session::RateLimiter::new(
                settings.actions_per_minute,
                Duration::from_secs(60),
            )),
            settings: Arc::new(settings),
            assurance: Arc::new(assurance),
            role_source: crate::grants::RoleSource::default(),
            clock: Arc::new(crate::grants::SystemClock),
        })
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.http.ctx.pool
    }
}

/// The page templates, compiled into the binary (the dashboard does not depend on
/// the working directory) and autoescaped.
fn views(names: SchoolNames) -> anyhow::Result<tera::Tera> {
    let mut t = tera::Tera::default();
    t.autoescape_on(vec![".html"]);
    // `{{ id | skole }}`: the school's name (the id when the roster has none).
    t.register_filter(
        "skole",
        move |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(match v.as_str() {
                Some(id) => school_name(&names, id),
                None => String::new(),
            }))
        },
    );
    // tera's own `urlencode` needs its `builtins` feature (and its dependencies).
    t.register_filter(
        "urlencode",
        |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            let s = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            Ok(tera::Value::String(
                url::form_urlencoded::byte_serialize(s.as_bytes()).collect(),
            ))
        },
    );
    // `{{ v | ord(som="status") }}`: the Norwegian word (plain text).
    // `{{ v | nb(som="status") | safe }}`: the word, and the raw value on a detail
    // line for support (both escaped here). `{{ "0.69" | kr }}`: `0,69 kr`.
    t.register_filter(
        "ord",
        |v: &tera::Value, args: &HashMap<String, tera::Value>| {
            let raw = v.as_str().unwrap_or_default();
            Ok(tera::Value::String(word(args, raw).to_string()))
        },
    );
    t.register_filter(
        "nb",
        |v: &tera::Value, args: &HashMap<String, tera::Value>| {
            let raw = v.as_str().unwrap_or_default();
            let nb = word(args, raw);
            let mut html = tera::escape_html(nb);
            if nb != raw {
                html.push_str(&format!(
                    "<span class=\"raw\" title=\"Verdien i systemet\">{}</span>",
                    tera::escape_html(raw)
                ));
            }
            Ok(tera::Value::String(html))
        },
    );
    t.register_filter("kr", |v: &tera::Value, _: &HashMap<String, tera::Value>| {
        let raw = match v {
            tera::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(tera::Value::String(words::kroner(&raw)))
    });
    t.add_raw_templates(vec![
        (
            "layout.html",
            include_str!("../../templates/dashboard/layout.html"),
        ),
        (
            "problem.html",
            include_str!("../../templates/dashboard/problem.html"),
        ),
        (
            "school_filter.html",
            include_str!("../../templates/dashboard/school_filter.html"),
        ),
        (
            "signed_out.html",
            include_str!("../../templates/dashboard/signed_out.html"),
        ),
        (
            "arkivlogg.html",
            include_str!("../../templates/dashboard/arkivlogg.html"),
        ),
        (
            "dokument.html",
            include_str!("../../templates/dashboard/dokument.html"),
        ),
        (
            "bekreft.html",
            include_str!("../../templates/dashboard/bekreft.html"),
        ),
        (
            "frister.html",
            include_str!("../../templates/dashboard/frister.html"),
        ),
        (
            "utsendinger.html",
            include_str!("../../templates/dashboard/utsendinger.html"),
        ),
        (
            "revisjonslogg.html",
            include_str!("../../templates/dashboard/revisjonslogg.html"),
        ),
        (
            "sms.html",
            include_str!("../../templates/dashboard/sms.html"),
        ),
        (
            "sms_preview.html",
            include_str!("../../templates/dashboard/sms_preview.html"),
        ),
        (
            "sms_message.html",
            include_str!("../../templates/dashboard/sms_message.html"),
        ),
        (
            "steg_opp.html",
            include_str!("../../templates/dashboard/steg_opp.html"),
        ),
        (
            "sms_approvals.html",
            include_str!("../../templates/dashboard/sms_approvals.html"),
        ),
        (
            "sms_approve.html",
            include_str!("../../templates/dashboard/sms_approve.html"),
        ),
        (
            "tilganger.html",
            include_str!("../../templates/dashboard/tilganger.html"),
        ),
        (
            "ikke_nadd.html",
            include_str!("../../templates/dashboard/ikke_nadd.html"),
        ),
    ])?;
    Ok(t)
}

/// The Norwegian word for `raw` of the kind the filter's `som` names.
fn word<'a>(args: &HashMap<String, tera::Value>, raw: &'a str) -> &'a str {
    match args.get("som").and_then(|v| v.as_str()).unwrap_or("status") {
        "handling" => words::action(raw),
        "rolle" => words::role(raw),
        "mappe" => words::folder(raw),
        "mal" => words::target(raw),
        "feilklasse" => words::error_class(raw),
        "felt" => words::receipt_field(raw),
        _ => words::status(raw),
    }
}

pub fn routes<S: Clone + Send + Sync + 'static>(state: DashboardState) -> Router<S> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::to("/dashboard/arkivlogg") }),
        )
        .route(
            "/dashboard/",
            get(|| async { Redirect::to("/dashboard/arkivlogg") }),
        )
        .route("/dashboard/logg-inn", get(sign_in))
        .route("/dashboard/callback", get(callback))
        .route("/dashboard/logg-ut", post(sign_out))
        .route("/dashboard/logget-ut", get(signed_out))
        .route("/dashboard/fortsett", get(stepup::resume))
        .route("/dashboard/static/app.css", get(css))
        .route("/dashboard/static/app.js", get(js))
        .merge(pages::routes())
        .merge(sms_pages::routes())
        .merge(grant_pages::routes())
        .merge(unreachable_pages::routes())
        // Any other path under /dashboard: the 404 page, with the menu.
        .route("/dashboard/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error_pages,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

tokio::task_local! {
    /// The signed-in person of the request being answered (set by [`SignedIn`]),
    /// so an error page drawn anywhere has the menu and «Logg ut».
    static MENU: Arc<std::sync::Mutex<Option<Menu>>>;
}

/// What the layout's header needs about the person.
#[derive(Clone)]
struct Menu {
    name: String,
    role: &'static str,
    level: &'static str,
    schools: Vec<String>,
    csrf: String,
    is_municipal: bool,
    may_sms: bool,
    /// May open «Tilganger» (give, renew and remove roles).
    may_grant: bool,
    /// False for a role without dashboard access: only «Logg ut» is offered.
    may_use: bool,
}

impl Menu {
    fn of(state: &DashboardState, session: &Session) -> Menu {
        Menu {
            name: session.display_name.clone(),
            role: session.actor.role.as_str(),
            level: session.level(&state.assurance).norwegian(),
            schools: session.actor.schools.clone(),
            csrf: session.csrf.clone(),
            is_municipal: session.actor.role.is_municipal(),
            may_sms: matches!(session.actor.role, Role::Rektor | Role::Kommuneadmin),
            may_grant: crate::grants::layer(session.actor.role) >= 2,
            may_use: may_use(session.actor.role),
        }
    }

    fn insert(&self, ctx: &mut tera::Context) {
        ctx.insert("user_name", &self.name);
        ctx.insert("user_role", self.role);
        ctx.insert("user_level", self.level);
        ctx.insert("user_schools", &self.schools);
        ctx.insert("csrf", &self.csrf);
        ctx.insert("is_municipal", &self.is_municipal);
        ctx.insert("may_sms", &self.may_sms);
        ctx.insert("may_grant", &self.may_grant);
        ctx.insert("show_nav", &self.may_use);
    }
}

fn remember_menu(menu: Menu) {
    let _ = MENU.try_with(|m| {
        if let Ok(mut slot) = m.lock() {
            *slot = Some(menu);
        }
    });
}

fn current_menu() -> Option<Menu> {
    MENU.try_with(|m| m.lock().ok().and_then(|s| s.clone()))
        .ok()
        .flatten()
}

/// Every dashboard error is a page: the menu, a Norwegian explanation and a way
/// back. Handlers draw their own ([`problem`]); what axum answers by itself (a
/// method the path does not take, a query or form that does not parse, a body
/// too large) comes without HTML and is replaced here.
async fn error_pages(
    State(state): State<DashboardState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let cookie = session::cookie(req.headers(), SESSION_COOKIE);
    let slot = Arc::new(std::sync::Mutex::new(None));
    let resp = MENU.scope(slot.clone(), next.run(req)).await;
    let status = resp.status();
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !status.is_client_error() || is_html {
        return resp;
    }
    let (title, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "Siden kan ikke åpnes slik",
            "Denne adressen tar imot et skjema og kan ikke åpnes direkte (for eksempel etter å ha lastet siden på nytt eller gått tilbake). Gå til siden du kom fra og prøv igjen.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Skjemaet er for stort",
            "Det du sendte er større enn dashbordet tar imot. Kort ned teksten og prøv igjen.",
        ),
        StatusCode::NOT_FOUND => ("Fant ikke siden", "Adressen finnes ikke i dashbordet."),
        _ => (
            "Adressen er ikke gyldig",
            "Adressen eller skjemaet inneholder verdier dashbordet ikke forstår. Bruk menyen og filtrene på sidene i stedet for å skrive adressen selv.",
        ),
    };
    // The handler did not run (or did not sign the person in): look them up
    // so the page still has the menu.
    let mut menu = slot.lock().ok().and_then(|s| s.clone());
    if menu.is_none() {
        if let Some(t) = cookie.filter(|t| !t.is_empty()) {
            if let Some(s) = menu_session(&state, &t).await {
                menu = Some(Menu::of(&state, &s));
            }
        }
    }
    let slot = Arc::new(std::sync::Mutex::new(menu));
    MENU.scope(slot, async { problem(&state, status, title, message) })
        .await
}

/// The session of `token` with the role the request would act as (claims and
/// grants), for an error page's menu; `None` when there is none to show.
async fn menu_session(state: &DashboardState, token: &str) -> Option<Session> {
    let s = session::load(state.pool(), token).await.ok().flatten()?;
    with_grants(state, s).await.ok()?.ok()
}

async fn not_found(
    State(state): State<DashboardState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(t) = session::cookie(&headers, SESSION_COOKIE).filter(|t| !t.is_empty()) {
        if let Some(s) = menu_session(&state, &t).await {
            remember_menu(Menu::of(&state, &s));
        }
    }
    problem(
        &state,
        StatusCode::NOT_FOUND,
        "Fant ikke siden",
        "Adressen finnes ikke i dashbordet. Kanskje lenken er gammel, eller adressen er skrevet feil.",
    )
}

/// The dashboard's Content-Security-Policy. Forms post only to dokflyt itself
/// (`form-action 'self'`): a step-up after a form therefore shows a page with a
/// link to the sign-in, rather than redirecting a form post to the provider.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; \
     base-uri 'none'";

/// Headers on every dashboard response: no caching of personal data, no framing
/// by other sites, no inline scripts, no referrer leaking paths.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    resp
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../templates/dashboard/static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../templates/dashboard/static/app.js"),
    )
        .into_response()
}

/// Whether `role` may use the dashboard at all.
pub fn may_use(role: Role) -> bool {
    matches!(
        role,
        Role::Kommuneadmin | Role::Skoleadmin | Role::Team | Role::Rektor
    )
}

/// A signed-in user allowed on the dashboard (the extractor every page uses).
pub struct SignedIn(pub Session);

impl FromRequestParts<DashboardState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DashboardState,
    ) -> Result<Self, Self::Rejection> {
        let token = session::cookie(&parts.headers, SESSION_COOKIE);
        let session = match token {
            Some(t) if !t.is_empty() => match session::load(state.pool(), &t).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard: session lookup failed");
                    return Err(unavailable(state));
                }
            },
            _ => None,
        };
        let Some(session) = session else {
            return Err(if parts.method == Method::GET {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/dashboard");
                let to = format!(
                    "/dashboard/logg-inn?til={}",
                    url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
                );
                Redirect::to(&to).into_response()
            } else {
                problem(
                    state,
                    StatusCode::UNAUTHORIZED,
                    "Du er ikke logget inn",
                    "Økten din er utløpt. Logg inn igjen og prøv på nytt.",
                )
            });
        };
        let session = match with_grants(state, session).await {
            Ok(Ok(s)) => s,
            Ok(Err(refused)) => return Err(refused),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: grants lookup failed");
                return Err(unavailable(state));
            }
        };
        remember_menu(Menu::of(state, &session));
        if !may_use(session.actor.role) {
            let reason = format!(
                "Rollen «{}» har ikke tilgang til dashbordet.",
                session.actor.role
            );
            let _ = audit::record(
                state.pool(),
                &Entry {
                    actor: &session.actor,
                    school_id: None,
                    action: "dashboard.access",
                    target: Some(parts.uri.path()),
                    outcome: Verdict::Refused,
                    reason: Some(&reason),
                    details: json!({}),
                },
            )
            .await;
            return Err(problem(
                state,
                StatusCode::FORBIDDEN,
                "Ingen tilgang",
                &reason,
            ));
        }
        refresh_school_names(state).await;
        Ok(SignedIn(session))
    }
}

/// The session with the actor this request acts as: the claims' actor and the
/// grants in force on the injected clock's Oslo date, by `[access] role_source`
/// (grants count only for a session with a staff id). Expiries seen now are
/// audited on the way. `Err` inside: a 403 page (with `grants` as the only
/// source and nothing in force, the person has no role).
async fn with_grants(
    state: &DashboardState,
    mut session: Session,
) -> sqlx::Result<Result<Session, Response>> {
    use crate::grants::{self, RoleSource};
    if state.role_source == RoleSource::Claims {
        return Ok(Ok(session));
    }
    let held = match session.staff_id.as_deref() {
        Some(staff) => {
            let now = state.clock.now();
            let today = grants::oslo_date(now);
            grants::store::record_expiries(state.pool(), Some(staff), today, now).await?;
            grants::store::in_force_for(state.pool(), staff, today).await?
        }
        None => Vec::new(),
    };
    match grants::effective_actor(&session.claims_actor, &held, state.role_source) {
        Some(actor) => {
            session.actor = actor;
            Ok(Ok(session))
        }
        None => {
            let reason = "Du har ingen tildelt rolle i dokflyt som gjelder nå. Kontakt rektor eller kommunens administrator.";
            let _ = audit::record(
                state.pool(),
                &Entry {
                    actor: &session.claims_actor,
                    school_id: None,
                    action: "dashboard.access",
                    target: None,
                    outcome: Verdict::Refused,
                    reason: Some(reason),
                    details: json!({ "role_source": state.role_source }),
                },
            )
            .await;
            Ok(Err(problem(
                state,
                StatusCode::FORBIDDEN,
                "Ingen tilgang",
                reason,
            )))
        }
    }
}

/// A Norwegian error page with `status`.
pub fn problem(state: &DashboardState, status: StatusCode, title: &str, message: &str) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("title", title);
    ctx.insert("message", message);
    ctx.insert("code", &status.as_u16());
    if let Some(menu) = current_menu() {
        menu.insert(&mut ctx);
        ctx.insert("nav", "");
    }
    match state.views.render("problem.html", &ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard: the problem page does not render");
            (status, title.to_string()).into_response()
        }
    }
}

pub fn unavailable(state: &DashboardState) -> Response {
    problem(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Tjenesten er utilgjengelig",
        "Databasen svarer ikke akkurat nå. Prøv igjen om litt.",
    )
}

/// Refuses `action` on `school` with a 403 page, after writing the refusal to the
/// audit log (an audit failure is logged; the refusal stands either way).
pub async fn refuse(
    state: &DashboardState,
    actor: &crate::access::Actor,
    school: Option<&str>,
    action: &str,
    reason: &str,
) -> Response {
    if let Err(e) = audit::record(
        state.pool(),
        &Entry {
            actor,
            school_id: school,
            action,
            target: None,
            outcome: Verdict::Refused,
            reason: Some(reason),
            details: json!({}),
        },
    )
    .await
    {
        tracing::warn!(error = %e, action, "dashboard: a refusal could not be audited");
    }
    problem(state, StatusCode::FORBIDDEN, "Ingen tilgang", reason)
}

/// The sign-in rate limit per client; `Some` is the 429 page.
fn signin_refused(
    state: &DashboardState,
    headers: &axum::http::HeaderMap,
    addr: Option<std::net::SocketAddr>,
) -> Option<Response> {
    let key = client_key(headers, addr, state.settings.trust_proxy_headers);
    (!state.signin_limit.allow(&key)).then(|| {
        problem(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "For mange innloggingsforsøk",
            "Vent et minutt og prøv igjen.",
        )
    })
}

/// Renders `template` inside the layout with the user's context.
pub fn page(
    state: &DashboardState,
    session: &Session,
    nav: &str,
    template: &str,
    mut ctx: tera::Context,
) -> Response {
    Menu::of(state, session).insert(&mut ctx);
    ctx.insert("nav", nav);
    match state.views.render(template, &ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            // Tera's messages can quote the page's data (names, titles); only
            // what failed in the template is logged.
            let (msg, _) = crate::render::redacted_tera_error(&e);
            tracing::error!(template, error = %msg, "dashboard: page does not render");
            problem(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Siden kunne ikke vises",
                "En feil i dokflyt hindret siden i å vises. Feilen er logget.",
            )
        }
    }
}

/// Checks an action's CSRF token and the user's action rate; `Some` is the
/// refusal to answer with.
/// The page for a form posted without the session's CSRF token (403).
pub fn csrf_refused(state: &DashboardState) -> Response {
    problem(
        state,
        StatusCode::FORBIDDEN,
        "Skjemaet kunne ikke sendes",
        "Skjemaet mangler en gyldig sikkerhetsnøkkel (CSRF). Last siden på nytt og prøv igjen.",
    )
}

pub fn guard_action(
    state: &DashboardState,
    session: &Session,
    csrf: Option<&str>,
) -> Option<Response> {
    if !session.csrf_ok(csrf) {
        return Some(csrf_refused(state));
    }
    if !state.action_limit.allow(&session.actor.user) {
        return Some(problem(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "For mange handlinger",
            "Du har gjort mange handlinger på kort tid. Vent et minutt og prøv igjen.",
        ));
    }
    None
}

/// A path inside the dashboard to come back to after sign-in (never another site).
fn local_return(raw: Option<&str>) -> String {
    raw.and_then(|p| inside(p, "/dashboard/"))
        .unwrap_or_else(|| "/dashboard/arkivlogg".to_string())
}

/// `raw` as a path and query on dokflyt itself, normalised first (`..`, `.`,
/// their percent-encoded forms, backslashes), if that path lies under `prefix`;
/// else `None`. Checking before normalising would let
/// `/dashboard/arkivlogg/../../api/status` out of the dashboard.
pub fn inside(raw: &str, prefix: &str) -> Option<String> {
    if !raw.starts_with('/') || raw.starts_with("//") || raw.contains('\\') {
        return None;
    }
    let base = url::Url::parse("http://dokflyt.invalid/").ok()?;
    let u = base.join(raw).ok()?;
    if u.origin() != base.origin() || u.fragment().is_some() {
        return None;
    }
    let path = u.path();
    let under = path == prefix.trim_end_matches('/') || path.starts_with(prefix);
    under.then(|| match u.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

#[derive(Deserialize)]
struct SignInQuery {
    til: Option<String>,
    /// A step-up: the level to ask the identity provider for.
    niva: Option<String>,
}

/// The connected client's address, when the server was started with connect info.
pub struct ClientAddr(Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

fn client_key(
    headers: &axum::http::HeaderMap,
    addr: Option<std::net::SocketAddr>,
    trust_proxy: bool,
) -> String {
    // Behind a trusted proxy the right-most X-Forwarded-For hop (see http::limit).
    crate::http::limit::client_address(headers, addr, trust_proxy)
}

async fn sign_in(
    State(state): State<DashboardState>,
    headers: axum::http::HeaderMap,
    ClientAddr(addr): ClientAddr,
    axum::extract::Query(q): axum::extract::Query<SignInQuery>,
) -> Response {
    let Some(client) = state.oidc.clone() else {
        return problem(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Innlogging er ikke satt opp",
            "Dashbordet krever innlogging med OpenID Connect (Feide eller ID-porten). Driften må sette [dashboard] oidc_issuer.",
        );
    };
    if let Some(r) = signin_refused(&state, &headers, addr) {
        return r;
    }
    // A step-up asks for the level's `acr_values`; someone already signed in is
    // made to authenticate again (`prompt=login`), so the provider cannot answer
    // from the session that proved the lower level.
    let wanted: Option<Level> = q
        .niva
        .as_deref()
        .and_then(|n| n.parse().ok())
        .filter(|l| *l > Level::Low);
    let acr = wanted.and_then(|l| state.assurance.acr_value_for(l));
    let signed_in = match session::cookie(&headers, SESSION_COOKIE) {
        Some(t) if !t.is_empty() => session::load(state.pool(), &t)
            .await
            .ok()
            .flatten()
            .is_some(),
        _ => false,
    };
    let start = match client.begin(acr, wanted.is_some() && signed_in).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot start a sign-in");
            return problem(
                &state,
                StatusCode::BAD_GATEWAY,
                "Innloggingstjenesten svarer ikke",
                "Prøv igjen om litt. Vedvarer feilen, kontakt driften.",
            );
        }
    };
    let back = local_return(q.til.as_deref());
    if let Err(e) = session::store_login(
        state.pool(),
        &start.state,
        &start.nonce,
        &start.pkce_verifier,
        &back,
        wanted,
    )
    .await
    {
        tracing::warn!(error = %e, "dashboard: cannot store a sign-in");
        return unavailable(&state);
    }
    let cookie = session::set_cookie(
        LOGIN_COOKIE,
        &start.state,
        Duration::from_secs(600),
        state.settings.secure_cookies,
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, start.authorize_url),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<DashboardState>,
    headers: axum::http::HeaderMap,
    ClientAddr(addr): ClientAddr,
    axum::extract::Query(q): axum::extract::Query<CallbackQuery>,
) -> Response {
    let refuse = |msg: &str| {
        problem(
            &state,
            StatusCode::BAD_REQUEST,
            "Innloggingen mislyktes",
            msg,
        )
    };
    let Some(client) = state.oidc.clone() else {
        return refuse("Innlogging er ikke satt opp.");
    };
    if let Some(r) = signin_refused(&state, &headers, addr) {
        return r;
    }
    if q.error.is_some() {
        return refuse("Innloggingstjenesten avbrøt innloggingen. Prøv igjen.");
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return refuse("Svaret fra innloggingstjenesten var ufullstendig.");
    };
    // The state must be the one this browser started (login CSRF).
    let cookie_state = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !crate::http::auth::same(cookie_state.as_bytes(), st.as_bytes()) {
        return refuse(
            "Innloggingen ble startet i en annen nettleser eller er utløpt. Prøv igjen.",
        );
    }
    let login = match session::take_login(state.pool(), &st).await {
        Ok(Some(l)) => l,
        Ok(None) => return refuse("Innloggingen er utløpt eller allerede brukt. Prøv igjen."),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: sign-in lookup failed");
            return unavailable(&state);
        }
    };
    let user = match client
        .finish(&code, &login.pkce_verifier, &login.nonce)
        .await
    {
        Ok(u) => u,
        Err(crate::oidc::OidcError::NoRole(who)) => match signed_in_by_grants(&state, *who).await {
            Ok(Some(u)) => u,
            Ok(None) => {
                return problem(
                    &state,
                    StatusCode::FORBIDDEN,
                    "Ingen tilgang",
                    "Brukeren din har ingen rolle i dokflyt. Kontakt kommunens administrator.",
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: grants lookup at sign-in failed");
                return unavailable(&state);
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: sign-in refused");
            return refuse("Innloggingen kunne ikke bekreftes. Prøv igjen.");
        }
    };
    // A leaver (removed from the roster) is not signed in again, whatever role
    // the identity provider's claims still carry.
    if let Some(staff) = user.staff_id.as_deref() {
        match crate::roster::store::staff_has_left(state.pool(), staff).await {
            Ok(false) => {}
            Ok(true) => {
                let reason = "Du er fjernet som ansatt i elevregisteret og har ikke lenger tilgang til dokflyt.";
                let _ = audit::record(
                    state.pool(),
                    &Entry {
                        actor: &user.actor,
                        school_id: None,
                        action: "dashboard.sign_in",
                        target: None,
                        outcome: Verdict::Refused,
                        reason: Some(reason),
                        details: json!({ "staff_id": staff, "left_roster": true }),
                    },
                )
                .await;
                return problem(&state, StatusCode::FORBIDDEN, "Ingen tilgang", reason);
            }
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: cannot check the roster at sign-in");
                return unavailable(&state);
            }
        }
    }
    let ttl = Duration::from_secs(state.settings.session_minutes.max(1) * 60);
    let proven = Proven {
        level: state.assurance.level_of(user.acr.as_deref(), &user.amr),
        at: user.auth_time,
    };
    let achieved = state.assurance.effective(&proven, chrono::Utc::now());
    // A step-up by the same person keeps their search and the confirmation they
    // were on; the session itself is new (a new token for a new level).
    let previous = match session::cookie(&headers, SESSION_COOKIE) {
        Some(t) if !t.is_empty() => session::load(state.pool(), &t).await.ok().flatten(),
        _ => None,
    }
    .filter(|s| s.actor.user == user.actor.user);
    let token = match session::create_with(
        state.pool(),
        &session::NewSession {
            actor: &user.actor,
            staff_id: user.staff_id.as_deref(),
            display_name: &user.display_name,
            ttl,
            idle: Duration::from_secs(state.settings.idle_minutes.max(1) * 60),
            proven,
            search_text: previous.as_ref().and_then(|p| p.search_text.as_deref()),
            pending: previous.as_ref().and_then(|p| p.pending.as_ref()),
        },
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot create a session");
            return unavailable(&state);
        }
    };
    let _ = audit::record(
        state.pool(),
        &Entry {
            actor: &user.actor,
            school_id: None,
            action: "dashboard.sign_in",
            target: None,
            outcome: if may_use(user.actor.role) {
                Verdict::Granted
            } else {
                Verdict::Refused
            },
            reason: None,
            details: json!({
                "schools": user.actor.schools,
                "level": proven.level,
                "wanted_level": login.wanted,
            }),
        },
    )
    .await;
    if let Some(old) = &previous {
        if let Err(e) = session::destroy(state.pool(), old).await {
            tracing::warn!(error = %e, "dashboard: cannot end the session a step-up replaced");
        }
    }
    let secure = state.settings.secure_cookies;
    // A step-up that did not reach the level: say so, and do not send the person
    // round again (no loop); they are signed in at the level they proved.
    let mut resp = match login.wanted.filter(|w| achieved < *w) {
        Some(wanted) => {
            let reason = format!(
                "Innloggingen ga nivå {}, handlingen krever {}.",
                achieved.norwegian(),
                wanted.norwegian()
            );
            let _ = audit::record(
                state.pool(),
                &Entry {
                    actor: &user.actor,
                    school_id: None,
                    action: "dashboard.step_up",
                    target: None,
                    outcome: Verdict::Refused,
                    reason: Some(&reason),
                    details: json!({
                        "required_level": wanted,
                        "session_level": achieved,
                        "missing_level": wanted,
                    }),
                },
            )
            .await;
            stepup::still_too_low(&state, wanted, achieved, &login.return_to)
        }
        None => Redirect::to(&login.return_to).into_response(),
    };
    let h = resp.headers_mut();
    for c in [
        session::set_cookie(SESSION_COOKIE, &token, ttl, secure),
        session::set_cookie(LOGIN_COOKIE, "", Duration::ZERO, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A sign-in whose claims carry no role: with `[access] role_source = "grants"`
/// the grants in force for its staff id give the role; otherwise (or with none)
/// `None`, no access.
async fn signed_in_by_grants(
    state: &DashboardState,
    who: crate::oidc::Unroled,
) -> sqlx::Result<Option<crate::oidc::SignedInUser>> {
    use crate::grants;
    if state.role_source != grants::RoleSource::Grants {
        return Ok(None);
    }
    let Some(staff) = who.staff_id.as_deref() else {
        return Ok(None);
    };
    let now = state.clock.now();
    let held = grants::store::in_force_for(state.pool(), staff, grants::oslo_date(now)).await?;
    let Some(actor) = grants::granted_actor(&who.user, who.municipality_number.as_deref(), &held)
    else {
        return Ok(None);
    };
    Ok(Some(crate::oidc::SignedInUser {
        actor,
        staff_id: who.staff_id,
        display_name: who.display_name,
        acr: who.acr,
        amr: who.amr,
        auth_time: who.auth_time,
    }))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn sign_out(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    axum::extract::Form(f): axum::extract::Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(f.csrf.as_deref()) {
        return csrf_refused(&state);
    }
    if let Err(e) = session::destroy(state.pool(), &session).await {
        tracing::warn!(error = %e, "dashboard: cannot end a session");
        return unavailable(&state);
    }
    let cookie = session::set_cookie(
        SESSION_COOKIE,
        "",
        Duration::ZERO,
        state.settings.secure_cookies,
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/dashboard/logget-ut".to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

async fn signed_out(State(state): State<DashboardState>) -> Response {
    match state.views.render("signed_out.html", &tera::Context::new()) {
        Ok(h) => Html(h).into_response(),
        Err(_) => "Du er logget ut.".into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_inside_the_dashboard() {
        assert_eq!(
            local_return(Some("/dashboard/frister")),
            "/dashboard/frister"
        );
        assert_eq!(
            local_return(Some("https://evil.example/")),
            "/dashboard/arkivlogg"
        );
        assert_eq!(local_return(Some("//evil.example")), "/dashboard/arkivlogg");
        assert_eq!(local_return(None), "/dashboard/arkivlogg");
        // Normalised before the check.
        for out in [
            "/dashboard/arkivlogg/../../../api/status",
            "/dashboard/%2e%2e/api/status",
            "/dashboard/./../api/status",
            "/dashboardx",
            "/dashboard\\..\\api",
        ] {
            assert_eq!(local_return(Some(out)), "/dashboard/arkivlogg", "{out}");
        }
        assert_eq!(
            inside(
                "/dashboard/arkivlogg/./x/../?status=klar",
                "/dashboard/arkivlogg"
            ),
            Some("/dashboard/arkivlogg/?status=klar".to_string())
        );
        assert_eq!(
            inside(
                "/dashboard/arkivlogg/../../api/status",
                "/dashboard/arkivlogg"
            ),
            None
        );
    }

    #[test]
    fn the_views_compile() {
        views(SchoolNames::default()).expect("dashboard templates");
    }

    #[test]
    fn dashboard_roles() {
        for r in Role::ALL {
            assert_eq!(
                may_use(r),
                matches!(
                    r,
                    Role::Kommuneadmin | Role::Skoleadmin | Role::Team | Role::Rektor
                ),
                "{r}"
            );
        }
    }
}
