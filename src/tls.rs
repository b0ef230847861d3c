//! What every outgoing TLS connection trusts: the operating system's trust store
//! plus the municipality's own CA (`[tls] ca_bundle`), in one place.
//!
//! Stage: none; the adapters use it (SvarUt, the archive, Maskinporten, the
//! identity provider, the SMS gateway, the OTLP exporter — all reqwest — and
//! lapin's `amqps`, lettre's SMTP TLS).
//! Input: [`TlsSettings`]. Output: a [`Trust`] and from it the rustls client
//! configuration of every reqwest client ([`Trust::http_client`], with a client
//! certificate [`Trust::http_client_with_identity`]), the root certificates of
//! lettre ([`Trust::smtp_parameters`]) and the extra chain of lapin
//! ([`Trust::amqp_config`], which loads the same OS store itself).
//! Failure: a bundle that cannot be read, is not PEM or holds no certificate is a
//! [`TlsError`] naming `tls.ca_bundle` / `DOKFLYT_TLS__CA_BUNDLE`, and the service
//! refuses to start. Certificates of the OS store that do not parse are skipped
//! with a WARN (rustls-native-certs reports them; one bad file must not stop a
//! service).
//!
//! The process installs its trust once at start ([`install`], called by the
//! command line and `App::build`), like rustls' default crypto provider; the
//! client constructors take it from [`current`]. A test that needs another trust
//! for one constructor wraps the call in [`with_trust`].
//!
//! The crypto is ring (already in the tree; aws-lc-rs would need cmake).
//! [`ensure_crypto_provider`] makes ring the process's rustls provider, which
//! reqwest needs for a client built without a configuration from here.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// The setting's names, for messages an operator can act on.
const SETTING: &str = "tls.ca_bundle (DOKFLYT_TLS__CA_BUNDLE)";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{SETTING}: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{SETTING}: {path} is not a PEM file of certificates: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{SETTING}: {path} holds no certificate (expected -----BEGIN CERTIFICATE-----)")]
    Empty { path: PathBuf },
    #[error(
        "{SETTING}: this process already trusts {installed}, and cannot switch to {requested}"
    )]
    AlreadyInstalled {
        installed: String,
        requested: String,
    },
    #[error("the client certificate or key: {0}")]
    Identity(String),
    #[error("TLS client configuration: {0}")]
    Config(String),
}

/// The roots every outgoing TLS connection checks a server against; cheap to
/// clone.
#[derive(Clone)]
pub struct Trust(Arc<Inner>);

struct Inner {
    /// The OS store and the bundle, as rustls checks them.
    roots: Arc<RootCertStore>,
    /// The bundle's certificates alone.
    bundle: Vec<CertificateDer<'static>>,
    /// The bundle's text (lapin takes a PEM chain).
    bundle_pem: Option<String>,
    /// Where the bundle came from (`None`: the OS store alone).
    source: Option<PathBuf>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("roots", &self.0.roots.len())
            .field("bundle", &self.0.source)
            .field("bundle_certificates", &self.0.bundle.len())
            .finish()
    }
}

/// Makes ring the process's rustls crypto provider, once. reqwest (built without
/// its own provider) needs one for any client not configured here, such as a
/// plain-HTTP client of a test.
pub fn ensure_crypto_provider() {
    // An error means a provider is installed already: the one we want, or one a
    // caller chose on purpose.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The OS store's certificates, read once per process.
fn os_certificates() -> &'static [CertificateDer<'static>] {
    static OS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    OS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a certificate of the OS trust store could not be read; skipped");
        }
        found.certs
    })
}

impl Trust {
    /// The OS trust store alone.
    pub fn os_only() -> Trust {
        static OS_ONLY: OnceLock<Trust> = OnceLock::new();
        OS_ONLY
            .get_or_init(|| Trust::build(Vec::new(), None, None))
            .clone()
    }

