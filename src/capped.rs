//! Reading an HTTP answer with a size cap, for the answers of the archive and of
//! SvarUt (issue 16: a size limit before any parsing).
//!
//! Stage: the HTTP adapters (`archive::client`, `channels::svarut`). Input: a
//! `reqwest::Response` and a byte limit. Output: the body as text, read in
//! chunks. Failure: [`CappedError::TooLarge`] as soon as the declared length
//! (`Content-Length`) or the bytes received pass the limit — reading stops
//! there, so an endless or huge answer costs at most `limit` bytes of memory;
//! [`CappedError::Http`] when the connection fails mid-body. Whether either is
//! transient is decided by the caller, which knows the status and what was sent.

#[derive(Debug, thiserror::Error)]
pub enum CappedError {
    #[error("the answer is larger than the limit")]
    TooLarge,
    #[error("reading the answer failed: {0}")]
    Http(reqwest::Error),
}

/// Reads `resp`'s body as (lossy) UTF-8 text, refusing more than `limit` bytes.
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<String, CappedError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CappedError::TooLarge);
    }
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CappedError::Http)? {
        if buf.len() + chunk.len() > limit {
            return Err(CappedError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
