//! The document pipeline, one module per stage, in data-flow order:
//!
//! 1. [`consume`] — AMQP deliveries in, acks/dead-letters out, reconnects.
//! 2. [`validate`] — bytes → `ValidatedEvent`.
//! 3. [`route`] — `ValidatedEvent` → `RoutedDocument` (the routing table decides);
//!    an emergency SMS's sender is then checked against the roster
//!    ([`crate::sms::sender`]).
//! 4. [`render`] — `RoutedDocument` → `RenderedDocument` (PDF where needed).
//! 5. [`deliver`] — `RenderedDocument` → `DeliveryPlan` (who gets it, on which channel,
//!    as [`crate::recipient_policy`] decides for every output).
//! 6. [`enqueue_archive`] — `DeliveryPlan` → one committed transaction (archive row `klar`).
//!
//! The states themselves (`ValidatedEvent` … `DeliveryPlan`) are `crate::document`'s,
//! each with the one constructor that checks it; these modules are the steps
//! between them. Only the consumers of the whole pipeline import this module
//! (`app`, `cli`, `http`, the archive staff's «Produser på nytt», the benchmarks).
//!
//! [`process`] runs stages 2–6 for one message body and turns every failure into
//! exactly one [`Disposition`]: completed (ack), rejected (dead-letter with a reason), or
//! retry later (transient: nothing is acked or dead-lettered). Tests call it
//! directly; the consumer calls it for every delivery.
//!
//! [`reproduce`] runs stages 2–4 outside the consumer, with nothing written: for
//! the archive staff's «Produser på nytt» and `dokflyt render`.

pub(crate) mod consume;
pub(crate) mod deliver;
mod enqueue_archive;
pub(crate) mod render;
pub(crate) mod route;
pub(crate) mod validate;

// The stages are internal; their entry points are the pipeline's.
pub use consume::{Consumer, ConsumerStats};
pub use deliver::plan;
pub use render::render_blocking;
pub use route::route;
pub use validate::validate;

use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use crate::document::{Channel, Rejection, RenderedPdf, RoutedDocument, ValidationError};
use crate::render::{RenderError, Renderer};
use crate::rules::{RoutingTable, SharedRules};

/// Everything a pipeline step needs; cheap to clone.
#[derive(Clone)]
pub struct PipelineContext {
    pub pool: PgPool,
    pub rules: SharedRules,
    pub renderer: Arc<Renderer>,
    /// Largest accepted body (see `amqp.max_message_bytes`).
    pub max_message_bytes: usize,
    /// Renders at the same time ([`render_permits`]).
    pub render_permits: Arc<tokio::sync::Semaphore>,
}

/// The bound on concurrent renders: `amqp.render_threads`, or none beyond
/// `amqp.concurrency` when 0 (the default). Measured (README «Benchmark»): one
/// render per core cost 8 % of the throughput on this 2-core machine, because
/// renders then wait while the cores idle on commits and acks; the bound is for
/// a deployment whose memory, not its CPU, limits it (20-page reports).
pub fn render_permits(render_threads: usize) -> Arc<tokio::sync::Semaphore> {
    let n = if render_threads > 0 {
        render_threads
    } else {
        tokio::sync::Semaphore::MAX_PERMITS
    };
    Arc::new(tokio::sync::Semaphore::new(n))
}

/// The one decision about what to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Effects committed (or already committed earlier): ack.
    Completed {
        event_id: Uuid,
        duplicate: bool,
        archived: bool,
    },
    /// Permanent: dead-letter with this reason, then ack.
    Rejected {
        event_id: Option<Uuid>,
        code: &'static str,
        reason: String,
    },
    /// Transient: keep the message, back off, try again.
    RetryLater { reason: String },
}

impl Disposition {
    fn rejected(event_id: Option<Uuid>, code: &'static str, reason: impl ToString) -> Disposition {
        Disposition::Rejected {
            event_id,
            code,
            reason: reason.to_string(),
        }
    }

