//! `[dashboard]`: the staff dashboard's sign-in (OpenID Connect), the claims
//! that carry role, schools and municipality, and its sessions.
//!
//! Read by `dashboard::` and `oidc` (which also interprets [`ClaimMapping`]).
//! Failure: unknown keys are errors; the client secret is a [`Secret`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Which claims carry the user's role and schools, and how role values map to
/// dokflyt's roles (e.g. a Feide group id → `skoleadmin`). With an empty map the
/// claim's value must be a role word itself.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub role_claim: String,
    pub schools_claim: String,
    pub name_claim: String,
    pub role_map: HashMap<String, String>,
    /// The claim with the municipality (kommunenummer) the user acts in.
    pub municipality_claim: String,
    /// The municipality of this identity provider's users when the token has no
    /// municipality claim (a municipality's own IdP). With neither, a session is
    /// not bound to a municipality: only for an installation that serves one.
    pub default_municipality: Option<String>,
    /// The claim with the person's staff id in the roster (the school system's
    /// id): grants are given to it, and a leaver's sessions are found by it.
    /// Without it in a token, only the claims' role counts for that session.
    pub staff_id_claim: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            role_claim: "dokflyt_role".into(),
            schools_claim: "dokflyt_schools".into(),
            name_claim: "name".into(),
            role_map: HashMap::new(),
            municipality_claim: "dokflyt_municipality".into(),
            default_municipality: None,
            staff_id_claim: "dokflyt_staff_id".into(),
        }
    }
}

/// `[dashboard]` in the settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardSettings {
    /// The OpenID Connect issuer (Feide: `https://auth.dataporten.no`, ID-porten:
    /// `https://idporten.no`). Empty: sign-in is not configured and the dashboard
    /// says so. Env: `DOKFLYT_OIDC_ISSUER`.
    pub oidc_issuer: String,
    /// Env: `DOKFLYT_OIDC_CLIENT_ID`.
    pub oidc_client_id: String,
    /// Env: `DOKFLYT_OIDC_CLIENT_SECRET`.
    pub oidc_client_secret: Secret,
    pub oidc_scopes: String,
    /// Which claims carry the role and the schools, and how their values map.
    pub claims: ClaimMapping,
    /// Where browsers reach dokflyt (the redirect URI is this plus
    /// `/dashboard/callback`). Env: `DOKFLYT_PUBLIC_URL`.
    pub public_url: String,
    /// `Secure` on cookies. Only for plain-http development on a host other than
    /// localhost may this be false. Env: `DOKFLYT_DASHBOARD_SECURE_COOKIES`.
    pub secure_cookies: bool,
    pub session_minutes: u64,
    /// A session unused for this many minutes is signed out.
    pub idle_minutes: u64,
    /// Sign-in attempts per client address per minute.
    pub signins_per_minute: u32,
    /// Actions (forms) per user per minute.
    pub actions_per_minute: u32,
    /// dokflyt runs behind a reverse proxy that appends to `X-Forwarded-For` (the
    /// sign-in rate limit then keys on its right-most entry, not the proxy's address).
    pub trust_proxy_headers: bool,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            oidc_issuer: String::new(),
            oidc_client_id: "dokflyt".into(),
            oidc_client_secret: Secret::new(""),
            oidc_scopes: "openid profile dokflyt".into(),
            claims: ClaimMapping::default(),
            public_url: "http://localhost:8080".into(),
            secure_cookies: true,
            session_minutes: 8 * 60,
            idle_minutes: 30,
            signins_per_minute: 20,
            actions_per_minute: 60,
            trust_proxy_headers: false,
        }
    }
}

impl DashboardSettings {
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/dashboard/callback",
            self.public_url.trim_end_matches('/')
        )
    }
}
