//! `klairr-host serve`: a long-running host for many connectors behind a small HTTP/1.1 + JSON API on a
//! loopback address (README, "serve").
//!
//! - [`auth`]: the bearer token (`KLAIRR_HOST_TOKEN`), compared in constant time.
//! - [`platform`]: the connectors (one shared engine, hot swap) and the open connections.
//! - `routes`: the HTTP API, one function per route.
//! - `stalled_reader`: a client that stops reading its answers is closed after the request timeout.
//! - [`errors`]: the error body and the one table from kind to status.
//! - [`metrics`]: Prometheus text.
//!
//! ```no_run
//! use klairr_host::registry::Registry;
//! use klairr_host::serve::{Server, ServeOptions, Token};
//!
//! let token = Token::from_env_value(std::env::var("KLAIRR_HOST_TOKEN").ok())?;
//! let server = Server::start(&Registry::builtin(), ServeOptions::new("127.0.0.1:0".parse()?, token))
//!     .map_err(|e| e.message)?;
//! println!("listening on http://{}", server.addr());
//! server.drain(std::time::Duration::from_secs(30));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
mod client_socket;
mod connection_body;
pub mod errors;
pub mod metrics;
pub mod platform;
mod routes;
mod stalled_reader;

pub use auth::{Token, TOKEN_ENV};
pub use errors::{ApiError, STATUS_BY_KIND};
pub use platform::{ConnectionLimits, Platform};

