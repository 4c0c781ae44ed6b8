//! Seeing a client hang up while a call runs for it, whatever hyper has read ahead.
//!
//! hyper notices a client's end of stream during a call only while it has nothing of the client's
//! buffered: a request pipelined behind the one being answered fills its buffer, it stops reading,
//! and a client that then hangs up is not seen to go (QA: its query ran on to the end, spending the
//! key's budget for nobody; a setup so left kept its connection and slot until it expired). So a call
//! watches the socket itself: a second descriptor of it, peeked (nothing is taken from hyper), and the
//! end of stream with nothing unread is the client gone, as hyper reads it.

use std::time::Duration;

/// The descriptor of a client's socket, carried in its requests' extensions to the routes that run
/// calls. Valid while the request is being answered: hyper owns the socket until the connection ends,
/// and a connection ends only after the answer to its request (or with the request's future dropped).
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientSocket {
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl ClientSocket {
    pub(super) fn of(stream: &tokio::net::TcpStream) -> ClientSocket {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            ClientSocket {
                fd: stream.as_raw_fd(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = stream;
            ClientSocket {}
        }
    }

    /// A task that cancels `token` once the client has hung up, or `None` when the socket cannot be
    /// watched (out of descriptors: hyper's own detection still holds then). Called while the request
    /// is being answered, from its route; abort the task when the call ends.
    pub(super) fn watch(
        self,
        token: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let socket = self.duplicate()?;
        Some(tokio::spawn(async move {
            let mut byte = [0u8; 1];
            loop {
                match socket.peek(&mut byte).await {
                    // The end of the client's stream, everything before it read: it has gone.
                    Ok(0) | Err(_) => break,
                    // More of its requests wait unread: whether it is still there shows only once they
                    // are read. Look again a little later.
                    Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            token.cancel();
        }))
    }

    #[cfg(unix)]
    fn duplicate(self) -> Option<tokio::net::TcpStream> {
        use std::os::fd::BorrowedFd;
        // SAFETY: the descriptor is the socket of the connection whose request is being answered:
        // hyper holds it open until that request's future has ended or been dropped (`Self`'s docs),
        // and this runs within that future, so the descriptor is open and is that socket.
        let borrowed = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let owned = borrowed.try_clone_to_owned().ok()?;
        let socket = std::net::TcpStream::from(owned);
        socket.set_nonblocking(true).ok()?;
        tokio::net::TcpStream::from_std(socket).ok()
    }

    #[cfg(not(unix))]
    fn duplicate(self) -> Option<tokio::net::TcpStream> {
        None
    }
}
