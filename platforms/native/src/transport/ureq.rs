//! The default backend: a blocking `ureq` 3 agent.

use std::io;

use ::ureq::http;
use ::ureq::{Agent, Error};
use tidings::TransportError;

use super::{HttpRequest, HttpResponse, Transport};

/// Answers larger than this are cut short: ingestion APIs answer with a
/// few bytes, or one small result per event (PostHog v1).
const MAX_RESPONSE_BODY: u64 = 4 * 1024 * 1024;

/// Sends with a [`ureq::Agent`]: connections are pooled and reused across
/// the sender threads; each request gets the timeout the core asked for.
///
/// The default agent follows no redirects (a 3xx is a final answer: the
/// body may carry the key) and picks up a proxy from the environment
/// (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) for https only: a plain-http
/// request (loopback, or a host allowed by `allow_insecure_http`) never
/// goes through a proxy from the environment, which would see the events
/// and the key unencrypted. For a proxy set in code, build your own agent
/// (it is then used for every request):
///
/// Logging: ureq redacts sensitive headers at `debug` level, but its
/// `ureq_proto` module hex-dumps every byte sent at `trace` level, the
/// `Authorization` header and a v0 body's `api_key` included. Keep the
/// `ureq_proto` target below `trace` wherever logs are kept.
///
/// ```
/// use tidings_native::{Client, Config, UreqTransport, ureq};
///
/// let proxy = ureq::Proxy::new("http://proxy.internal:3128").unwrap();
/// let agent: ureq::Agent = ureq::Agent::config_builder()
///     .proxy(Some(proxy))
///     .build()
///     .into();
/// let client = Client::builder(Config::new("phc_key", "https://us.i.posthog.com"))
///     .transport(UreqTransport::with_agent(agent))
///     .build()
///     .unwrap();
/// # client.shutdown(std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug)]
pub struct UreqTransport {
    agent: Agent,
    /// For plain-http requests: the same settings without a proxy.
    direct: Agent,
}

impl UreqTransport {
    /// An agent with ureq's defaults, no redirects, and every status
    /// returned as an answer.
    pub fn new() -> Self {
        let agent = |proxy_from_env: bool| {
            let config = Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0);
            // The builder's default proxy is the environment's.
            let config = if proxy_from_env {
                config
            } else {
                config.proxy(None)
            };
            Agent::from(config.build())
        };
        UreqTransport {
            agent: agent(true),
            direct: agent(false),
        }
    }

    /// Uses `agent` (a proxy, custom TLS roots, ...) for every request. Its
    /// timeouts and `http_status_as_error` are overridden per request.
    pub fn with_agent(agent: Agent) -> Self {
        UreqTransport {
            direct: agent.clone(),
            agent,
        }
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // A malformed header or URL: the config validation should have
        // caught it. Not an HTTP answer, and retrying will not help, but the
        // core retries it and then drops it as retries_exhausted.
        let built = builder
            .body(request.body)
            .map_err(|e| TransportError::Other(format!("cannot build the request: {e}")))?;
        let agent = if request.url.starts_with("http://") {
            &self.direct
        } else {
            &self.agent
        };
        let built = agent
            .configure_request(built)
            .timeout_global(Some(request.timeout))
            .http_status_as_error(false)
            .build();
        let mut response = agent.run(built).map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec();
        let body = match body {
            Ok(body) => body,
            // The status alone decides a failure; a 2xx body may hold
            // PostHog v1's per-event results, so losing it is retried.
            Err(_) if !(200..300).contains(&status) => Vec::new(),
            Err(e) => return Err(classify(e)),
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn classify(error: Error) -> TransportError {
    match error {
        Error::Timeout(_) => TransportError::Timeout,
        Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            TransportError::Timeout
        }
        Error::Io(e) => TransportError::Connection(e.to_string()),
        e @ (Error::ConnectionFailed | Error::HostNotFound) => {
            TransportError::Connection(e.to_string())
        }
        other => TransportError::Other(other.to_string()),
    }
}
