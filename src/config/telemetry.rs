//! `[tracing]`: where spans go besides the log lines.
//!
//! Read by `crate::telemetry`. Failure: unknown keys are errors; an endpoint that
//! is no URL refuses start (`crate::telemetry::TelemetryError`).

use serde::{Deserialize, Serialize};

/// `[tracing]`. Without an endpoint spans only shape the log lines (their fields
/// appear in every JSON line logged inside them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSettings {
    /// The OpenTelemetry collector's OTLP/HTTP base URL, e.g.
    /// `http://otel-collector:4318`; spans are posted (protobuf) to
    /// `{otlp_endpoint}/v1/traces`. Empty: no export. `https` uses `[tls]`.
    /// Env: `DOKFLYT_TRACING__OTLP_ENDPOINT`.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans. Env: `DOKFLYT_TRACING__SERVICE_NAME`.
    pub service_name: String,
    /// How long one export may take before it is given up (the spans of that
    /// batch are dropped, the service goes on). Env: `DOKFLYT_TRACING__EXPORT_TIMEOUT_MS`.
    pub export_timeout_ms: u64,
}

impl Default for TracingSettings {
    fn default() -> Self {
        TracingSettings {
            otlp_endpoint: String::new(),
            service_name: "dokflyt".into(),
            export_timeout_ms: 10_000,
        }
    }
}
