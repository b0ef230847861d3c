//! `[sms]`: the emergency SMS gateway, its limits and prices.
//!
//! Read by `sms::`. Failure: unknown keys are errors.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// One SMS price and the day it takes effect (the latest `valid_from` on or before
/// a message's day applies).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmsPrice {
    pub valid_from: chrono::NaiveDate,
    /// NOK per SMS segment sent, at most two decimals (0.69).
    pub nok_per_sms: f64,
}

/// Emergency SMS: the gateway (LINK Mobility-style SMS REST API), limits and prices.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// Base URL of the gateway; requests go to `{url}/sms/send` and `{url}/sms/ref/{refId}`.
    /// Env: `DOKFLYT_SMS_GATEWAY_URL`.
    pub gateway_url: Secret,
    /// HTTP basic auth towards the gateway. Env: `DOKFLYT_SMS_GATEWAY_USERNAME`, `DOKFLYT_SMS_GATEWAY_PASSWORD`.
    pub username: String,
    pub password: Secret,
    /// The provider's platform ids (LINK: platformId / platformPartnerId).
    pub platform_id: String,
    pub platform_partner_id: String,
    /// Sender shown on the phone (alphanumeric, at most 11 characters).
    pub source: String,
    /// The delivery-report gate the gateway posts to (our `POST /api/sms/dlr`).
    pub delivery_report_gate: String,
    /// Token the gateway must send with delivery reports (`?token=`). Env: `DOKFLYT_SMS_DLR_TOKEN`.
    pub dlr_token: Secret,
    pub prices: Vec<SmsPrice>,
    /// Longest text accepted, in segments.
    pub max_segments: usize,
    /// Requests per second to the gateway (all workers of this process together).
    pub rate_per_second: u32,
    /// Requests in flight to the gateway at once.
    pub concurrency: usize,
    /// Recipient ids per fan-out message on the broker.
    pub batch_size: usize,
    /// Whole-request timeout per gateway call, milliseconds.
    pub timeout_ms: u64,
    /// Attempts per number for transient gateway errors before it is `failed`.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claim on a recipient holds; a crashed worker's numbers are looked
    /// up at the gateway and (if not there) sent after it.
    pub claim_ttl_secs: u64,
    /// How long a preview token stays valid.
    pub preview_ttl_secs: u64,
    /// Per-school limit: emergency messages per rolling hour.
    pub max_messages_per_hour: i64,
    /// Per-school daily cost cap; above it a second authorised person must approve.
    pub daily_cost_cap_nok: f64,
    /// A message to more numbers than this needs a second authorised person's
    /// approval even under the cost cap.
    pub approval_over_recipients: i64,
    /// How often the SMS worker looks for work it was not told about, milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            gateway_url: Secret::new("http://127.0.0.1:8092"),
            username: "dokflyt".into(),
            password: Secret::new(""),
            platform_id: "SMS".into(),
            platform_partner_id: "0".into(),
            source: "Skolen".into(),
            delivery_report_gate: "dokflyt".into(),
            dlr_token: Secret::new(""),
            prices: vec![SmsPrice {
                valid_from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
                nok_per_sms: 0.69,
            }],
            max_segments: 6,
            rate_per_second: 100,
            concurrency: 32,
            batch_size: 100,
            timeout_ms: 10_000,
            max_attempts: 5,
            backoff_initial_ms: 200,
            backoff_max_ms: 10_000,
            claim_ttl_secs: 60,
            preview_ttl_secs: 900,
            max_messages_per_hour: 3,
            daily_cost_cap_nok: 10_000.0,
            approval_over_recipients: 500,
            poll_interval_ms: 1_000,
        }
    }
}
