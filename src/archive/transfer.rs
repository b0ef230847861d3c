//! The transfer: `klar` rows of `archive_queue` → the archive → `arkivert` / `feilet`.
//!
//! Stage: archive transfer (after the pipeline; run by `dokflyt archive run-now`,
//! later by the scheduled windows). Input: rows in status `klar`, their stored
//! event and document (decision, title, PDF). Output: each row `arkivert` with the
//! journal reference and the receipt verbatim, or `feilet` with the error class,
//! the archive's answer verbatim and a Norwegian explanation; one
//! `transfer_attempts` row per attempt. Failure: [`TransferRunError`] only when the
//! database fails; every archive fault ends in the row's status.
//!
//! Claiming: one committed statement sets `claimed_by`/`claimed_until` on a batch
//! selected `FOR UPDATE SKIP LOCKED` among unclaimed (or expired) `klar` rows, so
//! two runs never send the same document, and no transaction is open during the
//! HTTP call. The outcome is recorded only while the claim is still ours (receipts
//! in bulk, one statement for whatever arrived meanwhile; see [`run_now`]). A crashed
//! run's claims expire after `archive.claim_ttl_secs`; the resend then carries the
//! same external key (the event id), so the archive returns the existing journal post.
//!
//! Retries: transient faults are retried up to `archive.max_attempts` with
//! exponential backoff (`backoff_initial_ms` doubling to `backoff_max_ms`, jittered), each
//! attempt extending the claim; then `feilet`. Permanent faults go to `feilet` at once.
//!
//! Outage: when `archive.outage_after` documents in a row end `feilet` on transient
//! faults, the archive is taken to be down: the run stops, documents it claimed but
//! has not started are released still `klar`, and the next run picks them up — an
//! outage does not turn the whole queue into `feilet`.
//!
//! Integrity: a stored PDF whose bytes no longer match the SHA-256 recorded when it
//! was rendered is never sent: the row goes to `feilet` with class `pdf_checksum`.
//!
//! Logs carry event ids, classes and counts, never names or national ids.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sha2::Digest;
use sqlx::PgPool;
use uuid::Uuid;

use super::arkivmelding::{self, BuildOptions, DocumentInput, PdfRef};
use super::client::{ArchiveClient, Delivered, Outgoing, TransferError};
use crate::backoff::Backoff;
use crate::config::ArchiveSettings;
use crate::document::RoutingDecision;
use crate::event::IncomingEvent;

