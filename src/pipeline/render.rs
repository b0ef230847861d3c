//! Stage 4 — render: [`RoutedDocument`] → [`RenderedDocument`].
//!
//! Input: a routed document and the shared [`Renderer`].
//! Output: the document with its PDF when it needs one (letters sent by SvarUt and
//! every archive copy); documents that only travel as messages get no PDF here.
//! Failure: a [`RenderError`] is permanent for that event (bad data or a template
//! bug; templates are test-rendered at start-up) and the pipeline dead-letters it.
//! Rendering is CPU work, so it runs on the blocking pool, off the async runtime.

use std::sync::Arc;

use crate::pipeline::route::RoutedDocument;
use crate::render::{RenderError, RenderedPdf, Renderer};

/// A routed document with its PDF (if it needs one). Built only by [`render`].
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    routed: RoutedDocument,
    pdf: Option<RenderedPdf>,
}

impl RenderedDocument {
    pub fn routed(&self) -> &RoutedDocument {
        &self.routed
    }
    pub fn pdf(&self) -> Option<&RenderedPdf> {
        self.pdf.as_ref()
    }
}

/// Renders on the blocking pool.
pub async fn render(
    routed: RoutedDocument,
    renderer: Arc<Renderer>,
) -> Result<RenderedDocument, RenderError> {
    if !routed.needs_pdf() {
        return Ok(RenderedDocument { routed, pdf: None });
    }
    let joined = tokio::task::spawn_blocking(move || {
        let pdf = renderer.render_pdf(&routed);
        (routed, pdf)
    })
    .await;
    match joined {
        Ok((routed, pdf)) => Ok(RenderedDocument {
            routed,
            pdf: Some(pdf?),
        }),
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
    Ok(RenderedDocument { routed, pdf })
}
