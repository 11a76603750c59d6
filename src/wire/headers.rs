//! Request headers for each protocol.

use uuid::Uuid;

use crate::config::{Config, Protocol};
use crate::time::WallTime;

/// The per-configuration headers, prepared once.
#[derive(Clone)]
pub(crate) struct RequestHeaders {
    protocol: Protocol,
    gzip: bool,
    cors_simple: bool,
    sdk: String,
    bearer: String,
    extra: Vec<(String, String)>,
}

/// What changes between attempts of one request.
pub(crate) struct RequestMeta {
    /// 1 on the first try.
    pub attempt: u32,
    /// The same on every retry of the batch.
    pub request_uuid: Uuid,
    pub wall_now: WallTime,
}

impl RequestHeaders {
    pub(crate) fn new(config: &Config) -> Self {
        RequestHeaders {
            protocol: config.protocol,
            gzip: config.gzip,
            cors_simple: config.cors_simple,
            sdk: format!("{}/{}", config.lib.name, config.lib.version),
            bearer: format!("Bearer {}", config.api_key.expose()),
            extra: config.headers.clone(),
        }
    }

    pub(crate) fn build(&self, meta: &RequestMeta) -> Vec<(String, String)> {
        let mut h = Vec::with_capacity(8 + self.extra.len());
        // PostHog v0 carries the key in the body: with a CORS-safelisted
        // content type a browser needs no preflight.
        let content_type = if self.cors_simple && self.protocol == Protocol::PostHogV0 {
            "text/plain"
        } else {
            "application/json"
        };
        h.push(("Content-Type".to_owned(), content_type.to_owned()));
        if !self.cors_simple {
            h.push(("User-Agent".to_owned(), self.sdk.clone()));
        }
        if self.gzip {
            h.push(("Content-Encoding".to_owned(), "gzip".to_owned()));
        }
        if self.protocol == Protocol::PostHogV1 {
            h.push(("Authorization".to_owned(), self.bearer.clone()));
            h.push(("PostHog-Sdk-Info".to_owned(), self.sdk.clone()));
            h.push(("PostHog-Attempt".to_owned(), meta.attempt.to_string()));
            h.push((
                "PostHog-Request-Id".to_owned(),
                meta.request_uuid.to_string(),
            ));
            h.push((
                "PostHog-Request-Timestamp".to_owned(),
                meta.wall_now.to_rfc3339(),
            ));
        }
        h.extend(self.extra.iter().cloned());
        h
    }
}
