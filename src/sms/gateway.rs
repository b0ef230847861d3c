//! The SMS gateway client: a LINK Mobility-style SMS REST API over HTTPS.
//!
//! Input: one (number, text, idempotency key). Output: [`SendOutcome`] — accepted
//! with the gateway's message id, refused permanently (bad number, bad request,
//! bad credentials), or transient (timeout, connection error, 429, 5xx: the
//! request may or may not have been accepted). Before any resend the worker calls
//! [`GatewayClient::lookup`] with the idempotency key, so an ambiguous failure
//! never turns into a second SMS.
//!
//! Requests (HTTP basic auth from configuration):
//! - `POST {url}/sms/send` with `{"source","destination","userData","platformId",
//!   "platformPartnerId","refId","deliveryReportGates":[gate],"useDeliveryReport":true}`;
//!   `refId` is the idempotency key. Answer 200/202 `{"messageId","resultCode","description"}`.
//! - `GET {url}/sms/ref/{refId}` → 200 `{"messageId","refId",...}` when the gateway
//!   has a message with that key, 404 when it has none.
//!
//! Nothing here logs numbers or text.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::config::SmsSettings;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted { gateway_id: String },
    Permanent { reason: String },
    Transient { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found { gateway_id: String },
    NotFound,
    Transient { reason: String },
}

#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    settings: SmsSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    message_id: String,
}

impl GatewayClient {
    pub fn new(settings: &SmsSettings) -> Result<GatewayClient, GatewayError> {
        let http = crate::tls::current()
            .http_client()
            .map_err(|e| GatewayError::Client(e.to_string()))?
            .timeout(Duration::from_millis(settings.timeout_ms))
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .map_err(|e| GatewayError::Client(e.to_string()))?;
        Ok(GatewayClient {
            http,
            settings: settings.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.settings.gateway_url.expose().trim_end_matches('/')
        )
    }

    pub async fn send(&self, number: &str, text: &str, key: &str) -> SendOutcome {
        let body = json!({
            "source": self.settings.source,
            "destination": number,
            "userData": text,
            "platformId": self.settings.platform_id,
            "platformPartnerId": self.settings.platform_partner_id,
            "refId": key,
            "deliveryReportGates": [self.settings.delivery_report_gate],
            "useDeliveryReport": true,
        });
        let resp = self
            .http
            .post(self.url("/sms/send"))
            .basic_auth(
                &self.settings.username,
                Some(self.settings.password.expose()),
            )
            .json(&body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return SendOutcome::Transient {
                    reason: transport(&e),
                }
            }
        };
        let status = resp.status();
        if status.is_success() {
            return match resp.json::<Accepted>().await {
                Ok(a) => SendOutcome::Accepted {
                    gateway_id: a.message_id,
                },
                // Accepted but unreadable: ambiguous; the lookup settles it.
                Err(e) => SendOutcome::Transient {
                    reason: format!("unreadable answer: {}", transport(&e)),
                },
            };
        }
        if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
            return SendOutcome::Transient {
                reason: format!("gateway answered {status}"),
            };
        }
        SendOutcome::Permanent {
            reason: format!("gateway refused: {status}"),
        }
    }

    pub async fn lookup(&self, key: &str) -> Lookup {
        let resp = self
            .http
            .get(self.url(&format!("/sms/ref/{key}")))
            .basic_auth(
                &self.settings.username,
                Some(self.settings.password.expose()),
            )
            .send()
            .await;
        match resp {
            Err(e) => Lookup::Transient {
                reason: transport(&e),
            },
            Ok(r) if r.status().as_u16() == 404 => Lookup::NotFound,
            Ok(r) if r.status().is_success() => match r.json::<Accepted>().await {
                Ok(a) => Lookup::Found {
                    gateway_id: a.message_id,
                },
                Err(e) => Lookup::Transient {
                    reason: transport(&e),
                },
            },
            Ok(r) => Lookup::Transient {
                reason: format!("lookup answered {}", r.status()),
            },
        }
    }
}

/// A transport error without the URL (it may carry credentials).
fn transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if crate::tls::is_handshake_refusal(e) {
        "tls: the gateway's certificate is not trusted (tls.ca_bundle)"
    } else if e.is_connect() {
        "connection refused or reset"
    } else if e.is_decode() {
        "bad body"
    } else {
        "transport error"
    };
    kind.to_string()
}
