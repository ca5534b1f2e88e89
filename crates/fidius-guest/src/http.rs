//! Outbound HTTP for WASM guests, through the host's `wasi:http` broker:
//! blocking `get`, `post` and `send` with an optional per-request timeout.
//!
//! The host links `wasi:http` only for plugins granted the `http` capability
//! and only when it supplies an egress policy; the policy sees (and may
//! rewrite or refuse) every request. A refused request fails with a generic
//! [`HttpError`]: the guest is never told why. The module compiles on every
//! target so one plugin source builds both ways; in a native plugin (trusted
//! code, no broker) `send` returns an error saying to use an HTTP client.

use std::time::Duration;
#[cfg(target_family = "wasm")]
use wasip2::http::outgoing_handler;
#[cfg(target_family = "wasm")]
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
#[cfg(target_family = "wasm")]
use wasip2::io::streams::StreamError;

/// Bytes written to the request body per host call.
#[cfg(target_family = "wasm")]
const CHUNK: usize = 4096;

/// An outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `DELETE`, `HEAD`, `PATCH`, `OPTIONS` or any token.
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// Applied to connecting, to the first response byte and between bytes.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request {
            method: "POST".into(),
            body: body.into(),
            ..Request::get(url)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the timeout (connect, first byte, and between bytes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A response, its body read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Response headers (values that are not UTF-8 are replaced lossily).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request failed. Refusals by the host's policy read as
/// "request denied", with no reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// What went wrong.
    pub message: String,
}

impl HttpError {
    fn new(message: impl Into<String>) -> Self {
        HttpError {
            message: message.into(),
        }
    }

    /// Whether the host's egress policy refused the request.
    pub fn is_denied(&self) -> bool {
        self.message == DENIED
    }

    /// Whether a timeout ran out.
    pub fn is_timeout(&self) -> bool {
        self.message.contains("timed out")
    }
}

const DENIED: &str = "request denied";

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http: {}", self.message)
    }
}

impl std::error::Error for HttpError {}

#[cfg(target_family = "wasm")]
impl From<ErrorCode> for HttpError {
    fn from(e: ErrorCode) -> Self {
        HttpError::new(match e {
            ErrorCode::HttpRequestDenied => DENIED.to_owned(),
            ErrorCode::ConnectionTimeout => "connect timed out".to_owned(),
            ErrorCode::ConnectionReadTimeout => "read timed out".to_owned(),
            ErrorCode::ConnectionWriteTimeout => "write timed out".to_owned(),
            ErrorCode::ConnectionRefused => "connection refused".to_owned(),
            ErrorCode::DnsError(d) => format!(
                "name lookup failed{}",
                d.rcode.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            other => format!("{other:?}"),
        })
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    send(Request::get(url))
}

/// `POST body` to `url`.
pub fn post(url: &str, body: &[u8]) -> Result<Response, HttpError> {
    send(Request::post(url, body))
}

#[cfg(target_family = "wasm")]
fn method(m: &str) -> Method {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(m.to_owned()),
    }
}

#[cfg(target_family = "wasm")]
fn invalid(what: &str) -> impl FnOnce(()) -> HttpError + '_ {
    move |()| HttpError::new(format!("invalid {what}"))
}

/// Sends `req` and reads the whole response (native build: refused, see
/// the module docs).
#[cfg(not(target_family = "wasm"))]
pub fn send(req: Request) -> Result<Response, HttpError> {
    crate::url::split(&req.url).map_err(HttpError::new)?;
    Err(HttpError::new(
        "fidius::http brokers WASM plugins' requests through the host; a native plugin calls an HTTP client directly",
    ))
}

/// Sends `req` through the host's broker and reads the whole response.
#[cfg(target_family = "wasm")]
pub fn send(req: Request) -> Result<Response, HttpError> {
    let (https, authority, path) = crate::url::split(&req.url).map_err(HttpError::new)?;
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    let mut headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let has_length = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if !req.body.is_empty() && !has_length {
        headers.push((
            "content-length".into(),
            req.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|e| HttpError::new(format!("invalid header: {e:?}")))?;
    let out = OutgoingRequest::new(fields);
    out.set_method(&method(&req.method))
        .map_err(invalid("method"))?;
    out.set_scheme(Some(&scheme)).map_err(invalid("scheme"))?;
    out.set_authority(Some(authority))
        .map_err(invalid("authority"))?;
    out.set_path_with_query(Some(path))
        .map_err(invalid("path"))?;
    let body = out.body().map_err(invalid("body"))?;
    let options = req.timeout.map(|t| {
        let o = RequestOptions::new();
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        // A host may not support one of them; the others still apply.
        let _ = o.set_connect_timeout(Some(ns));
        let _ = o.set_first_byte_timeout(Some(ns));
        let _ = o.set_between_bytes_timeout(Some(ns));
        o
    });
    let pending = outgoing_handler::handle(out, options)?;
    let wrote = (|| -> Result<(), HttpError> {
        // Waits go through `pollable.block`, which the host bounds by the
        // call's deadline (the `blocking-*` shortcuts are not bounded).
        let stream = body.write().map_err(invalid("body stream"))?;
        let mut rest = req.body.as_slice();
        while !rest.is_empty() {
            let room = stream
                .check_write()
                .map_err(|e| stream_error("writing the body", e))?;
            if room == 0 {
                stream.subscribe().block();
                continue;
            }
            let n = rest
                .len()
                .min(CHUNK)
                .min(usize::try_from(room).unwrap_or(CHUNK));
            stream
                .write(&rest[..n])
                .map_err(|e| stream_error("writing the body", e))?;
            rest = &rest[n..];
        }
        stream
            .flush()
            .map_err(|e| stream_error("writing the body", e))?;
        stream.subscribe().block();
        drop(stream);
        OutgoingBody::finish(body, None)?;
        Ok(())
    })();
    let response = loop {
        match pending.get() {
            Some(r) => break r,
            None => pending.subscribe().block(),
        }
    };
    // A refused or failed request closes the body early: its response
    // error says why, so it comes first.
    let response = response.map_err(|()| HttpError::new("the response was already taken"))??;
    // The server answered, perhaps before reading all of the body (and then
    // closed it): its response stands, as in any HTTP client.
    if let Err(e) = wrote {
        if !e.message.ends_with("the connection closed") {
            return Err(e);
        }
    }
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response.consume().map_err(invalid("response body"))?;
    let mut bytes = Vec::new();
    {
        let stream = incoming.stream().map_err(invalid("response stream"))?;
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => stream.subscribe().block(),
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error("reading the body", e)),
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

#[cfg(target_family = "wasm")]
fn stream_error(doing: &str, e: StreamError) -> HttpError {
    match e {
        StreamError::Closed => HttpError::new(format!("{doing}: the connection closed")),
        StreamError::LastOperationFailed(err) => {
            let detail = wasip2::http::types::http_error_code(&err)
                .map(|c| HttpError::from(c).message)
                .unwrap_or_else(|| err.to_debug_string());
            HttpError::new(format!("{doing}: {detail}"))
        }
    }
}
