//! A client connection whose reader stalls is closed: a write that makes no progress for the request
//! timeout ends the connection with an error. Without it a client that sends requests (pipelined, or
//! one after another) and never reads the answers held its connection — and its slot of
//! [`super::MAX_CLIENT_CONNECTIONS`], and the answers hyper had queued for it — for as long as it liked
//! (QA: 256 such clients locked every other client out until they went away).
//!
//! The head's and the body's timeouts bound how long a request may take to arrive; this bounds how long
//! an answer may wait to leave. A slow reader that makes any progress is never cut: the clock restarts
//! with every write that takes bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `inner` with every write held to `patience` without progress.
pub struct StalledReaderGuard<S> {
    inner: S,
    patience: Duration,
    /// When the writes waiting since the last progress give up; `None` while none waits.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StalledReaderGuard<S> {
    pub fn new(inner: S, patience: Duration) -> StalledReaderGuard<S> {
        StalledReaderGuard {
            inner,
            patience,
            stalled: None,
        }
    }

    /// What a write's `poll` said, held to the patience: progress (or an error) restarts the clock, a
    /// wait starts it, and a wait past it is an error that closes the connection.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let patience = self.patience;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(patience)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read none of its answers in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StalledReaderGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StalledReaderGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A write the other end never reads fails after the patience; one it reads, however slowly, does
    /// not.
    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_patience_and_one_read_slowly_does_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut guarded = StalledReaderGuard::new(near, Duration::from_secs(30));
        // Read 16 bytes every 20 s: slower than the writes, never stalled for 30 s.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let mut read = 0;
            while read < 192 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                read += tokio::io::AsyncReadExt::read(&mut far, &mut buf)
                    .await
                    .expect("read");
            }
            far
        });
        guarded
            .write_all(&[7u8; 192])
            .await
            .expect("read slowly, never stalled");
        let far = reader.await.expect("the reader");
        // Nobody reads any more: the buffer fills, and the write waiting gives up after 30 s.
        let started = tokio::time::Instant::now();
        let error = tokio::time::timeout(Duration::from_secs(60), guarded.write_all(&[7u8; 1024]))
            .await
            .expect("the write gave up before a minute")
            .expect_err("nobody reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(far);
    }
}
