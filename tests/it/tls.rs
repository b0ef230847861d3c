//! TLS that trusts the municipality's CA (issue 20, item 4): every outgoing TLS
//! connection trusts the OS store plus `tls.ca_bundle`, and nothing else.
//!
//! Each test makes a private CA and a server certificate for 127.0.0.1/localhost
//! (rcgen), puts a TLS front ([`TlsFront`], rustls) before a real stand-in
//! speaking the real protocol — the archive, SvarUt, the SMS gateway, and the
//! real RabbitMQ of this machine — or starts aiosmtpd with STARTTLS, and then
//! makes the same call twice with the production client: with the CA in the
//! trust it succeeds, with the OS store alone it fails, and the front saw the
//! client refuse the certificate (`UnknownCA`), so it failed for that reason.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dokflyt::archive::run_now;
use dokflyt::archive::{ArchiveClient, HttpArchiveClient};
use dokflyt::channels::svarut::SvarUtClient;
use dokflyt::channels::{Email, MailError, Mailer};
use dokflyt::config::{ArchiveSettings, EmailSettings, Secret, SmsSettings, SmtpTls, TlsSettings};
use dokflyt::sms::{GatewayClient, Lookup};
use dokflyt::tls::{with_trust, Trust};
use dokflyt_dev::standins::svarut::{StandInAuth, SvarUtStandIn};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use crate::common::archive_standin::{options, Db, StandIn};
use crate::common::sms_gateway::{GatewayStandIn, GATEWAY_PASSWORD, GATEWAY_USER};

/// A private CA, a server certificate it signed for 127.0.0.1 and localhost, and
/// the CA as a bundle file.
struct Pki {
    dir: tempfile::TempDir,
    ca_cert: rustls::pki_types::CertificateDer<'static>,
    /// A client certificate the CA signed (mTLS), certificate and key in PEM.
    client_cert_pem: String,
    client_key_pem: String,
    bundle: PathBuf,
    server_cert_pem: String,
    server_key_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Testkommune intern CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("ca key"))
            .expect("ca certificate");
        let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = server.signed_by(&key, &ca).expect("server certificate");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "dokflyt");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = client
            .signed_by(&client_key, &ca)
            .expect("client certificate");
        let dir = tempfile::tempdir().expect("dir");
        let bundle = dir.path().join("kommune-ca.pem");
        std::fs::write(&bundle, ca.pem()).expect("bundle");
        Pki {
            ca_cert: ca.der().clone(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            bundle,
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
            server_cert: cert.der().clone(),
            server_key: key.serialize_der(),
            dir,
        }
    }

    /// The trust `[tls] ca_bundle = <this CA>` gives.
    fn trust(&self) -> Trust {
        Trust::load(&TlsSettings {
            ca_bundle: Some(self.bundle.clone()),
        })
        .expect("the bundle loads")
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config_with(false)
    }

    /// With `mtls`, a client certificate signed by the CA is required.
    fn server_config_with(&self, mtls: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key.clone().into());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_cert.clone()).expect("ca");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(
            builder
                .with_single_cert(vec![self.server_cert.clone()], key)
                .expect("server config"),
        )
    }
}

/// TLS in front of a plain server: terminates TLS with the test CA's server
/// certificate and passes the bytes on to `backend`.
struct TlsFront {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    /// Why handshakes failed (the client's alert).
    refused: Arc<Mutex<Vec<String>>>,
}

impl TlsFront {
    async fn start(pki: &Pki, backend: SocketAddr) -> TlsFront {
        TlsFront::start_with(pki.server_config(), backend).await
    }

    async fn start_with(config: Arc<rustls::ServerConfig>, backend: SocketAddr) -> TlsFront {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let front = TlsFront {
            addr: listener.local_addr().expect("addr"),
            handshakes: Arc::default(),
            refused: Arc::default(),
        };
        let (handshakes, refused) = (front.handshakes.clone(), front.refused.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, handshakes, refused) =
                    (acceptor.clone(), handshakes.clone(), refused.clone());
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(mut tls) => {
                            handshakes.fetch_add(1, Ordering::SeqCst);
                            if let Ok(mut up) = TcpStream::connect(backend).await {
                                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                            }
                        }
                        Err(e) => refused.lock().expect("lock").push(e.to_string()),
                    }
                });
            }
        });
        front
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the failed handshake is recorded; the client may
    /// return its error before the front's task has run.
    async fn refusals(&self) -> Vec<String> {
        for _ in 0..200 {
            let r = self.refused.lock().expect("lock").clone();
            if !r.is_empty() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Vec::new()
    }

    /// The client refused the certificate as signed by an unknown CA.
    async fn assert_refused_as_unknown_ca(&self) {
        let r = self.refusals().await;
        assert!(
            r.iter().any(|e| e.contains("UnknownCA")),
            "the client must refuse the certificate as from an unknown CA: {r:?}"
        );
    }
}