#[derive(Debug, thiserror::Error)]
pub enum TransferRunError {
    #[error("database error during the archive transfer: {0}")]
    Db(#[from] sqlx::Error),
}

/// The knobs of one transfer run (from [`ArchiveSettings`]).
#[derive(Debug, Clone)]
pub struct TransferOptions {
    pub batch_size: i64,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// The wait before a transient fault's next attempt: `backoff_initial_ms`
    /// doubling to `backoff_max_ms`, jittered.
    pub backoff: Backoff,
    pub claim_ttl: Duration,
    /// Consecutive documents failed on transient faults after which the run stops.
    pub outage_after: u32,
    pub build: BuildOptions,
    /// Told of every document the run finishes (`arkivert`, `feilet` or taken
    /// over): `dokflyt archive run-now` shows it; silent everywhere else.
    pub progress: Arc<dyn crate::progress::Progress>,
}

impl TransferOptions {
    pub fn from_settings(s: &ArchiveSettings) -> TransferOptions {
        TransferOptions {
            batch_size: s.batch_size.max(1),
            concurrency: s.concurrency.max(1),
            max_attempts: s.max_attempts.max(1),
            backoff: Backoff::from_millis(s.backoff_initial_ms, s.backoff_max_ms),
            claim_ttl: Duration::from_secs(s.claim_ttl_secs.max(1)),
            outage_after: s.outage_after.max(1),
            build: BuildOptions {
                system: s.system.clone(),
                uo_access_code: s.uo_access_code.clone(),
                school_access_group: s.school_access_group.clone(),
            },
            progress: crate::progress::silent(),
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub arkivert: u64,
    pub feilet: u64,
    /// Rows whose claim was taken over by another run before this one recorded
    /// (the claim expired): the other run's outcome stands.
    pub lost_claims: u64,
    pub attempts: u64,
    /// True when the run stopped because the archive looked down.
    pub stopped_for_outage: bool,
}

enum Final {
    /// The archive answered with a receipt; handed to the recorder, which sets
    /// `arkivert` (or finds the claim lost).
    Delivered,
    /// `feilet`; `transient` when the last fault was transient.
    Failed {
        transient: bool,
    },
    Lost,
    /// Not attempted: the run stopped for an outage; the row is `klar` and unclaimed.
    Released,
}

/// Counts documents in a row that ended `feilet` on transient faults.
#[derive(Default)]
struct OutageDetector {
    consecutive: std::sync::atomic::AtomicU32,
    threshold: u32,
}

impl OutageDetector {
    fn record(&self, fin: &Final) {
        use std::sync::atomic::Ordering::SeqCst;
        match fin {
            Final::Failed { transient: true } => {
                self.consecutive.fetch_add(1, SeqCst);
            }
            Final::Delivered | Final::Failed { transient: false } => {
                self.consecutive.store(0, SeqCst)
            }
            Final::Lost | Final::Released => {}
        }
    }
    fn tripped(&self) -> bool {
        self.consecutive.load(std::sync::atomic::Ordering::SeqCst) >= self.threshold
    }
}

/// Transfers every `klar` row now (until none is left unclaimed).
///
/// Three stages run concurrently, vector-style, joined by bounded channels:
/// 1. claim — claims a batch and loads its stored documents, then the next batch
///    while the senders work on this one: at most two batches are claimed and not
///    yet started (one in the channel, one being handed to it); on an outage the
///    senders release them still `klar`;
/// 2. send — up to `concurrency` documents in flight to the archive, each with its
///    retries; failures are recorded at once (one statement each, they are rare);
/// 3. record — the archive's receipts, written in bulk: whatever receipts have
///    arrived (up to `batch_size`) go into one statement that sets `arkivert` where
///    the claim is still ours and logs the attempts.
///
/// A receipt waiting in stage 3 when the process dies is not lost: the row is still
/// `klar` and claimed, the claim expires, and the resend carries the same external
/// key, so the archive answers with the existing journal post.
#[tracing::instrument(name = "archive_run", skip_all, fields(run_id = tracing::field::Empty))]
pub async fn run_now(
    pool: &PgPool,
    client: Arc<dyn ArchiveClient>,
    opts: &TransferOptions,
) -> Result<RunSummary, TransferRunError> {
    let run_id = Uuid::new_v4();
    tracing::Span::current().record("run_id", tracing::field::display(run_id));
    let outage = OutageDetector {
        threshold: opts.outage_after,
        ..OutageDetector::default()
    };
    let outage = &outage;
    let batch = usize::try_from(opts.batch_size).unwrap_or(1).max(1);
    let (work_tx, mut work_rx) = tokio::sync::mpsc::channel::<(Uuid, Option<Stored>)>(batch);
    let (receipt_tx, receipt_rx) =
        tokio::sync::mpsc::channel::<ArchivedAttempt>(opts.concurrency.max(1) * 2);

    let claimer = async move {
        'claiming: while !outage.tripped() {
            let claimed = claim(pool, run_id, opts).await?;
            if claimed.is_empty() {
                break;
            }
            tracing::info!(%run_id, claimed = claimed.len(), "archive transfer: batch claimed");
            let mut stored = load_batch(pool, &claimed).await?;
            for id in claimed {
                let s = stored.remove(&id);
                if work_tx.send((id, s)).await.is_err() {
                    // The senders stopped (a database error); what is claimed
                    // and unsent is picked up again when the claim expires.
                    break 'claiming;
                }
            }
        }
        Ok::<_, TransferRunError>(())
    };

    let sender = async move {
        let mut summary = RunSummary::default();
        let work = futures::stream::poll_fn(|cx| work_rx.poll_recv(cx));
        let mut results = work
            .map(|(event_id, stored)| {
                let client = client.clone();
                let receipt_tx = receipt_tx.clone();
                async move {
                    if outage.tripped() {
                        return release(pool, run_id, event_id)
                            .await
                            .map(|_| (Final::Released, 0));
                    }
                    let r = crate::metrics::timed_async(
                        crate::metrics::Stage::Transfer,
                        transfer_one(
                            pool,
                            client.as_ref(),
                            &receipt_tx,
                            run_id,
                            event_id,
                            stored,
                            opts,
                        ),
                    )
                    .await;
                    if let Ok((fin, _)) = &r {
                        outage.record(fin);
                    }
                    r
                }
            })
            .buffer_unordered(opts.concurrency.max(1));
        while let Some(r) = results.next().await {
            let (fin, attempts) = r?;
            if !matches!(fin, Final::Released) {
                opts.progress.advance(1);
            }
            summary.attempts += attempts;
            match fin {
                Final::Failed { .. } => summary.feilet += 1,
                Final::Lost => summary.lost_claims += 1,
                // Counted by the recorder, which knows whether the claim held.
                Final::Delivered | Final::Released => {}
            }
        }
        Ok::<_, TransferRunError>(summary)
    };

    let recorder = record_receipts(pool, run_id, batch, receipt_rx);

    let ((), mut summary, (arkivert, lost)) = tokio::try_join!(claimer, sender, recorder)?;
    summary.arkivert = arkivert;
    summary.lost_claims += lost;
    if outage.tripped() {
        summary.stopped_for_outage = true;
        tracing::warn!(%run_id, "archive transfer stopped: the archive looks down; the rest stays klar");
    }
    tracing::info!(
        %run_id,
        arkivert = summary.arkivert,
        feilet = summary.feilet,
        attempts = summary.attempts,
        "archive transfer finished"
    );
    Ok(summary)
}

/// Stage 3: writes receipts as they arrive, up to `max` per statement, until the
/// senders are done. Returns (rows set `arkivert`, rows whose claim was lost).
async fn record_receipts(
    pool: &PgPool,
    run_id: Uuid,
    max: usize,
    mut rx: tokio::sync::mpsc::Receiver<ArchivedAttempt>,
) -> Result<(u64, u64), TransferRunError> {
    let (mut arkivert, mut lost) = (0, 0);
    let mut buf = Vec::with_capacity(max);
    while rx.recv_many(&mut buf, max).await > 0 {
        let recorded = record_archived(pool, run_id, &buf).await?;
        arkivert += recorded;
        lost += buf.len() as u64 - recorded;
        buf.clear();
    }
    Ok((arkivert, lost))
}

/// Claims up to `batch_size` unclaimed `klar` rows for `run_id`, committed at once.
async fn claim(
    pool: &PgPool,
    run_id: Uuid,
    opts: &TransferOptions,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH c AS (
            SELECT event_id FROM archive_queue
            WHERE status = 'klar' AND (claimed_until IS NULL OR claimed_until < now())
            ORDER BY queued_at, event_id
            LIMIT $1
            FOR UPDATE SKIP LOCKED
         )
         UPDATE archive_queue q
         SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3), updated_at = now()
         FROM c WHERE q.event_id = c.event_id
         RETURNING q.event_id",
    )
    .bind(opts.batch_size)
    .bind(run_id)
    .bind(opts.claim_ttl.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// What is stored about one document.
struct Stored {
    payload: serde_json::Value,
    decision: serde_json::Value,
    title: String,
    pdf: Option<Vec<u8>>,
    pdf_sha256: Option<String>,
    /// The school's principal on the document's date (case owner of school folders).
    case_owner: Option<String>,
}

/// (event_id, payload, decision, title, pdf, pdf_sha256, case owner) as selected.
type StoredRow = (
    Uuid,
    serde_json::Value,
    serde_json::Value,
    String,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
);

/// The stored event and document of every claimed row, in one round trip.
async fn load_batch(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Stored>, sqlx::Error> {
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT d.event_id, e.payload, d.decision, d.title, d.pdf, d.pdf_sha256,
                (SELECT p.initials FROM school_principals p
                  WHERE p.school_id = d.school_id
                    AND p.valid_from <= (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date
                  ORDER BY p.valid_from DESC LIMIT 1)
         FROM documents d JOIN events e ON e.event_id = d.event_id
         WHERE d.event_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, payload, decision, title, pdf, pdf_sha256, case_owner)| {
                let stored = Stored {
                    payload,
                    decision,
                    title,
                    pdf,
                    pdf_sha256,
                    case_owner,
                };
                (id, stored)
            },
        )
        .collect())
}

/// Why a document could not even be described: permanent, no archive answer.
struct LocalFailure {
    class: &'static str,
    explanation: String,
}

fn prepare(event_id: Uuid, s: Stored, opts: &TransferOptions) -> Result<Outgoing, LocalFailure> {
    let stored = |what: &str| LocalFailure {
        class: "stored_document",
        explanation: format!(
            "Det lagrede dokumentet kan ikke leses ({what}). Meld fra til kommuneadmin."
        ),
    };
    let event: IncomingEvent =
        serde_json::from_value(s.payload).map_err(|_| stored("hendelsen"))?;
    // Called in `transfer_one`'s span.
    tracing::Span::current().record(
        "document_type",
        crate::telemetry::document_type_key(&event.document_type),
    );
    let decision: RoutingDecision =
        serde_json::from_value(s.decision).map_err(|_| stored("rutingsvedtaket"))?;
    // The stored PDF must still be the document that was rendered: a PDF whose
    // bytes no longer match the SHA-256 recorded at render time never leaves.
    if let (Some(b), Some(h)) = (&s.pdf, &s.pdf_sha256) {
        if !hex::encode(sha2::Sha256::digest(b)).eq_ignore_ascii_case(h) {
            return Err(LocalFailure {
                class: "pdf_checksum",
                explanation: "Det lagrede PDF-dokumentet er skadet (sjekksummen stemmer ikke) og \
                              ble ikke sendt til arkivet. Meld fra til kommuneadmin."
                    .into(),
            });
        }
    }
    let pdf_ref = match (&s.pdf, &s.pdf_sha256) {
        (Some(b), Some(h)) => Some(PdfRef {
            sha256: h,
            size: b.len(),
        }),
        _ => None,
    };
    let msg = arkivmelding::build(
        &DocumentInput {
            event: &event,
            decision: &decision,
            title: &s.title,
            pdf: pdf_ref,
            case_owner: s.case_owner.as_deref(),
        },
        &opts.build,
    )
    .map_err(|e| LocalFailure {
        class: "build",
        explanation: e.explanation_nb().to_string(),
    })?;
    Ok(Outgoing {
        event_id,
        xml: msg.xml,
        file_name: msg.file_name,
        pdf: s.pdf.unwrap_or_default(),
    })
}

/// One document to the archive, in the span `archive_transfer` (`event_id`,
/// `run_id`, `document_type`).
#[tracing::instrument(name = "archive_transfer", skip_all, fields(
    %event_id,
    %run_id,
    document_type = tracing::field::Empty,
))]
async fn transfer_one(
    pool: &PgPool,
    client: &dyn ArchiveClient,
    receipts: &tokio::sync::mpsc::Sender<ArchivedAttempt>,
    run_id: Uuid,
    event_id: Uuid,
    stored: Option<Stored>,
    opts: &TransferOptions,
) -> Result<(Final, u64), TransferRunError> {
    let Some(stored) = stored else {
        let f = LocalFailure {
            class: "stored_document",
            explanation: "Dokumentet finnes ikke lenger i dokflyt. Meld fra til kommuneadmin."
                .into(),
        };
        return Ok((record_local_failure(pool, run_id, event_id, &f).await?, 0));
    };
    let msg = match prepare(event_id, stored, opts) {
        Ok(m) => m,
        Err(f) => {
            tracing::warn!(%event_id, class = f.class, "archive transfer: cannot build the message");
            return Ok((record_local_failure(pool, run_id, event_id, &f).await?, 0));
        }
    };
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let started = Utc::now();
        let result = client.send(&msg).await;
        match result {
            Ok(delivered) => {
                tracing::debug!(
                    %event_id,
                    attempt,
                    existing = delivered.receipt.existing,
                    "archive transfer: receipt"
                );
                crate::crashpoint::hit(crate::crashpoint::Point::ArchivePosted);
                let archived = ArchivedAttempt {
                    event_id,
                    attempt,
                    target: client.target(),
                    started,
                    delivered,
                };
                if receipts.send(archived).await.is_err() {
                    // The recorder stopped on a database error, which the run
                    // returns; this row stays claimed `klar` and is resent later.
                    return Ok((Final::Lost, attempt as u64));
                }
                return Ok((Final::Delivered, attempt as u64));
            }
            Err(e) => {
                let retry = e.is_transient() && attempt < opts.max_attempts;
                let log = AttemptLog {
                    run_id,
                    event_id,
                    attempt,
                    target: client.target(),
                    started,
                };
                tracing::warn!(
                    %event_id,
                    attempt,
                    class = e.class(),
                    transient = e.is_transient(),
                    will_retry = retry,
                    "archive transfer: attempt failed"
                );
                if !retry {
                    let fin = record_failed(pool, &log, &e).await?;
                    return Ok((fin, attempt as u64));
                }
                // Logged, and the claim extended to cover the wait and the next attempt.
                if !log_retry(pool, &log, &e, opts).await? {
                    return Ok((Final::Lost, attempt as u64));
                }
                tokio::time::sleep(opts.backoff.delay_after(attempt)).await;
            }
        }
    }
}