    /// The OS store plus the bundle `s` names, read and parsed now.
    pub fn load(s: &TlsSettings) -> Result<Trust, TlsError> {
        match &s.ca_bundle {
            None => Ok(Trust::os_only()),
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
                    path: path.clone(),
                    source,
                })?;
                Trust::from_pem(&bytes, path)
            }
        }
    }

    /// The OS store plus the certificates of `pem` (whose origin `path` names).
    pub fn from_pem(pem: &[u8], path: &Path) -> Result<Trust, TlsError> {
        let parse = |reason: String| TlsError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let bundle: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| parse(e.to_string()))?;
        if bundle.is_empty() {
            return Err(TlsError::Empty {
                path: path.to_path_buf(),
            });
        }
        // Each must be a certificate rustls can use as a root.
        let mut check = RootCertStore::empty();
        for (i, c) in bundle.iter().enumerate() {
            check
                .add(c.clone())
                .map_err(|e| parse(format!("certificate {}: {e}", i + 1)))?;
        }
        let text = String::from_utf8(pem.to_vec()).map_err(|_| parse("not UTF-8 text".into()))?;
        Ok(Trust::build(bundle, Some(text), Some(path.to_path_buf())))
    }

    fn build(
        bundle: Vec<CertificateDer<'static>>,
        bundle_pem: Option<String>,
        source: Option<PathBuf>,
    ) -> Trust {
        ensure_crypto_provider();
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(os_certificates().iter().cloned());
        if ignored > 0 {
            tracing::warn!(
                ignored,
                "certificates of the OS trust store rustls cannot use were skipped"
            );
        }
        for c in &bundle {
            // Checked by `from_pem`.
            let _ = roots.add(c.clone());
        }
        Trust(Arc::new(Inner {
            roots: Arc::new(roots),
            bundle,
            bundle_pem,
            source,
        }))
    }

    /// How many roots are trusted (the OS store's and the bundle's).
    pub fn root_count(&self) -> usize {
        self.0.roots.len()
    }

    /// The bundle's certificates (none without `ca_bundle`).
    pub fn bundle(&self) -> &[CertificateDer<'static>] {
        &self.0.bundle
    }

    /// The file the bundle came from.
    pub fn bundle_path(&self) -> Option<&Path> {
        self.0.source.as_deref()
    }

    fn config_builder(
        &self,
    ) -> Result<
        rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
        TlsError,
    > {
        Ok(rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.0.roots.clone()))
    }

    /// The rustls configuration of an HTTP/1.1 client: these roots, no client
    /// certificate.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let mut c = self.config_builder()?.with_no_client_auth();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(c)
    }

    /// The same with a client certificate: `pem` holds the certificate (chain)
    /// and its private key (PKCS#8, PKCS#1 or SEC1).
    pub fn client_config_with_identity(
        &self,
        pem: &[u8],
    ) -> Result<rustls::ClientConfig, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Identity("no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| TlsError::Identity(format!("the private key: {e}")))?;
        let mut c = self
            .config_builder()?
            .with_client_auth_cert(certs, key)
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(c)
    }

    /// A reqwest client builder that trusts these roots (every HTTPS client of
    /// the service starts here).
    pub fn http_client(&self) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(self.client_config()?))
    }

    /// The same, presenting the client certificate and key in `pem` (mTLS).
    pub fn http_client_with_identity(
        &self,
        pem: &[u8],
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(self.client_config_with_identity(pem)?))
    }

    /// A blocking reqwest client builder with these roots: for the OTLP
    /// exporter's own thread, never for a task on the runtime.
    pub fn blocking_http_client(&self) -> Result<reqwest::blocking::ClientBuilder, TlsError> {
        Ok(reqwest::blocking::Client::builder().tls_backend_preconfigured(self.client_config()?))
    }

    /// lettre's TLS parameters for `domain`: exactly these roots (lettre's own
    /// store is not read), plus `extra` (the older `delivery.email.ca_file`).
    pub fn smtp_parameters(
        &self,
        domain: &str,
        extra: &[lettre::transport::smtp::client::Certificate],
    ) -> Result<lettre::transport::smtp::client::TlsParameters, TlsError> {
        use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
        let mut b =
            TlsParameters::builder(domain.to_string()).certificate_store(CertificateStore::None);
        for der in os_certificates().iter().chain(self.0.bundle.iter()) {
            // A certificate the OS store holds but rustls cannot use was skipped
            // for reqwest too.
            if let Ok(c) = Certificate::from_der(der.to_vec()) {
                b = b.add_root_certificate(c);
            }
        }
        for c in extra {
            b = b.add_root_certificate(c.clone());
        }
        b.build_rustls()
            .map_err(|e| TlsError::Config(e.to_string()))
    }

    /// lapin's TLS configuration: lapin loads the OS store itself (its
    /// `rustls-native-certs` feature) and adds this chain, the bundle.
    pub fn amqp_config(&self) -> lapin::tcp::OwnedTLSConfig {
        lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: self.0.bundle_pem.clone(),
        }
    }
}

