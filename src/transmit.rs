//! The request the adapter must perform, and what it reports back.

use std::fmt;
use std::time::Duration;

use crate::wire::Body;

/// Identifies one attempt; pass it back with the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number behind the id (unique per core, increasing from 1), for
    /// adapters that hand the id across a boundary (to JavaScript, say).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id behind a number from [`RequestId::as_u64`]. An id the core
    /// never issued, or one it already gave up on, is ignored by
    /// [`crate::Core::handle_response`].
    pub fn from_u64(n: u64) -> Self {
        RequestId(n)
    }
}

/// One HTTP request to perform. Report its outcome with
/// [`crate::Core::handle_response`].
pub struct Transmit {
    pub id: RequestId,
    pub method: &'static str,
    pub url: String,
    /// May include `Authorization` and user headers: never log the values.
    pub headers: Vec<(String, String)>,
    /// Call [`Body::to_bytes`] on the thread that sends it.
    pub body: Body,
    /// Abort the request after this long and report [`TransportError::Timeout`].
    pub timeout: Duration,
    /// Which attempt of its batch this is: 1 on the first try.
    pub attempt: u32,
    /// With `Config::adapter_gzip`, for a body worth compressing: where and
    /// how to send it if the adapter gzips it itself.
    pub gzipped: Option<Gzipped>,
}

/// The compressed form of a request, for an adapter that gzips bodies
/// itself: send the gzipped [`Body::to_bytes`] to `url`, adding
/// `Content-Encoding: gzip` when `content_encoding` says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gzipped {
    pub url: String,
    pub content_encoding: bool,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Transmit")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers (values redacted)", &names)
            .field("body", &self.body)
            .field("timeout", &self.timeout)
            .field("attempt", &self.attempt)
            .field("gzipped", &self.gzipped)
            .finish()
    }
}

/// An HTTP answer, whatever its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The `Retry-After` header's value, if present.
    pub retry_after: Option<String>,
    /// The body (read for PostHog v1's per-event results; may be empty).
    pub body: Vec<u8>,
}

impl Response {
    /// An answer with `status`, no Retry-After and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            ..Default::default()
        }
    }

    /// Sets the `Retry-After` value.
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The request produced no HTTP answer. All of these are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the request's timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connection(String),
    /// Anything else (TLS, a malformed answer, ...).
    Other(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Timeout => f.write_str("request timed out"),
            TransportError::Connection(e) => write!(f, "connection failed: {e}"),
            TransportError::Other(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}
