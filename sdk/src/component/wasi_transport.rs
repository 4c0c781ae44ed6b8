//! The [`Http`] and [`Clock`] a component talks through: wasi:http requests to one [`Api`] (several
//! outstanding, polled together with `wasi:io/poll`), bodies read up to the connector's cap, and
//! wasi:clocks and wasi:random for retry waits and jitter.
//!
//! Every request goes to `https://{authority}` with the connector's fixed headers (and
//! `content-length: 0` on the bodiless writes), never a credential (the host attaches it and refuses
//! that header from a guest); the transport reads the headers [`Response`] holds and caps the body at
//! the connector's limit.

use super::bindings::klairr::connector::progress;
use crate::prelude::*;
use crate::transport::{
    Clock, Completion, Http, Method, Request, Response, Ticket, TransportError,
};
use core::time::Duration;
use wasi::http::types::FutureIncomingResponse;
use wasi::io::poll::Pollable;

/// The one API a connector talks to, and how.
pub struct Api {
    /// Every request goes to `https://{authority}`; the host's policy decides whether (and where) it is
    /// delivered.
    pub authority: &'static str,
    /// Sent on every request (the version pin, `accept`, `user-agent`).
    pub headers: &'static [(&'static str, &'static str)],
    /// The response header read into [`Response::request_id`] (lower case).
    pub request_id_header: &'static str,
    /// The response header read into [`Response::should_retry`] (lower case), if the API has one.
    pub should_retry_header: Option<&'static str>,
    /// The largest response body read; a larger one is [`TransportError::BodyTooLarge`].
    pub max_body_bytes: usize,
}

/// Requests through the host's `wasi:http/outgoing-handler`; the host's policy decides whether (and
/// where) they are delivered, and adds the credential to those it delivers. Several may be outstanding:
/// each is a wasi:http future, and [`Http::wait_any`] polls them all at once.
pub struct WasiHttp {
    api: &'static Api,
    next: u32,
    /// In the order they were started.
    pending: Vec<Pending>,
    /// Outcomes known as soon as the request was started: the host refused it outright.
    refused: Vec<Completion>,
}

impl WasiHttp {
    pub fn new(api: &'static Api) -> WasiHttp {
        WasiHttp {
            api,
            next: 0,
            pending: Vec::new(),
            refused: Vec::new(),
        }
    }
}

/// One outstanding request. Fields drop in order: the pollable is a child of the future and must go
/// first (wasmtime refuses to drop a resource that still has children).
struct Pending {
    ticket: Ticket,
    ready: Pollable,
    future: FutureIncomingResponse,
}

impl Http for WasiHttp {
    fn progress(&mut self, requests: u32, rows: u64) {
        progress::report(requests, rows);
    }

    fn start(&mut self, request: &Request) -> Ticket {
        self.next = self.next.wrapping_add(1);
        let ticket = Ticket(self.next);
        match start(self.api, request) {
            Ok(future) => self.pending.push(Pending {
                ticket,
                ready: future.subscribe(),
                future,
            }),
            Err(err) => self.refused.push((ticket, Err(err))),
        }
        ticket
    }

    fn wait_any(&mut self, timeout: Option<Duration>) -> Option<Completion> {
        if let Some(done) = self.refused.pop() {
            return Some(done);
        }
        if self.pending.is_empty() {
            return None;
        }
        let timer = timeout.map(|t| {
            wasi::clocks::monotonic_clock::subscribe_duration(
                u64::try_from(t.as_nanos()).unwrap_or(u64::MAX),
            )
        });
        let mut list: Vec<&Pollable> = self.pending.iter().map(|p| &p.ready).collect();
        list.extend(timer.as_ref());
        // The first ready request in start order; only the timer ready: the timeout passed.
        let ready = wasi::io::poll::poll(&list)
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| i < self.pending.len())
            .min()?;
        let Pending {
            ticket,
            ready: _,
            future,
        } = self.pending.remove(ready);
        Some((ticket, finish(self.api, future)))
    }

    fn cancel(&mut self, ticket: Ticket) {
        self.pending.retain(|p| p.ticket != ticket);
    }
}