use crate::memory::MemoryFile;
use crate::registry::Registry;
use crate::sandbox::SandboxOptions;
use crate::service::Answers;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use routes::State;
use stalled_reader::StalledReaderGuard;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How `serve` runs.
pub struct ServeOptions {
    /// A loopback address (`127.0.0.1:PORT`; port 0 picks one).
    pub listen: SocketAddr,
    pub token: Token,
    /// Request bodies above this are refused (413); a query is at most 16 KiB.
    pub max_body_bytes: usize,
    /// The longest a request's head, or its body, may take to arrive: a slower head closes the
    /// connection (as does an idle keep-alive connection that long), a slower body is answered 408. So
    /// a client that stalls mid-request cannot hold a connection open for ever.
    pub request_timeout: Duration,
    pub connections: ConnectionLimits,
    /// The shared result cache's bounds: bytes of row data, and entries (many small results).
    pub cache_bytes: usize,
    pub cache_entries: usize,
    pub memory: Option<MemoryFile>,
    /// Redirects, limits, compile cache: as for the CLI's other commands.
    pub sandbox: SandboxOptions,
    /// Threads that run calls into connectors (setups, queries, reloads) at once. A call waiting for
    /// its connection's turn holds none: it waits on the event loop.
    pub call_threads: usize,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr, token: Token) -> ServeOptions {
        ServeOptions {
            listen,
            token,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            connections: ConnectionLimits::default(),
            cache_bytes: 256 << 20,
            cache_entries: 1 << 16,
            memory: None,
            sandbox: SandboxOptions::default(),
            call_threads: 512,
        }
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    /// Tells the accept loop to stop and drain for the given time; it answers whether every
    /// connection finished.
    stop: Mutex<Option<tokio::sync::oneshot::Sender<DrainRequest>>>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Load every connector, bind, and start serving on a runtime of its own.
    pub fn start(registry: &Registry, options: ServeOptions) -> Result<Server, ApiError> {
        if !options.listen.ip().is_loopback() {
            return Err(ApiError::new(
                "invalid-request",
                format!(
                    "serve listens on loopback only (got {}): use --listen 127.0.0.1:PORT and put a TLS proxy in front for other hosts",
                    options.listen
                ),
            ));
        }
        let answers = Arc::new(Answers::new(
            options.memory,
            options.cache_entries,
            options.cache_bytes,
        ));
        let platform = Arc::new(Platform::load(
            registry,
            options.sandbox,
            answers,
            options.connections,
        )?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(options.call_threads.max(1))
            .thread_name("klairr-serve")
            .enable_all()
            .build()
            .map_err(|e| {
                ApiError::new(
                    "sandbox",
                    format!("could not start the server's runtime: {e}"),
                )
            })?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.listen))
            .map_err(|e| {
                // An address this machine does not have is the caller's mistake (the CLI's usage); a
                // port another process holds, or one this user may not bind, is the machine's state,
                // as the emulator reports it.
                let kind = match e.kind() {
                    std::io::ErrorKind::AddrNotAvailable => "invalid-request",
                    _ => "network",
                };
                ApiError::new(kind, format!("cannot listen on {}: {e}", options.listen))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ApiError::new("sandbox", e.to_string()))?;
        let state = Arc::new(State {
            platform,
            token: options.token,
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
            draining: AtomicBool::new(false),
            drain_begun: tokio_util::sync::CancellationToken::new(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        runtime.spawn(accept(listener, state.clone(), stopped));
        let expiring = state.platform.clone();
        let every = (options.connections.idle / 4).max(Duration::from_millis(100));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                expiring.expire_idle();
            }
        });
        // Results live no longer than their TTL in memory either, with no query to sweep them.
        let sweeping = state.platform.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                sweeping.answers().drop_expired();
            }
        });
        Ok(Server {
            addr,
            state,
            stop: Mutex::new(Some(stop)),
            runtime,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn platform(&self) -> &Arc<Platform> {
        &self.state.platform
    }

    /// Stop taking calls, wait up to `wait` for the calls in flight, then stop. True when every call
    /// in flight finished.
    pub fn drain(self, wait: Duration) -> bool {
        self.drain_unless(wait, &mut || false)
    }

    /// [`Server::drain`], cut short as soon as `interrupted` says so (it is asked every 50 ms).
    fn drain_unless(self, wait: Duration, interrupted: &mut dyn FnMut() -> bool) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        self.state.draining.store(true, Ordering::SeqCst);
        self.state.drain_begun.cancel();
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        let sent = stop.is_some_and(|stop| stop.send((wait, tx)).is_ok());
        // The accept loop answers within `wait`; a little more covers its scheduling.
        let until = std::time::Instant::now() + wait + Duration::from_secs(1);
        let mut drained = false;
        if sent {
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(answer) => {
                        drained = answer;
                        break;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        if interrupted() || std::time::Instant::now() >= until {
                            break;
                        }
                    }
                }
            }
        }
        // What still runs is cut off here, before the server's runtime goes: its calls run on the
        // shared host's threads, which would carry on.
        self.state.platform.stop_all();
        self.runtime.shutdown_timeout(Duration::from_millis(100));
        drained
    }

    /// Serve until SIGTERM or SIGINT (then drain for up to `drain`; a second one ends the drain at
    /// once); SIGHUP reloads every connector. A SIGINT ignored when the process started stays ignored. What happens is logged on `log`, best effort: a log that
    /// cannot be written (its reader gone) loses lines, and `serve` goes on serving and drains as usual.
    /// Whether every connection finished.
    /// `ready` is called once the signals are taken, before anything is awaited: a caller that says
    /// where it serves there has a `serve` that a SIGTERM sent the moment it hears drains, never one
    /// that dies of it (a loaded machine ran the handlers' task after the signal came). When `ready`
    /// says false (it could not say where), `serve` stops at once, as after a signal.
    pub fn run_until_signal(
        self,
        drain: Duration,
        log: &mut dyn Write,
        ready: &mut dyn FnMut() -> bool,
    ) -> bool {
        let platform = self.state.platform.clone();
        let (tx, rx) = std::sync::mpsc::channel::<Signal>();
        let taken = {
            let _in_runtime = self.runtime.enter();
            take_signals()
        };
        self.runtime.spawn(signals(taken, tx));
        let told = ready();
        while let Some(Ok(signal)) = told.then(|| rx.recv()) {
            match signal {
                Signal::Reload => {
                    for (name, outcome) in platform.reload_all() {
                        let _ = writeln!(log, "{}", reload_log_line(&name, &outcome));
                    }
                }
                Signal::Stop => break,
            }
        }
        let _ = writeln!(
            log,
            "klairr-host: draining (at most {} s; signal again to stop at once)",
            drain.as_secs()
        );
        let mut again = false;
        let drained = self.drain_unless(drain, &mut || {
            again = again || rx.try_iter().any(|s| matches!(s, Signal::Stop));
            again
        });
        let _ = writeln!(
            log,
            "klairr-host: {}",
            if drained {
                "drained; exiting"
            } else if again {
                "stopped again during the drain; exiting with calls unfinished"
            } else {
                "drain wait over; exiting with calls unfinished"
            }
        );
        drained
    }
}

/// How long to drain, and where to say whether every connection finished.
type DrainRequest = (Duration, std::sync::mpsc::Sender<bool>);

enum Signal {
    Reload,
    Stop,
}

/// The signals `serve` answers, taken from their default actions (in the runtime's context).
#[cfg(unix)]
struct Taken {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    /// None when SIGINT was ignored at start.
    int: Option<tokio::signal::unix::Signal>,
}

