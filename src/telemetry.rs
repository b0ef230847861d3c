//! Logs and traces: the one subscriber every command runs under.
//!
//! Stage: none (process set-up by the command line). Input: `DOKFLYT_LOG` (the filter, default
//! `info,sqlx=warn,lapin=warn`), `DOKFLYT_LOG_FORMAT=json`, and `[tracing]`
//! ([`TracingSettings`]). Output: log lines on stderr — in JSON each line carries
//! its span's fields (`span`) and those of every span around it (`spans`), so a
//! line logged while an event is processed names its `event_id` — and, when
//! `tracing.otlp_endpoint` is set, the spans exported over OTLP/HTTP (protobuf)
//! by a batch exporter on its own thread. The logger starts first ([`init`]);
//! the export once the settings are read ([`export`]); [`shutdown`] flushes
//! what is still queued before the process ends.
//! Failure: an endpoint that is no URL, or an exporter that cannot be built, is a
//! [`TelemetryError`] at start. A collector that is down costs the batches sent
//! to it (dropped after `export_timeout_ms`, never retried in a loop), never the
//! service.
//!
//! The spans themselves are made where the work happens (`pipeline`,
//! `channels`, `archive::transfer`, `sms`, the HTTP request span of
//! `http::request_id`); their fields are ids and words (`event_id`,
//! `document_type`, `channel`, `request_id`), never personal data.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::TracingSettings;
use crate::tls::Trust;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("tracing.otlp_endpoint (DOKFLYT_TRACING__OTLP_ENDPOINT) is not an http(s) URL: {0}")]
    Endpoint(String),
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(String),
    #[error("a logger is already installed in this process")]
    AlreadyInstalled,
}

/// A document type as a span field: its §8 key, or `unknown` (a stored event's
/// field is text; only the known words go into a span).
pub fn document_type_key(s: &str) -> &'static str {
    s.parse::<crate::event::DocumentType>()
        .map(|t| t.key())
        .unwrap_or("unknown")
}

/// The filter when `DOKFLYT_LOG` is not set.
const DEFAULT_FILTER: &str = "info,sqlx=warn,lapin=warn";

/// `{otlp_endpoint}/v1/traces`, or `None` without an endpoint.
pub fn traces_url(s: &TracingSettings) -> Result<Option<String>, TelemetryError> {
    let base = s.otlp_endpoint.trim();
    if base.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(base).map_err(|e| TelemetryError::Endpoint(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(TelemetryError::Endpoint(format!(
            "scheme {} without a host, or not http(s)",
            url.scheme()
        )));
    }
    Ok(Some(format!("{}/v1/traces", base.trim_end_matches('/'))))
}

/// The tracer provider exporting to `[tracing]`'s endpoint, or `None` without
/// one. Its HTTP client trusts `trust` (an `https` collector behind the
/// municipality's CA).
pub fn tracer_provider(
    s: &TracingSettings,
    trust: &Trust,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    let Some(url) = traces_url(s)? else {
        return Ok(None);
    };
    let timeout = Duration::from_millis(s.export_timeout_ms.max(1));
    // reqwest's blocking client runs its own small runtime and must be made
    // outside tokio's: on a thread of its own. It is then used only on the batch
    // exporter's thread.
    let client = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                trust
                    .blocking_http_client()
                    .map_err(|e| TelemetryError::Exporter(e.to_string()))?
                    .timeout(timeout)
                    .build()
                    .map_err(|e| TelemetryError::Exporter(e.to_string()))
            })
            .join()
            .map_err(|_| TelemetryError::Exporter("the HTTP client panicked".into()))?
    })?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(timeout)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name(s.service_name.clone())
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The OTLP layer, empty until [`export`] fills it (the settings, and with them
/// the endpoint, are read after the logger starts).
type SpanLayer = Option<tracing_opentelemetry::OpenTelemetryLayer<Registry, SdkTracer>>;

static SPANS: OnceLock<reload::Handle<SpanLayer, Registry>> = OnceLock::new();
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// Installs the process's subscriber: log lines to `writer` (JSON with
/// `DOKFLYT_LOG_FORMAT=json`, colours only with `ansi`) and the slot for the
/// span export that [`export`] fills.
pub fn init<W>(writer: W, ansi: bool) -> Result<(), TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_env("DOKFLYT_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("DOKFLYT_LOG_FORMAT").as_deref() == Ok("json");
    let lines = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed()
    };
    let (spans, handle) = reload::Layer::new(SpanLayer::None);
    tracing_subscriber::registry()
        .with(spans)
        .with(filter)
        .with(lines)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    let _ = SPANS.set(handle);
    Ok(())
}

/// Starts exporting spans to `[tracing]`'s endpoint (nothing without one),
/// through an HTTP client that trusts `trust`. Once per process; later calls
/// do nothing.
pub fn export(s: &TracingSettings, trust: &Trust) -> Result<(), TelemetryError> {
    let mut installed = PROVIDER.lock().unwrap_or_else(|p| p.into_inner());
    if installed.is_some() {
        return Ok(());
    }
    tracing::debug!(
        roots = trust.root_count(),
        bundle_certificates = trust.bundle().len(),
        bundle = ?trust.bundle_path(),
        "TLS trust: the OS store and tls.ca_bundle"
    );
    let Some(provider) = tracer_provider(s, trust)? else {
        return Ok(());
    };
    if let Some(handle) = SPANS.get() {
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("dokflyt"));
        handle
            .reload(Some(layer))
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    }
    if let Some(url) = traces_url(s)? {
        tracing::info!(endpoint = %url, "exporting spans over OTLP");
    }
    *installed = Some(provider);
    Ok(())
}

/// Exports what is still queued and stops the exporter (blocks for at most
/// about `export_timeout_ms`): at the end of the process, outside the runtime.
pub fn shutdown() {
    let provider = PROVIDER.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(p) = provider {
        if let Err(e) = p.shutdown() {
            eprintln!("advarsel: sporene ble ikke sendt ferdig: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: &str) -> TracingSettings {
        TracingSettings {
            otlp_endpoint: endpoint.into(),
            ..TracingSettings::default()
        }
    }

    #[test]
    fn the_traces_path_is_added_to_the_base_url() {
        assert_eq!(traces_url(&with("")).expect("empty"), None);
        assert_eq!(
            traces_url(&with("http://collector:4318/")).expect("url"),
            Some("http://collector:4318/v1/traces".into())
        );
        let e = traces_url(&with("collector:4318")).expect_err("no scheme");
        assert!(
            e.to_string().contains("DOKFLYT_TRACING__OTLP_ENDPOINT"),
            "{e}"
        );
        assert!(traces_url(&with("not a url")).is_err());
    }

    #[test]
    fn no_endpoint_no_exporter() {
        let p = tracer_provider(&with(""), &Trust::os_only()).expect("ok");
        assert!(p.is_none());
    }
}
