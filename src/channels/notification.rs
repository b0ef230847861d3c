//! `notification`: the notice that a document can be read after login (grades).
//!
//! Stage: delivery. Input: a claimed [`Job`] on `notification`. Output: an in-app
//! notice and (when the guardian has an address) the same notice by email —
//! Norwegian text, the document type's name, the configured portal link, and no
//! content: never the document's text, never an attachment, whatever the policy
//! passed in says. Failure: as [`super::message`] (it shares its delivery path).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::message::{self, Composed, MessageDeps};
use super::{Attempt, ChannelError, ChannelSender, ContentPolicy, Job, SendResult};
use crate::document::Channel;

/// The notice for a job: subject and text, no content.
pub fn compose(job: &Job, portal_url: &str) -> Composed {
    let school = &job.event.school.name;
    let what = format!(
        "et nytt dokument («{}»)",
        job.decision.document_type.name_nb()
    );
    Composed {
        kind: "notice",
        subject: format!("Nytt dokument fra {school}"),
        body: message::notice_text(school, &what, portal_url),
        attachment: None,
        has_document: job.pdf.is_some(),
    }
}

/// The `notification` channel.
pub struct NotificationSender {
    pub deps: Arc<MessageDeps>,
}

impl ChannelSender for NotificationSender {
    fn channel(&self) -> Channel {
        Channel::Notification
    }

    fn send<'a>(
        &'a self,
        job: &'a Job,
        _content: ContentPolicy,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<SendResult, ChannelError>> {
        Box::pin(async move {
            // Whatever the policy says, a notification carries no content.
            let composed = compose(job, &self.deps.portal_url);
            message::deliver(&self.deps, job, attempt, composed).await
        })
    }
}