/// Build `request` and hand it to the host.
fn start(api: &Api, request: &Request) -> Result<FutureIncomingResponse, TransportError> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};

    let mut headers: Vec<(String, Vec<u8>)> = api
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
        .collect();
    let has_body = request.method != Method::Get;
    if has_body {
        headers.push(("content-length".into(), b"0".to_vec()));
    }
    let fields = Fields::from_list(&headers).map_err(|e| {
        TransportError::Connection(format!("could not build request headers: {e:?}"))
    })?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => wasi::http::types::Method::Get,
        Method::Post => wasi::http::types::Method::Post,
        Method::Delete => wasi::http::types::Method::Delete,
    };
    let set = [
        outgoing.set_method(&method).is_ok(),
        outgoing.set_scheme(Some(&Scheme::Https)).is_ok(),
        outgoing.set_authority(Some(api.authority)).is_ok(),
        outgoing
            .set_path_with_query(Some(&request.path_and_query))
            .is_ok(),
    ];
    if set.contains(&false) {
        return Err(TransportError::Connection(
            "the host refused the request line".into(),
        ));
    }
    let body = if has_body { outgoing.body().ok() } else { None };

    // No request-options: the host applies its own timeout ceilings to every request. (Passing a
    // `request-options` resource also leaks one table slot per request in wasmtime-wasi-http 48's
    // `handle`, which never deletes it; a long-lived connection would run out of handles.)
    let pending = outgoing_handler::handle(outgoing, None).map_err(transport_error)?;
    if let Some(body) = body {
        OutgoingBody::finish(body, None).map_err(transport_error)?;
    }
    Ok(pending)
}

/// Read a completed request's response: the headers [`Response`] holds and the body, capped.
fn finish(api: &Api, pending: FutureIncomingResponse) -> Result<Response, TransportError> {
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport_error(code)),
        Some(Err(())) | None => {
            return Err(TransportError::Connection(
                "the response was already taken".into(),
            ))
        }
    };
    drop(pending);

    let status = response.status();
    let headers = response.headers();
    // One call for all headers (names arrive lower-cased); only a few of them matter here.
    let (mut request_id, mut should_retry, mut retry_after, mut declared_len) =
        (None, None, None, None);
    for (name, value) in headers.entries() {
        let Ok(value) = core::str::from_utf8(&value) else {
            continue;
        };
        let value = value.trim();
        let name = name.as_str();
        if name == api.request_id_header {
            request_id = Some(value.to_owned());
        } else if Some(name) == api.should_retry_header {
            // A repeated header's value that says nothing keeps what an earlier one said.
            should_retry = crate::transport::should_retry(value).or(should_retry);
        } else if name == "retry-after" {
            retry_after = crate::transport::retry_after(value).or(retry_after);
        } else if name == "content-length" {
            declared_len = crate::transport::content_length(value);
        }
    }
    drop(headers);
    let limit = api.max_body_bytes;
    let too_large = |request_id: Option<String>| TransportError::BodyTooLarge {
        limit,
        status,
        request_id,
    };
    // Within the cap, a declared length fits a `usize`.
    let declared_len = match declared_len {
        Some(n) if n > limit as u64 => return Err(too_large(request_id)),
        n => n.and_then(|n| usize::try_from(n).ok()),
    };

    let incoming = response
        .consume()
        .map_err(|()| TransportError::Connection("the response body was already taken".into()))?;
    let stream = incoming.stream().map_err(|()| {
        TransportError::Connection("the response body stream was already taken".into())
    })?;
    let mut body = Vec::with_capacity(declared_len.unwrap_or(16 * 1024));
    loop {
        match stream.blocking_read(1 << 20) {
            Ok(chunk) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large(request_id));
                }
                if body.is_empty() && chunk.len() >= declared_len.unwrap_or(usize::MAX) {
                    // The whole body in one read (the usual case): keep it rather than copy it.
                    body = chunk;
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                // The host cut a body over its manifest's size: as final as our own cap.
                if let Some(wasi::http::types::ErrorCode::HttpResponseBodySize(_)) =
                    wasi::http::types::http_error_code(&e)
                {
                    return Err(too_large(request_id));
                }
                // wasmtime-wasi-http 48 hands a body stream's failure on as the embedder's own error,
                // which `http-error-code` does not recognise; its text still names the cap
                // (`tests/hostile_upstreams.rs` holds this to one attempt).
                let debug = e.to_debug_string();
                if debug.starts_with("HTTP response body size exceeds limit") {
                    return Err(too_large(request_id));
                }
                return Err(TransportError::Connection(format!(
                    "reading the response body failed: {debug}"
                )));
            }
        }
    }
    drop(stream);
    let _ = wasi::http::types::IncomingBody::finish(incoming);
    drop(response);

    Ok(Response {
        status,
        request_id,
        should_retry,
        retry_after,
        body,
    })
}