/// Take SIGTERM, SIGHUP and SIGINT now; `None` when one cannot be (then `serve` stops at once).
#[cfg(unix)]
fn take_signals() -> Option<Taken> {
    use tokio::signal::unix::{signal, SignalKind};
    // A `serve` started with SIGINT ignored (`serve &` from a script: the shell's convention for a
    // background job) keeps ignoring it, so a Ctrl-C meant for the foreground does not stop it (QA).
    let int_ignored = crate::signal_action::is_ignored(libc::SIGINT);
    let int = match int_ignored {
        true => None,
        false => Some(signal(SignalKind::interrupt()).ok()?),
    };
    Some(Taken {
        term: signal(SignalKind::terminate()).ok()?,
        hup: signal(SignalKind::hangup()).ok()?,
        int,
    })
}

#[cfg(unix)]
async fn signals(taken: Option<Taken>, tx: std::sync::mpsc::Sender<Signal>) {
    let Some(Taken {
        mut term,
        mut hup,
        mut int,
    }) = taken
    else {
        let _ = tx.send(Signal::Stop);
        return;
    };
    loop {
        let interrupted = async {
            match int.as_mut() {
                Some(int) => int.recv().await,
                None => std::future::pending().await,
            }
        };
        let signal = tokio::select! {
            _ = term.recv() => Signal::Stop,
            _ = interrupted => Signal::Stop,
            _ = hup.recv() => Signal::Reload,
        };
        // After a stop, signals still go through: a second stop ends the drain.
        if tx.send(signal).is_err() {
            return;
        }
    }
}

#[cfg(not(unix))]
fn take_signals() {}

#[cfg(not(unix))]
async fn signals(_: (), tx: std::sync::mpsc::Sender<Signal>) {
    let _ = tokio::signal::ctrl_c().await;
    let _ = tx.send(Signal::Stop);
}

/// Client connections open at once at most. One past this is closed as soon as it is accepted: a local
/// process (no token needed) that opened connections and sent half a head each, again and again, would
/// otherwise hold a descriptor per connection until the host could open none (review: its upstream
/// connections, the memory file and the compile cache then failed). Far above what Klairr's own clients
/// open (`serve_load` runs 50).
pub const MAX_CLIENT_CONNECTIONS: usize = 256;

/// Accept connections until told to stop; then close the listener, let every connection finish the
/// request it is in (responses written) and close the idle ones, for at most the drain wait.
async fn accept(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<DrainRequest>,
) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENT_CONNECTIONS));
    let (wait, answer) = loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            stopped = &mut stop => match stopped {
                Ok(request) => break request,
                // The server was dropped without a drain: stop at once.
                Err(_) => return,
            },
        };
        // At the bound, closed at once (dropped): the client sees its connection reset or closed.
        let Ok(slot) = open.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let head_timeout = state.request_timeout;
        let state = state.clone();
        // Each request carries its socket, for the routes that run calls to see the client go.
        let socket = client_socket::ClientSocket::of(&stream);
        let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(socket);
            routes::handle(state.clone(), request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(head_timeout)
            .serve_connection(
                TokioIo::new(StalledReaderGuard::new(stream, head_timeout)),
                service,
            );
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(slot);
        });
    };
    drop(listener);
    let drained = tokio::time::timeout(wait, graceful.shutdown())
        .await
        .is_ok();
    let _ = answer.send(drained);
}

/// One line of the log for a reload: why it was refused quotes the manifest and the component (paths,
/// parse errors), which must neither move the terminal nor start a forged line of their own.
fn reload_log_line(name: &str, outcome: &Result<platform::Reloaded, errors::ApiError>) -> String {
    let line = match outcome {
        Ok(r) => format!("klairr-host: reloaded {name}: version {}", r.version),
        Err(e) => format!("klairr-host: reload of {name} refused: {}", e.message),
    };
    crate::policy::redact::strip_control(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reload_is_logged_on_one_clean_line() {
        let refused = Err(errors::ApiError::new(
            "reload-refused",
            "no component at /x/\u{1b}[2J\nklairr-host: reloaded stripe: version 9",
        ));
        let line = reload_log_line("ledger", &refused);
        assert!(!line.contains(['\u{1b}', '\n', '\r']), "{line:?}");
        assert!(
            line.starts_with("klairr-host: reload of ledger refused: no component at /x/"),
            "{line}"
        );
    }
}
