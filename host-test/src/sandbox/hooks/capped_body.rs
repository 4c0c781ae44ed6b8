//! A response body held to the manifest's size, holding its request's open-response slot until it ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi_http::{Error, WasiBody};

/// A response body that fails once it exceeds the manifest's size, whatever the upstream declared, and
/// holds its request's open-response slot until it ends (read to the end, failed or dropped).
pub(super) struct CappedBody {
    pub(super) inner: WasiBody,
    pub(super) limit: u64,
    pub(super) seen: u64,
    /// The connection's open-response slot and the host's ([`super::gates::MAX_OPEN_RESPONSES`]).
    pub(super) open: Option<(
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    )>,
}

impl http_body::Body for CappedBody {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        this.open = None;
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
            ended => {
                // The end, or an error: no more of this body will be read.
                this.open = None;
                ended
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