/// Sleeps through `wasi:clocks` (never a busy loop) and draws jitter from `wasi:random`.
pub struct WasiClock;

impl Clock for WasiClock {
    fn sleep(&mut self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
    }

    fn now(&mut self) -> Duration {
        Duration::from_nanos(wasi::clocks::monotonic_clock::now())
    }

    fn random_u64(&mut self) -> u64 {
        wasi::random::random::get_random_u64()
    }
}

fn transport_error(code: wasi::http::types::ErrorCode) -> TransportError {
    use wasi::http::types::ErrorCode as E;
    match code {
        E::HttpRequestDenied => TransportError::Denied(
            "the host's policy refused the request (its log says why)".into(),
        ),
        E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::HttpResponseTimeout
        | E::DnsTimeout => TransportError::Timeout(error_code_name(&code).into()),
        E::InternalError(Some(message)) => {
            TransportError::Connection(format!("internal-error: {message}"))
        }
        other => TransportError::Connection(error_code_name(&other).into()),
    }
}

/// The code's name in wasi:http's WIT (`connection-refused`), for messages. Written out rather than
/// `{:?}`: the derived `Debug` of the enum and its payloads costs the component kilobytes of code.
fn error_code_name(code: &wasi::http::types::ErrorCode) -> &'static str {
    use wasi::http::types::ErrorCode as E;
    match code {
        E::DnsTimeout => "dns-timeout",
        E::DnsError(_) => "dns-error",
        E::DestinationNotFound => "destination-not-found",
        E::DestinationUnavailable => "destination-unavailable",
        E::DestinationIpProhibited => "destination-ip-prohibited",
        E::DestinationIpUnroutable => "destination-ip-unroutable",
        E::ConnectionRefused => "connection-refused",
        E::ConnectionTerminated => "connection-terminated",
        E::ConnectionTimeout => "connection-timeout",
        E::ConnectionReadTimeout => "connection-read-timeout",
        E::ConnectionWriteTimeout => "connection-write-timeout",
        E::ConnectionLimitReached => "connection-limit-reached",
        E::TlsProtocolError => "tls-protocol-error",
        E::TlsCertificateError => "tls-certificate-error",
        E::TlsAlertReceived(_) => "tls-alert-received",
        E::HttpRequestDenied => "http-request-denied",
        E::HttpRequestLengthRequired => "http-request-length-required",
        E::HttpRequestBodySize(_) => "http-request-body-size",
        E::HttpRequestMethodInvalid => "http-request-method-invalid",
        E::HttpRequestUriInvalid => "http-request-uri-invalid",
        E::HttpRequestUriTooLong => "http-request-uri-too-long",
        E::HttpRequestHeaderSectionSize(_) => "http-request-header-section-size",
        E::HttpRequestHeaderSize(_) => "http-request-header-size",
        E::HttpRequestTrailerSectionSize(_) => "http-request-trailer-section-size",
        E::HttpRequestTrailerSize(_) => "http-request-trailer-size",
        E::HttpResponseIncomplete => "http-response-incomplete",
        E::HttpResponseHeaderSectionSize(_) => "http-response-header-section-size",
        E::HttpResponseHeaderSize(_) => "http-response-header-size",
        E::HttpResponseBodySize(_) => "http-response-body-size",
        E::HttpResponseTrailerSectionSize(_) => "http-response-trailer-section-size",
        E::HttpResponseTrailerSize(_) => "http-response-trailer-size",
        E::HttpResponseTransferCoding(_) => "http-response-transfer-coding",
        E::HttpResponseContentCoding(_) => "http-response-content-coding",
        E::HttpResponseTimeout => "http-response-timeout",
        E::HttpUpgradeFailed => "http-upgrade-failed",
        E::HttpProtocolError => "http-protocol-error",
        E::LoopDetected => "loop-detected",
        E::ConfigurationError => "configuration-error",
        E::InternalError(_) => "internal-error",
    }
}
