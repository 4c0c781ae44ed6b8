//! Loopback TLS servers for the pool's and the hooks' tests: a self-signed certificate for 127.0.0.1
//! made at test time (rcgen), tokio-rustls, and a count of what the server saw — TCP accepts, completed
//! TLS handshakes, requests — so tests assert on the server's side of the wire.

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How a server answers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Behaviour {
    /// hyper's server: every request on a kept-alive connection, answered after `delay` with `body` bytes.
    KeepAlive { delay: Duration, body: usize },
    /// Answers the first request of a connection, then closes it without saying so (no
    /// `connection: close`): a server with a short idle timeout.
    CloseAfterAnswer,
    /// Answers the first request of a connection; reads the second and closes the connection without
    /// an answer: a server's idle close crossing a request.
    DropSecondRequest,
    /// Accepts TCP connections and never answers the TLS handshake.
    SilentHandshake,
    /// Answers the TLS handshake `delay` after the TCP accept (a server far away, or busy), then serves
    /// every request at once with 2 bytes on the kept-alive connection.
    SlowHandshake { delay: Duration },
    /// `DropSecondRequest` behind a TLS handshake answered `delay` after the TCP accept: a resend's
    /// fresh connection takes that long.
    SlowHandshakeDropSecond { delay: Duration },
    /// Completes TLS, reads the request, never answers.
    SilentAfterRequest,
    /// Sends a head announcing 100 bytes, 10 of them, then nothing.
    StallBody,
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) host: Option<String>,
    pub(crate) authorization: Option<String>,
    /// When the server had the request head.
    pub(crate) at: std::time::Instant,
}

#[derive(Default)]
struct Counts {
    accepts: AtomicUsize,
    handshakes: AtomicUsize,
    requests: Mutex<Vec<Seen>>,
}

impl Counts {
    fn saw(&self, seen: Seen) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(seen);
        }
    }
}

/// A server on 127.0.0.1 with a port of its own; stops when dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// The server's self-signed certificate: the root a client must trust.
    pub(crate) root: CertificateDer<'static>,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Start serving on the current runtime.
    pub(crate) async fn start(behaviour: Behaviour) -> Server {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
        let root = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![root.clone()], key)
            .expect("the server's certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                shared.accepts.fetch_add(1, Ordering::SeqCst);
                let (acceptor, counts) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Behaviour::SilentHandshake = behaviour {
                        // Hold the socket open and say nothing.
                        let _tcp = tcp;
                        return std::future::pending::<()>().await;
                    }
                    if let Behaviour::SlowHandshake { delay }
                    | Behaviour::SlowHandshakeDropSecond { delay } = behaviour
                    {
                        tokio::time::sleep(delay).await;
                    }
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counts.handshakes.fetch_add(1, Ordering::SeqCst);
                    serve(behaviour, tls, counts).await;
                });
            }
        });
        Server {
            addr,
            root,
            counts,
            task,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub(crate) fn base(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub(crate) fn accepts(&self) -> usize {
        self.counts.accepts.load(Ordering::SeqCst)
    }

    pub(crate) fn handshakes(&self) -> usize {
        self.counts.handshakes.load(Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.counts
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

type Tls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";

async fn serve(behaviour: Behaviour, mut tls: Tls, counts: Arc<Counts>) {
    let behaviour = match behaviour {
        Behaviour::SlowHandshake { .. } => Behaviour::KeepAlive {
            delay: Duration::ZERO,
            body: 2,
        },
        other => other,
    };
    match behaviour {
        Behaviour::KeepAlive { delay, body } => {
            let service = hyper::service::service_fn(move |request: http::Request<_>| {
                let counts = counts.clone();
                async move {
                    let header = |name| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v: &http::HeaderValue| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    counts.saw(Seen {
                        method: request.method().to_string(),
                        target: request.uri().to_string(),
                        host: header(http::header::HOST),
                        authorization: header(http::header::AUTHORIZATION),
                        at: std::time::Instant::now(),
                    });
                    tokio::time::sleep(delay).await;
                    let body = http_body_util::Full::new(Bytes::from(vec![b'x'; body]));
                    Ok::<_, std::convert::Infallible>(http::Response::new(body))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        }
        Behaviour::CloseAfterAnswer => {
            if read_request(&mut tls, &counts).await {
                let _ = tls.write_all(ANSWER).await;
                let _ = tls.shutdown().await;
            }
        }
        Behaviour::DropSecondRequest | Behaviour::SlowHandshakeDropSecond { .. } => {
            if read_request(&mut tls, &counts).await {
                let _ = tls.write_all(ANSWER).await;
                let _ = tls.flush().await;
                if read_request(&mut tls, &counts).await {
                    let _ = tls.shutdown().await;
                }
            }
        }
        Behaviour::SilentHandshake | Behaviour::SlowHandshake { .. } => {}
        Behaviour::SilentAfterRequest => {
            if read_request(&mut tls, &counts).await {
                std::future::pending::<()>().await;
            }
        }
        Behaviour::StallBody => {
            if read_request(&mut tls, &counts).await {
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                let _ = tls.flush().await;
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Read one request head (the tests' requests have no body) and note it; false at the end of the stream.
async fn read_request(tls: &mut Tls, counts: &Counts) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut request_line = text.split("\r\n").next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let header = |wanted: &str| {
        text.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_owned())
        })
    };
    counts.saw(Seen {
        method,
        target,
        host: header("host"),
        authorization: header("authorization"),
        at: std::time::Instant::now(),
    });
    true
}