    fn from_db(event_id: Uuid, err: sqlx::Error) -> Disposition {
        if crate::db::is_transient(&err) {
            Disposition::RetryLater {
                reason: format!("database: {err}"),
            }
        } else {
            // A permanent database refusal is a bug or data PostgreSQL will not
            // store; the message goes to the dead-letter queue for a human.
            // PostgreSQL's message can quote the refused value: the code only.
            Disposition::rejected(
                Some(event_id),
                "database_rejected",
                format!(
                    "databasen avviste hendelsen (SQLSTATE {})",
                    crate::db::sqlstate(&err)
                ),
            )
        }
    }

    /// One word for spans: `completed`, `duplicate`, `retry`, or the rejection's code.
    pub fn word(&self) -> &'static str {
        match self {
            Disposition::Completed {
                duplicate: false, ..
            } => "completed",
            Disposition::Completed {
                duplicate: true, ..
            } => "duplicate",
            Disposition::Rejected { code, .. } => code,
            Disposition::RetryLater { .. } => "retry",
        }
    }

    /// The event's id, when it is known.
    pub fn event_id(&self) -> Option<Uuid> {
        match self {
            Disposition::Completed { event_id, .. } => Some(*event_id),
            Disposition::Rejected { event_id, .. } => *event_id,
            Disposition::RetryLater { .. } => None,
        }
    }
}

/// Runs validate → route → render → deliver → enqueue_archive for one body, in
/// the span `event` (`event_id`, `document_type`, `outcome`) with a child span
/// per stage (`validate`, `route`, `render`, `plan`, `commit`).
pub async fn process(ctx: &PipelineContext, body: &[u8]) -> Disposition {
    use tracing::field::Empty;
    use tracing::Instrument;
    let span = tracing::info_span!(
        "event",
        event_id = Empty,
        document_type = Empty,
        outcome = Empty
    );
    let outcome = stages(ctx, body).instrument(span.clone()).await;
    span.record("outcome", outcome.word());
    if let Some(id) = outcome.event_id() {
        span.record("event_id", tracing::field::display(id));
    }
    outcome
}

async fn stages(ctx: &PipelineContext, body: &[u8]) -> Disposition {
    use crate::metrics::{timed, timed_async, Stage};
    use tracing::Instrument;
    let validated = tracing::info_span!("validate").in_scope(|| {
        timed(Stage::Validate, || {
            validate::validate(body, ctx.max_message_bytes)
        })
    });
    let event = match validated {
        Ok(e) => e,
        Err(e) => {
            // An oversized body is not parsed at all, not even for its event id.
            let event_id = match e {
                validate::ValidationError::Oversize { .. } => None,
                _ => validate::ValidationError::event_id_of(body),
            };
            return Disposition::rejected(event_id, e.code(), &e);
        }
    };
    let event_id = event.event_id();
    let current = tracing::Span::current();
    current.record("event_id", tracing::field::display(event_id));
    current.record("document_type", event.document_type().key());
    // The common path has no look-up of its own: the commit detects a duplicate. A
    // refusal is rare, and is checked against what is committed before it is final.
    let payload_hash = enqueue_archive::payload_hash(
        &serde_json::to_value(event.event()).unwrap_or(serde_json::Value::Null),
    );

    let table = ctx.rules.current();
    let route_span = tracing::info_span!("route", channel = tracing::field::Empty);
    let routed = route_span.in_scope(|| timed(Stage::Route, || route::route(event, &table)));
    if let Ok(r) = &routed {
        route_span.record("channel", r.decision().channel.as_str());
    }
    let routed = match routed {
        Ok(r) => r,
        Err(rejection) => {
            return refuse_unless_committed(
                ctx,
                event_id,
                &payload_hash,
                rejection.code,
                &rejection,
            )
            .await
        }
    };
    // An emergency SMS goes to a whole school: the roster, not the event, says
    // whether its sender may send it (principal on that day, deputy, school owner).
    if routed.decision().channel == Channel::Sms {
        use crate::sms::sender::{self, SenderError};
        match sender::check_event(&ctx.pool, routed.event().event()).await {
            Ok(_) => {}
            Err(SenderError::NotAuthorised) => {
                let outcome = refuse_unless_committed(
                    ctx,
                    event_id,
                    &payload_hash,
                    SenderError::CODE,
                    &sender::NOT_AUTHORISED_NB,
                )
                .await;
                if matches!(outcome, Disposition::Rejected { .. }) {
                    if let Err(e) = sender::audit_refusal(&ctx.pool, routed.event().event()).await {
                        return Disposition::from_db(event_id, e);
                    }
                }
                return outcome;
            }
            Err(SenderError::Db(e)) => return Disposition::from_db(event_id, e),
        }
    }
    let rendered = match timed_async(
        Stage::Render,
        render::render(routed, ctx.renderer.clone(), &ctx.render_permits),
    )
    .instrument(tracing::info_span!("render"))
    .await
    {
        Ok(r) => r,
        Err(e) => {
            return refuse_unless_committed(ctx, event_id, &payload_hash, "render_failed", &e).await
        }
    };
    let plan = match tracing::info_span!("plan")
        .in_scope(|| timed(Stage::Deliver, || deliver::plan(rendered)))
    {
        Ok(p) => p,
        Err(e) => return refuse_unless_committed(ctx, event_id, &payload_hash, e.code(), &e).await,
    };
    match timed_async(
        Stage::EnqueueArchive,
        enqueue_archive::commit(&ctx.pool, &plan),
    )
    .instrument(tracing::info_span!("commit"))
    .await
    {
        Ok(enqueue_archive::Committed::New { archived }) => Disposition::Completed {
            event_id,
            duplicate: false,
            archived,
        },
        Ok(enqueue_archive::Committed::Duplicate { same_content: true }) => {
            // A redelivered or republished event: acked quietly, nothing written.
            Disposition::Completed {
                event_id,
                duplicate: true,
                archived: false,
            }
        }
        Ok(enqueue_archive::Committed::Duplicate {
            same_content: false,
        }) => Disposition::rejected(
            Some(event_id),
            "event_id_conflict",
            "this event_id was already used for an event with other content",
        ),
        Err(e) => Disposition::from_db(event_id, e),
    }
}

