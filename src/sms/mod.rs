//! Emergency SMS (beredskapsmelding, docs/domain.md §5): everyone at a school, costed
//! before it is sent, never twice.
//!
//! ```text
//! POST …/emergency-sms/preview ─► request::preview ─► sms_previews (token, counts, cost)
//! POST …/emergency-sms {token} ─► request::send ─┐
//! emergency_sms document (committed by the pipeline) ─► intake ─┤  authorize + audit, rate limit,
//!                                                             │  cost cap (→ awaiting_approval)
//!                                                             ▼
//!                      message::commit: sms_messages + one sms_recipients row per number
//!                      (+ cost ledger) in ONE transaction, before anything is sent
//!                                                             ▼
//!        worker (dispatcher) ─► {prefix}.sms batches of recipient ids ─► worker (sender)
//!          claim (committed) → lookup key if attempted before → gateway → sent / failed
//!        POST /api/sms/dlr (delivery report) ─► delivered / failed
//! ```
//!
//! Modules: [`segments`] (GSM 03.38 counting), [`number`] (E.164), [`recipients`],
//! [`cost`] (prices, ledger), [`authz`], [`sender`] (the event sender against the
//! roster), [`message`], [`request`] (the API path),
//! [`intake`] (the document-event path), [`gateway`] (HTTP client), [`fanout`]
//! (fan-out and sending), [`dlr`] (delivery reports).

mod authz;
pub mod cost;
pub(crate) mod dlr;
pub(crate) mod fanout;
pub(crate) mod gateway;
mod intake;
pub(crate) mod message;
pub(crate) mod number;
pub mod recipients;
pub mod request;
pub mod segments;
pub(crate) mod sender;

pub use fanout::{SmsStats, SmsWorker};
pub use gateway::{GatewayClient, Lookup};
pub use number::MobileNumber;
pub use sender::NOT_AUTHORISED_NB;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::SmsSettings;

/// Everything the API path and the worker share; cheap to clone.
#[derive(Clone)]
pub struct SmsContext {
    pub pool: sqlx::PgPool,
    pub settings: SmsSettings,
    /// Woken when a message is committed, so the fan-out starts at once.
    pub wake: Arc<Notify>,
    /// Verifies person assertions for send and approve over the API. `None`: the
    /// API cannot send or approve (the dashboard still can).
    pub person: Option<Arc<crate::assertion::Verifier>>,
    /// The Sámi settings and fixed phrases (`[letters]`, the renderer's): a school
    /// with a Sámi setting sends the Sámi text after the Norwegian.
    pub sami: Arc<crate::render::sami::SamiTexts>,
}

impl SmsContext {
    pub fn new(pool: sqlx::PgPool, settings: SmsSettings) -> SmsContext {
        SmsContext {
            pool,
            settings,
            wake: Arc::new(Notify::new()),
            person: None,
            sami: Arc::default(),
        }
    }

    /// The same context with the Sámi settings and phrases.
    pub fn with_sami(mut self, sami: Arc<crate::render::sami::SamiTexts>) -> SmsContext {
        self.sami = sami;
        self
    }

    /// The same context with the person-assertion verifier the API needs.
    pub fn with_person_verifier(mut self, v: crate::assertion::Verifier) -> SmsContext {
        self.person = Some(Arc::new(v));
        self
    }
}

/// Every way an SMS request can end other than success. The messages of the
/// variants meant for staff are Norwegian.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("Fant ikke meldingen")]
    NotFound,
    #[error("cost: {0}")]
    Cost(#[from] cost::CostError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl SmsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SmsError::Db(e) if crate::db::is_transient(e))
    }
}
