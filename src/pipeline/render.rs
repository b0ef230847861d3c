//! Stage 4 — render: [`RoutedDocument`] → [`RenderedDocument`].
//!
//! Input: a routed document and the shared [`Renderer`].
//! Output: the document with its PDF when it needs one (letters sent by SvarUt and
//! every archive copy); documents that only travel as messages get no PDF here.
//! Failure: a [`RenderError`] is permanent for that event (bad data or a template
//! bug; templates are test-rendered at start-up) and the pipeline dead-letters it.
//! Rendering is CPU work, so it runs on the blocking pool, off the async runtime,
//! at most `amqp.render_threads` at a time when that is set.

use std::sync::Arc;

use crate::document::{RenderedDocument, RoutedDocument};
use crate::render::{RenderError, Renderer};

/// Renders on the blocking pool, at most `permits` at a time.
pub async fn render(
    routed: RoutedDocument,
    renderer: Arc<Renderer>,
    permits: &tokio::sync::Semaphore,
) -> Result<RenderedDocument, RenderError> {
    if !routed.needs_pdf() {
        return made(routed, None);
    }
    // The semaphore is never closed; a closed one would only mean shutting down.
    let Ok(_permit) = permits.acquire().await else {
        return Err(RenderError::Pdf("the renderer is shutting down".into()));
    };
    let joined = tokio::task::spawn_blocking(move || {
        let pdf = renderer.render_pdf(&routed);
        (routed, pdf)
    })
    .await;
    match joined {
        Ok((routed, pdf)) => made(routed, Some(pdf?)),
        // A panic message can quote the text being laid out (e.g. a string
        // slice), so it is logged by the panic hook only, never passed on.
        Err(_) => Err(RenderError::Pdf("the renderer panicked".into())),
    }
}

/// The same, on the current thread (CLI preview, benchmarks, tests).
pub fn render_blocking(
    routed: RoutedDocument,
    renderer: &Renderer,
) -> Result<RenderedDocument, RenderError> {
    let pdf = if routed.needs_pdf() {
        Some(renderer.render_pdf(&routed)?)
    } else {
        None
    };
    made(routed, pdf)
}

fn made(
    routed: RoutedDocument,
    pdf: Option<crate::document::RenderedPdf>,
) -> Result<RenderedDocument, RenderError> {
    RenderedDocument::new(routed, pdf).map_err(|e| RenderError::Pdf(e.to_string()))
}
