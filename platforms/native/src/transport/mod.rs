//! How requests are performed: a one-method trait, so a proxy-configured
//! agent, another HTTP client or a test recorder can replace the default
//! `ureq` backend without touching the core.

#[cfg(feature = "ureq")]
mod ureq;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tidings::{RequestId, Response, TransportError};

#[cfg(feature = "ureq")]
pub use self::ureq::UreqTransport;

/// Performs one HTTP request, blocking the calling sender thread.
///
/// Implementations must:
/// - give up after [`HttpRequest::timeout`] and return
///   [`TransportError::Timeout`]. A call that ignores its timeout holds one
///   of the `max_in_flight` sender threads: the core gives up on the
///   request 2 s after its timeout and retries it, and while no sender
///   thread is free those retries fail at once (counted as attempts, so
///   the events end as `retries_exhausted` rather than pile up in memory);
/// - return every HTTP answer, whatever its status, as `Ok`: a 503 or a 400
///   is an [`HttpResponse`], not an error. Errors are for requests that got
///   no answer (connection refused, timeout, TLS failure...);
/// - never log header values or the body: they carry the API key.
///
/// A panic in `send` is caught and counted as a failed attempt (retried),
/// as long as the build unwinds on panic.
///
/// Up to `max_in_flight` calls run at once, from different threads.
///
/// A closure works too:
///
/// ```
/// use tidings_native::{Client, Config, HttpRequest, HttpResponse};
///
/// let config = Config::new("phc_key", "https://ingest.example.com");
/// let client = Client::builder(config)
///     .transport(|request: HttpRequest| {
///         assert_eq!(request.method, "POST");
///         Ok(HttpResponse::new(200))
///     })
///     .build()
///     .unwrap();
/// # client.shutdown(std::time::Duration::from_secs(1));
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and waits for the answer.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F> Transport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync + 'static,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

/// Shares one transport between clients (`Arc<dyn Transport>` included).
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

/// One request, ready to go: the body is already serialized (and gzipped
/// when `Content-Encoding: gzip` is among the headers).
#[derive(Clone)]
pub struct HttpRequest {
    /// The core's id of this attempt: `Notice::Delivered { request }` names
    /// it once the answer is in.
    pub request: RequestId,
    /// 1 on the first try of its batch, 2 on the first retry, ...
    pub attempt: u32,
    /// How many events the body carries.
    pub events: usize,
    /// Always `POST` today.
    pub method: &'static str,
    pub url: String,
    /// Includes `Authorization` (PostHog v1) and the user's headers.
    pub headers: Vec<(String, String)>,
    /// Includes the API key (PostHog v0).
    pub body: Vec<u8>,
    /// Give up after this long.
    pub timeout: Duration,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpRequest {
    /// Header values and the body may carry the API key: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("request", &self.request)
            .field("attempt", &self.attempt)
            .field("events", &self.events)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers (values redacted)", &names)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An HTTP answer, whatever its status.
///
/// ```
/// use tidings_native::HttpResponse;
/// let answer = HttpResponse::new(429).with_header("Retry-After", "2");
/// assert_eq!(answer.header("retry-after"), Some("2"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// The headers the core may read; only `Retry-After` is used today.
    pub headers: Vec<(String, String)>,
    /// Read for PostHog v1's per-event results; may be empty otherwise.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// An answer with `status`, no headers and no body.
    pub fn new(status: u16) -> Self {
        HttpResponse {
            status,
            ..Default::default()
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// What the core reads from it.
    pub(crate) fn into_response(self) -> Response {
        let retry_after = self.header("retry-after").map(str::to_owned);
        Response {
            status: self.status,
            retry_after,
            body: self.body,
        }
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