/// Gives a claimed, unstarted row back (still `klar`) for the next run.
async fn release(pool: &PgPool, run_id: Uuid, event_id: Uuid) -> Result<(), TransferRunError> {
    sqlx::query(
        "UPDATE archive_queue SET claimed_by = NULL, claimed_until = NULL
         WHERE event_id = $1 AND claimed_by = $2 AND status = 'klar'",
    )
    .bind(event_id)
    .bind(run_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// One attempt, as it goes into `transfer_attempts`.
struct AttemptLog {
    run_id: Uuid,
    event_id: Uuid,
    attempt: u32,
    target: &'static str,
    started: DateTime<Utc>,
}

/// What the attempt log keeps of a failure: the archive's answer verbatim, else
/// the transport error (which carries no personal data).
fn attempt_answer(e: &TransferError) -> String {
    e.answer()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

/// Logs a failed attempt that will be retried and extends the claim, in one
/// statement; false when the claim is no longer ours.
async fn log_retry(
    pool: &PgPool,
    log: &AttemptLog,
    e: &TransferError,
    opts: &TransferOptions,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "WITH a AS (
            INSERT INTO transfer_attempts (event_id, run_id, attempt, target, started_at, outcome, error_class, answer)
            VALUES ($1, $2, $3, $4, $5, 'transient', $6, $7)
         ), u AS (
            UPDATE archive_queue SET claimed_until = now() + make_interval(secs => $8)
            WHERE event_id = $1 AND claimed_by = $2 AND status = 'klar'
            RETURNING 1
         )
         SELECT count(*) FROM u",
    )
    .bind(log.event_id)
    .bind(log.run_id)
    .bind(log.attempt as i32)
    .bind(log.target)
    .bind(log.started)
    .bind(e.class())
    .bind(attempt_answer(e))
    .bind(opts.claim_ttl.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(n == 1)
}

/// A successful attempt waiting to be recorded.
struct ArchivedAttempt {
    event_id: Uuid,
    attempt: u32,
    target: &'static str,
    started: DateTime<Utc>,
    delivered: Delivered,
}

/// Logs the successful attempts and sets `arkivert` with each receipt where the
/// claim is still ours, all in one statement; returns how many rows it set.
async fn record_archived(
    pool: &PgPool,
    run_id: Uuid,
    done: &[ArchivedAttempt],
) -> Result<u64, sqlx::Error> {
    let column = |f: fn(&ArchivedAttempt) -> Option<i32>| done.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = done.iter().map(|d| d.event_id).collect();
    let attempts = column(|d| i32::try_from(d.attempt).ok());
    let years = column(|d| d.delivered.receipt.journal_year);
    let sequences = column(|d| d.delivered.receipt.journal_sequence);
    let numbers = column(|d| d.delivered.receipt.journal_post_number);
    let statuses: Vec<Option<&str>> = done
        .iter()
        .map(|d| d.delivered.receipt.journal_status.as_deref())
        .collect();
    let system_ids: Vec<&str> = done
        .iter()
        .map(|d| d.delivered.receipt.system_id.as_str())
        .collect();
    let existing: Vec<bool> = done.iter().map(|d| d.delivered.receipt.existing).collect();
    let verbatim: Vec<&str> = done.iter().map(|d| d.delivered.verbatim.as_str()).collect();
    let targets: Vec<&str> = done.iter().map(|d| d.target).collect();
    let started: Vec<DateTime<Utc>> = done.iter().map(|d| d.started).collect();
    let n: i64 = sqlx::query_scalar(
        "WITH v AS (
            SELECT * FROM unnest($2::uuid[], $3::int[], $4::int[], $5::int[], $6::int[],
                                 $7::text[], $8::text[], $9::bool[], $10::text[], $11::text[],
                                 $12::timestamptz[])
              AS v(event_id, attempt, year, seq, num, jstatus, system_id, existing, receipt,
                   target, started)
         ), a AS (
            INSERT INTO transfer_attempts (event_id, run_id, attempt, target, started_at, outcome, answer)
            SELECT event_id, $1, attempt, target, started, 'arkivert', receipt FROM v
         ), u AS (
            UPDATE archive_queue q SET status = 'arkivert', attempts = q.attempts + v.attempt,
                journal_year = v.year, journal_sequence = v.seq, journal_post_number = v.num,
                archive_journal_status = v.jstatus, archive_system_id = v.system_id,
                receipt_existing = v.existing, receipt = v.receipt, error_class = NULL,
                error_explanation = NULL, archived_at = now(), updated_at = now(),
                claimed_by = NULL, claimed_until = NULL
            FROM v
            WHERE q.event_id = v.event_id AND q.claimed_by = $1 AND q.status = 'klar'
            RETURNING 1
         )
         SELECT count(*) FROM u",
    )
    .bind(run_id)
    .bind(&ids)
    .bind(&attempts)
    .bind(&years)
    .bind(&sequences)
    .bind(&numbers)
    .bind(&statuses)
    .bind(&system_ids)
    .bind(&existing)
    .bind(&verbatim)
    .bind(&targets)
    .bind(&started)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Logs the last failed attempt and sets `feilet`, in one statement.
async fn record_failed(
    pool: &PgPool,
    log: &AttemptLog,
    e: &TransferError,
) -> Result<Final, sqlx::Error> {
    let outcome = if e.is_transient() {
        "transient"
    } else {
        "permanent"
    };
    let fin = set_failed(
        pool,
        log.run_id,
        log.event_id,
        log.attempt,
        e.class(),
        &e.explanation_nb(),
        e.answer(),
        Some((log, outcome, attempt_answer(e))),
    )
    .await?;
    Ok(match fin {
        Final::Failed { .. } => Final::Failed {
            transient: e.is_transient(),
        },
        other => other,
    })
}

async fn record_local_failure(
    pool: &PgPool,
    run_id: Uuid,
    event_id: Uuid,
    f: &LocalFailure,
) -> Result<Final, sqlx::Error> {
    set_failed(
        pool,
        run_id,
        event_id,
        0,
        f.class,
        &f.explanation,
        None,
        None,
    )
    .await
}

/// Sets `feilet` if the claim is still ours; with `attempt`, logs that attempt in
/// the same statement (a document that could not be described has none).
#[allow(clippy::too_many_arguments)]
async fn set_failed(
    pool: &PgPool,
    run_id: Uuid,
    event_id: Uuid,
    attempts: u32,
    class: &str,
    explanation: &str,
    answer: Option<&str>,
    attempt: Option<(&AttemptLog, &str, String)>,
) -> Result<Final, sqlx::Error> {
    let (target, started, outcome, attempt_answer) = match &attempt {
        Some((log, outcome, a)) => (
            Some(log.target),
            Some(log.started),
            Some(*outcome),
            Some(a.as_str()),
        ),
        None => (None, None, None, None),
    };
    let n: i64 = sqlx::query_scalar(
        "WITH a AS (
            INSERT INTO transfer_attempts (event_id, run_id, attempt, target, started_at, outcome, error_class, answer)
            SELECT $1, $2, $3, $7, $8, $9, $4, $10 WHERE $9::text IS NOT NULL
         ), u AS (
            UPDATE archive_queue SET status = 'feilet', attempts = attempts + $3,
                error_class = $4, error_explanation = $5, receipt = $6,
                updated_at = now(), claimed_by = NULL, claimed_until = NULL
            WHERE event_id = $1 AND claimed_by = $2 AND status = 'klar'
            RETURNING 1
         )
         SELECT count(*) FROM u",
    )
    .bind(event_id)
    .bind(run_id)
    .bind(attempts as i32)
    .bind(class)
    .bind(explanation)
    .bind(answer)
    .bind(target)
    .bind(started)
    .bind(outcome)
    .bind(attempt_answer)
    .fetch_one(pool)
    .await?;
    Ok(if n == 1 {
        Final::Failed { transient: false }
    } else {
        Final::Lost
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_takes_the_settings_numbers_with_jitter() {
        let s = ArchiveSettings {
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            ..ArchiveSettings::default()
        };
        let o = TransferOptions::from_settings(&s);
        assert_eq!(o.backoff, Backoff::from_millis(100, 1_000));
        assert!(o.backoff.jitter);
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        for (n, nominal) in [
            (1, 100.0),
            (2, 200.0),
            (4, 800.0),
            (5, 1_000.0),
            (60, 1_000.0),
        ] {
            let d = ms(o.backoff.delay_after(n));
            assert!(
                d >= nominal / 2.0 - 0.001 && d <= nominal + 0.001,
                "attempt {n}: {d} ms"
            );
        }
    }
}