/// Whether `e` (or an error under it) is rustls refusing the other side's
/// certificate, or the handshake failing on what the peers support: failures
/// before any byte of the request was sent, so certainly not delivered.
pub fn is_handshake_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                t,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::PeerIncompatible(_)
                    | rustls::Error::NoCertificatesPresented
            );
        }
        // An io::Error's `source` skips the error it wraps (hyper wraps
        // tokio-rustls' io::Error in another): go into it instead.
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// The process's trust, once [`install`]ed.
static INSTALLED: Mutex<Option<Trust>> = Mutex::new(None);

thread_local! {
    /// [`with_trust`]'s override on this thread.
    static SCOPED: RefCell<Option<Trust>> = const { RefCell::new(None) };
}

/// Reads `[tls]` and makes it the process's trust. Called at start (the command
/// line, `App::build`); again with the same settings it does nothing, with
/// another bundle it is an error (a process has one trust).
pub fn install(s: &TlsSettings) -> Result<Trust, TlsError> {
    ensure_crypto_provider();
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = installed.as_ref() {
        if t.bundle_path() == s.ca_bundle.as_deref() {
            return Ok(t.clone());
        }
        let name = |p: Option<&Path>| {
            p.map(|p| p.display().to_string())
                .unwrap_or_else(|| "the OS trust store alone".into())
        };
        return Err(TlsError::AlreadyInstalled {
            installed: name(t.bundle_path()),
            requested: name(s.ca_bundle.as_deref()),
        });
    }
    let trust = Trust::load(s)?;
    *installed = Some(trust.clone());
    Ok(trust)
}

/// The trust a client built now uses: [`with_trust`]'s on this thread, else the
/// installed one, else the OS store alone.
pub fn current() -> Trust {
    if let Some(t) = SCOPED.with(|s| s.borrow().clone()) {
        return t;
    }
    let installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    installed.unwrap_or_else(Trust::os_only)
}

/// Runs `f` (a client constructor) with `trust` as [`current`] on this thread.
pub fn with_trust<R>(trust: &Trust, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Trust>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCOPED.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SCOPED.with(|s| s.borrow_mut().replace(trust.clone()));
    let _restore = Restore(previous);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn settings(p: &Path) -> TlsSettings {
        TlsSettings {
            ca_bundle: Some(p.to_path_buf()),
        }
    }

    #[test]
    fn a_missing_bundle_names_the_setting() {
        let e = Trust::load(&settings(Path::new("/nonexistent/ca.pem"))).expect_err("missing");
        let m = e.to_string();
        assert!(
            m.contains("tls.ca_bundle") && m.contains("DOKFLYT_TLS__CA_BUNDLE"),
            "{m}"
        );
        assert!(m.contains("/nonexistent/ca.pem"), "{m}");
    }

    #[test]
    fn a_bundle_without_certificates_or_with_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let empty = write(&dir, "empty.pem", "just text\n");
        assert!(matches!(
            Trust::load(&settings(&empty)),
            Err(TlsError::Empty { .. })
        ));
        let broken = write(
            &dir,
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        );
        let e = Trust::load(&settings(&broken)).expect_err("broken");
        assert!(matches!(e, TlsError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("DOKFLYT_TLS__CA_BUNDLE"), "{e}");
        let truncated = write(&dir, "cut.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        assert!(Trust::load(&settings(&truncated)).is_err());
    }

    #[test]
    fn no_bundle_is_the_os_store_alone() {
        let t = Trust::load(&TlsSettings::default()).expect("os");
        assert!(t.bundle().is_empty());
        assert!(t.amqp_config().cert_chain.is_none());
        assert!(t.http_client().expect("builder").build().is_ok());
    }

    #[test]
    fn with_trust_is_scoped_to_the_call() {
        let marker = Trust::build(Vec::new(), None, Some(PathBuf::from("/marker.pem")));
        let inside = with_trust(&marker, || current().bundle_path().map(Path::to_path_buf));
        assert_eq!(inside.as_deref(), Some(Path::new("/marker.pem")));
        assert!(SCOPED.with(|s| s.borrow().is_none()));
    }
}