/// A refusal of an event that was committed earlier (e.g. under a previous routing
/// table) is a duplicate, acked quietly; otherwise the refusal stands.
async fn refuse_unless_committed(
    ctx: &PipelineContext,
    event_id: Uuid,
    payload_hash: &str,
    code: &'static str,
    reason: &(dyn std::fmt::Display + Sync),
) -> Disposition {
    match crate::db::events::payload_hash(&ctx.pool, event_id).await {
        Ok(Some(stored)) if stored == payload_hash => Disposition::Completed {
            event_id,
            duplicate: true,
            archived: false,
        },
        Ok(Some(_)) => Disposition::rejected(
            Some(event_id),
            "event_id_conflict",
            "this event_id was already used for an event with other content",
        ),
        Ok(None) => Disposition::rejected(Some(event_id), code, reason),
        Err(e) => Disposition::from_db(event_id, e),
    }
}

/// Why [`reproduce`] made no document.
#[derive(Debug, thiserror::Error)]
pub enum ReproduceError {
    /// The event does not pass validation (a stored event: the contract changed).
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The routing table refuses it.
    #[error("{}", .0.reason)]
    Rejected(Rejection),
    /// A template or the PDF writer failed.
    #[error("{0}")]
    Render(#[from] RenderError),
}

/// What [`reproduce`] made: the routed document and its PDF.
#[derive(Debug)]
pub struct Reproduced {
    pub routed: RoutedDocument,
    /// Rendered even where the routing makes none in the pipeline (a message
    /// that is not archived): the template author wants to see it. Whether the
    /// pipeline would: [`RoutedDocument::needs_pdf`].
    pub pdf: RenderedPdf,
}

/// validate → route → render for one event body, outside the consumer and with
/// nothing written: the archive staff's «Produser på nytt» (the stored event,
/// with today's table and templates) and `dokflyt render` (an event file, no
/// broker or database). Blocking (rendering is CPU work): call it on the
/// blocking pool from async code.
pub fn reproduce(
    body: &[u8],
    table: &RoutingTable,
    renderer: &Renderer,
) -> Result<Reproduced, ReproduceError> {
    let event = validate::validate(body, usize::MAX)?;
    let routed = route::route(event, table).map_err(ReproduceError::Rejected)?;
    let pdf = renderer.render_pdf(&routed)?;
    Ok(Reproduced { routed, pdf })
}
