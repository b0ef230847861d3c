//! `[tls]`: what every outgoing TLS connection trusts (HTTPS clients, `amqps`,
//! SMTP with STARTTLS or TLS).
//!
//! Read by `crate::tls`. Failure: unknown keys are errors; a bundle that cannot
//! be read or holds no certificate refuses start there (`crate::tls::TlsError`),
//! naming this setting.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[tls]`. The operating system's trust store is always used (on Debian:
/// `/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`); this adds to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// A PEM file of extra CA certificates to trust beside the OS store: the
    /// municipality's own CA, for a SvarUt proxy, an archive, an identity
    /// provider, an SMS gateway, an OTLP collector, a RabbitMQ or an SMTP server
    /// whose certificate it signed. Env: `DOKFLYT_TLS__CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
}
