//! The demo's archive target: the offline package (`archive::client::DirectoryArchive`,
//! `out/demo/arkiv/`), except that it refuses a few example documents the way a
//! Noark 5 archive answers over Fiks Arkiv, so the dashboard's Feilet tab has
//! something to fix.
//!
//! Input: the transfer's [`Outgoing`] documents. Output: the package's receipt, or
//! for the documents in [`REFUSED`] on their first attempt a refusal with the
//! archive's answer as a real archive writes it (`registreringFeilet` inside an
//! `arkivmeldingKvittering`, or `ugyldigforespoersel`), which the transfer parses
//! like any other and records as `feilet` with its Norwegian explanation. Once a
//! document has been refused (a permanent attempt in `transfer_attempts`), the
//! demo takes the archive's side as fixed: after «Prøv igjen» the next transfer
//! archives it. The decision reads the attempt log, so it holds across demo
//! restarts on the same database and starts over on a fresh one.
//! Failure: the attempt log cannot be read → a transient error (the transfer
//! retries), never a refusal that was not meant.

use std::collections::HashMap;
use std::path::Path;

use futures::future::BoxFuture;
use sqlx::PgPool;
use uuid::Uuid;

use dokflyt::archive::receipt::{self, Fault};
use dokflyt::archive::{
    ArchiveClient, Delivered, DirectoryArchive, FolderDelivered, Outgoing, TransferError,
};

/// How the archive refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `registreringFeilet`: the message was valid, the archive did not register it.
    RegistrationFailed,
    /// `ugyldigforespoersel`: the archive refused the request.
    Invalid,
}

/// The example documents the demo archive refuses once: (example, how, the
/// archive's message). Realistic causes that are fixed on the archive's side,
/// so «Prøv igjen» is the right action.
pub const REFUSED: &[(&str, Refusal, &str)] = &[
    (
        "meeting_invitation",
        Refusal::RegistrationFailed,
        "Elevmappen med ekstern nøkkel dokflyt/elev-19877 er avsluttet (mappestatus «Avsluttet») \
         og tar ikke imot nye journalposter. Gjenåpne mappen i arkivet.",
    ),
    (
        "grade_warning",
        Refusal::RegistrationFailed,
        "Klassifikasjon «B31» (K-kode) er ikke gyldig for arkivdel «ELEV». Legg verdien inn i \
         arkivdelens klassifikasjonssystem.",
    ),
    (
        "leave_application",
        Refusal::Invalid,
        "Fagsystemet «dokflyt» har ikke skrivetilgang til arkivdelen for Bakken skole: \
         tilgangsgruppen «Bakken skole» finnes ikke i arkivet.",
    ),
];

/// The offline package with the refusals of [`REFUSED`].
pub struct DemoArchive {
    inner: DirectoryArchive,
    pool: PgPool,
    /// Event id → how it is refused and the archive's message.
    refusals: HashMap<Uuid, (Refusal, &'static str)>,
}

impl DemoArchive {
    /// The package in `dir`, refusing the examples of [`REFUSED`] once; `event_id`
    /// names the event id each example label is published with.
    pub fn new(
        dir: &Path,
        fagsystem: &str,
        pool: PgPool,
        event_id: impl Fn(&str) -> Uuid,
    ) -> DemoArchive {
        DemoArchive {
            inner: DirectoryArchive::new(dir, fagsystem),
            pool,
            refusals: REFUSED
                .iter()
                .map(|(label, how, msg)| (event_id(label), (*how, *msg)))
                .collect(),
        }
    }

    async fn send_one(&self, msg: &Outgoing) -> Result<Delivered, TransferError> {
        if let Some((how, message)) = self.refusals.get(&msg.event_id) {
            let refused_before: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM transfer_attempts
                                 WHERE event_id = $1 AND outcome = 'permanent')",
            )
            .bind(msg.event_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|_| TransferError::Connect("the demo archive's attempt log".into()))?;
            if !refused_before {
                return Err(refusal(msg.event_id, *how, message));
            }
        }
        self.inner.send(msg).await
    }
}

/// The archive's answer for `event_id`, parsed as the HTTP client would parse it.
fn refusal(event_id: Uuid, how: Refusal, message: &str) -> TransferError {
    use sha2::Digest;
    // The archive's own error id: unique per refusal, the same in every run.
    let digest = sha2::Sha256::digest(format!("dokflyt-demo-archive:{event_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let fault = Fault {
        id: uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
        message: message.to_string(),
    };
    match how {
        Refusal::RegistrationFailed => TransferError::RegistrationFailed {
            body: receipt::write_registration_failed(&fault),
            fault,
        },
        Refusal::Invalid => TransferError::Rejected {
            body: receipt::write_fault(false, &fault),
            fault,
        },
    }
}

impl ArchiveClient for DemoArchive {
    fn send<'a>(&'a self, msg: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, TransferError>> {
        Box::pin(self.send_one(msg))
    }
    fn create_folder<'a>(
        &'a self,
        key: &'a str,
        xml: &'a str,
    ) -> BoxFuture<'a, Result<FolderDelivered, TransferError>> {
        self.inner.create_folder(key, xml)
    }
    fn target(&self) -> &'static str {
        self.inner.target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dokflyt::archive::receipt::{parse, ArchiveAnswer};

    #[test]
    fn the_refusals_are_receipts_the_client_reads_back() {
        let id = Uuid::new_v4();
        for (_, how, message) in REFUSED {
            let e = refusal(id, *how, message);
            assert!(!e.is_transient(), "a refusal is permanent");
            let body = e.answer().expect("the archive's answer");
            let fault = match parse(body).expect("a Fiks Arkiv answer") {
                ArchiveAnswer::RegistrationFailed(f) => {
                    assert_eq!(*how, Refusal::RegistrationFailed);
                    f
                }
                ArchiveAnswer::Invalid(f) => {
                    assert_eq!(*how, Refusal::Invalid);
                    f
                }
                other => panic!("not a refusal: {other:?}"),
            };
            assert_eq!(fault.message, *message);
            assert!(
                e.explanation_nb().contains(message),
                "explained with the message"
            );
        }
        // The error id is stable per document and differs between documents.
        let a = refusal(id, Refusal::Invalid, "x");
        let b = refusal(id, Refusal::Invalid, "x");
        assert_eq!(a.answer(), b.answer());
        assert_ne!(
            refusal(Uuid::new_v4(), Refusal::Invalid, "x").answer(),
            a.answer()
        );
    }
}