#[test]
fn every_reqwest_client_of_the_service_is_built_by_tls() {
    // The one place: no HTTPS client in src/ but the ones src/tls.rs builds
    // (the demo's stand-ins, which post to the local dokflyt and are no service
    // clients, live outside the product in dev/).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("src").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.ends_with("tls.rs") && p.parent() == Some(root.as_path()) {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for needle in [
                "reqwest::Client::builder(",
                "reqwest::Client::new(",
                "blocking::Client::builder(",
                "blocking::Client::new(",
                "ClientConfig::builder",
                "TlsParameters::builder",
                "TlsParameters::new",
                "Connection::connect(",
            ] {
                if text.contains(needle) {
                    offenders.push(format!("{}: {needle}", p.display()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_transfer_reaches_an_archive_behind_the_municipality_ca_only_with_the_bundle() {
    let pki = Pki::new();
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let front = TlsFront::start(&pki, archive.addr).await;
    let db = Db::new().await;
    let refused = db.queue("conduct_warning").await;
    let settings = ArchiveSettings {
        url: Secret::new(format!(
            "https://127.0.0.1:{}/arkivmelding",
            front.addr.port()
        )),
        timeout_ms: 5_000,
        ..ArchiveSettings::default()
    };
    let (opts, _) = options(Duration::from_secs(5));

    // The OS store alone: the certificate is refused, nothing reaches the archive.
    let client: Arc<dyn ArchiveClient> = Arc::new(
        with_trust(&Trust::os_only(), || {
            HttpArchiveClient::from_settings(&settings)
        })
        .expect("client"),
    );
    let _ = run_now(db.pool(), client, &opts).await;
    front.assert_refused_as_unknown_ca().await;
    assert_eq!(front.handshakes(), 0);
    let row = db.row(refused).await;
    assert_eq!(row.status, "feilet", "{row:?}");
    assert_eq!(
        row.error_class.as_deref(),
        Some("tls_certificate"),
        "{row:?}"
    );
    assert!(row
        .error_explanation
        .as_deref()
        .is_some_and(|e| e.contains("tls.ca_bundle")));
    assert!(archive.with(|a| a.requests.is_empty()));

    let id = db.queue("group_overview").await;

    // With the municipality's CA: transferred over TLS, receipt and all.
    let client: Arc<dyn ArchiveClient> = Arc::new(
        with_trust(&pki.trust(), || HttpArchiveClient::from_settings(&settings)).expect("client"),
    );
    run_now(db.pool(), client, &opts).await.expect("transfer");
    assert_eq!(db.row(id).await.status, "arkivert");
    assert!(front.handshakes() >= 1);
    assert_eq!(archive.with(|a| a.created.len()), 1);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svarut_behind_the_municipality_ca_answers_only_with_the_bundle() {
    let pki = Pki::new();
    let svarut = SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("svarut");
    let front = TlsFront::start(&pki, svarut.addr).await;
    let mut settings = svarut.client_settings();
    settings.base_url = format!("https://127.0.0.1:{}/api", front.addr.port());

    let without = with_trust(&Trust::os_only(), || SvarUtClient::new(&settings)).expect("client");
    assert!(matches!(
        without.lookup("ekstern-1").await,
        Err(dokflyt::channels::svarut::SvarUtError::Certificate)
    ));
    front.assert_refused_as_unknown_ca().await;
    assert_eq!(svarut.lookups(), 0);

    let with = with_trust(&pki.trust(), || SvarUtClient::new(&settings)).expect("client");
    let found = with
        .lookup("ekstern-1")
        .await
        .expect("SvarUt answers over TLS");
    assert!(found.is_empty());
    assert_eq!(svarut.lookups(), 1);
    assert!(svarut.violations().is_empty(), "{:?}", svarut.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_gateway_behind_the_municipality_ca_answers_only_with_the_bundle() {
    let pki = Pki::new();
    let gateway = GatewayStandIn::start().await;
    let front = TlsFront::start(&pki, gateway.addr).await;
    let settings = SmsSettings {
        gateway_url: Secret::new(format!("https://127.0.0.1:{}", front.addr.port())),
        username: GATEWAY_USER.into(),
        password: Secret::new(GATEWAY_PASSWORD),
        ..SmsSettings::default()
    };

    let without = with_trust(&Trust::os_only(), || GatewayClient::new(&settings)).expect("client");
    match without.lookup("nokkel-1").await {
        Lookup::Transient { reason } => assert!(reason.contains("tls.ca_bundle"), "{reason}"),
        _ => panic!("a refused certificate is a transient failure"),
    }
    front.assert_refused_as_unknown_ca().await;

    let with = with_trust(&pki.trust(), || GatewayClient::new(&settings)).expect("client");
    // A real answer from the gateway: it has no message under that key.
    assert!(matches!(with.lookup("nokkel-1").await, Lookup::NotFound));
    assert!(front.handshakes() >= 1);
}

/// aiosmtpd with STARTTLS (required) and the test CA's server certificate.
struct StarttlsSmtp {
    port: u16,
    maildir: PathBuf,
    child: Child,
}

impl StarttlsSmtp {
    async fn start(pki: &Pki) -> StarttlsSmtp {
        let cert = pki.dir.path().join("smtp.pem");
        let key = pki.dir.path().join("smtp.key");
        std::fs::write(&cert, &pki.server_cert_pem).expect("cert");
        std::fs::write(&key, &pki.server_key_pem).expect("key");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let maildir = pki.dir.path().join("mail");
        let mut child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--tlscert")
            .arg(&cert)
            .arg("--tlskey")
            .arg(&key)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts (apt-get install python3-aiosmtpd)");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return StarttlsSmtp {
                    port,
                    maildir,
                    child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {port}");
    }

    fn received(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for StarttlsSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_to_a_server_of_the_municipality_ca_only_with_the_bundle() {
    let pki = Pki::new();
    let smtp = StarttlsSmtp::start(&pki).await;
    let settings = EmailSettings {
        host: "127.0.0.1".into(),
        port: smtp.port,
        tls: SmtpTls::Starttls,
        timeout_ms: 10_000,
        ..EmailSettings::default()
    };
    let email = Email {
        from: "Bakken skole <ikke-svar@dokflyt.example.no>".into(),
        reply_to: None,
        to_name: "Foresatt".into(),
        to_address: "foresatt@example.no".into(),
        subject: "Melding fra skolen".into(),
        text: "Du har fått en melding.".into(),
        attachment: None,
        message_id: "tls-test@dokflyt".into(),
    };

    let without = with_trust(&Trust::os_only(), || Mailer::new(&settings)).expect("mailer");
    let e = without.send(&email).await.expect_err("refused");
    assert!(matches!(e, MailError::Tls), "{e:?}");
    assert_eq!(smtp.received(), 0);

    let with = with_trust(&pki.trust(), || Mailer::new(&settings)).expect("mailer");
    with.send(&email).await.expect("sent over STARTTLS");
    assert_eq!(smtp.received(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_to_the_broker_behind_the_municipality_ca_only_with_the_bundle() {
    // The real RabbitMQ of this machine behind a TLS front: the same AMQP over
    // TLS a broker with an amqps listener speaks.
    let pki = Pki::new();
    let front = TlsFront::start(&pki, crate::common::AMQP_HOST_PORT.parse().expect("addr")).await;
    let url = format!("amqps://guest:guest@127.0.0.1:{}/%2f", front.addr.port());

    let e = dokflyt::broker::connect_with(&url, 10, &Trust::os_only())
        .await
        .expect_err("refused");
    // lapin closes without an alert; its error says why.
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    assert_eq!(front.handshakes(), 0);

    let trust = pki.trust();
    let conn = dokflyt::broker::connect_with(&url, 10, &trust)
        .await
        .expect("amqps with the bundle");
    let channel = dokflyt::broker::confirm_channel(&conn)
        .await
        .expect("a channel over TLS");
    let q = channel
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("the broker answers over TLS");
    assert!(q.name().as_str().starts_with("amq.gen-"));
    let _ = conn.close(200, "done".into()).await;
}

/// `dokflyt status` with `DOKFLYT_TLS__CA_BUNDLE` set to `bundle`: it must refuse
/// to start; its stderr.
fn status_with_bundle(bundle: &std::path::Path) -> String {
    let out = Command::new(crate::common::dokflyt_bin())
        .arg("status")
        .env("DOKFLYT_TLS__CA_BUNDLE", bundle)
        .env(
            "DOKFLYT_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .output()
        .expect("dokflyt runs");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bundle_that_cannot_be_read_refuses_start_naming_the_setting() {
    let err = status_with_bundle(std::path::Path::new("/nonexistent/kommune-ca.pem"));
    assert!(
        err.contains("tls.ca_bundle") && err.contains("DOKFLYT_TLS__CA_BUNDLE"),
        "{err}"
    );
    assert!(err.contains("/nonexistent/kommune-ca.pem"), "{err}");

    let dir = tempfile::tempdir().expect("dir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "ikke et sertifikat\n").expect("write");
    let err = status_with_bundle(&junk);
    assert!(
        err.contains("DOKFLYT_TLS__CA_BUNDLE") && err.contains("no certificate"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_client_presents_its_client_certificate_to_an_mtls_archive() {
    // The archive's `[archive.auth] client_certificate`/`client_key` (mTLS)
    // travel in the same rustls configuration as the bundle.
    let pki = Pki::new();
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let front = TlsFront::start_with(pki.server_config_with(true), archive.addr).await;
    let db = Db::new().await;
    let mut settings = ArchiveSettings {
        url: Secret::new(format!(
            "https://127.0.0.1:{}/arkivmelding",
            front.addr.port()
        )),
        timeout_ms: 5_000,
        ..ArchiveSettings::default()
    };
    let (opts, _) = options(Duration::from_secs(5));

    // Trusted server, but no client certificate: the archive refuses.
    let refused = db.queue("conduct_warning").await;
    let client: Arc<dyn ArchiveClient> = Arc::new(
        with_trust(&pki.trust(), || HttpArchiveClient::from_settings(&settings)).expect("client"),
    );
    let _ = run_now(db.pool(), client, &opts).await;
    assert_ne!(db.row(refused).await.status, "arkivert");
    let r = front.refusals().await;
    assert!(r.iter().any(|e| e.contains("certificate")), "{r:?}");

    settings.auth.client_certificate = pki.client_cert_pem.clone();
    settings.auth.client_key = Secret::new(pki.client_key_pem.clone());
    let id = db.queue("group_overview").await;
    let client: Arc<dyn ArchiveClient> = Arc::new(
        with_trust(&pki.trust(), || HttpArchiveClient::from_settings(&settings)).expect("client"),
    );
    run_now(db.pool(), client, &opts).await.expect("transfer");
    assert_eq!(db.row(id).await.status, "arkivert");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maskinporten_behind_the_municipality_ca_grants_a_token_only_with_the_bundle() {
    use crate::common::maskinporten::{Maskinporten, AUDIENCE, CLIENT_ID, SCOPE};
    let pki = Pki::new();
    let mp = Maskinporten::start("tilgang-123").await;
    let front = TlsFront::start(&pki, mp.addr).await;
    let settings = dokflyt::config::MaskinportenSettings {
        token_endpoint: mp.token_endpoint().replace(
            &format!("http://{}", mp.addr),
            &format!("https://127.0.0.1:{}", front.addr.port()),
        ),
        audience: AUDIENCE.into(),
        client_id: CLIENT_ID.into(),
        scope: SCOPE.into(),
        private_key: Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY),
        certificate: dokflyt_dev::standins::svarut::DEMO_CERT.into(),
        kid: String::new(),
    };
    assert!(
        settings.token_endpoint.starts_with("https://"),
        "{}",
        settings.token_endpoint
    );
    let without = with_trust(&Trust::os_only(), || {
        dokflyt::maskinporten::TokenSource::new(&settings)
    })
    .expect("token source");
    assert!(without.token().await.is_err());
    front.assert_refused_as_unknown_ca().await;
    assert_eq!(mp.grants(), 0);

    let with = with_trust(&pki.trust(), || {
        dokflyt::maskinporten::TokenSource::new(&settings)
    })
    .expect("token source");
    assert_eq!(
        with.token().await.expect("a token over TLS").expose(),
        "tilgang-123"
    );
    assert_eq!(mp.grants(), 1);
}
