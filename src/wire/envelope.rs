//! The bytes around a batch's events. Timestamps are fixed-width, so the
//! envelope's size is known before a batch is built.

use crate::config::{Config, Protocol};
use crate::event::push_json;
use crate::time::WallTime;

/// Head and tail of a request body for one configuration.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    protocol: Protocol,
    /// `"api_key":"…",` for v0, already JSON-escaped.
    key_member: String,
    historical: bool,
}

pub(crate) const TAIL: &str = "]}";

impl Envelope {
    pub(crate) fn new(config: &Config) -> Self {
        let mut key_member = String::new();
        if config.protocol == Protocol::PostHogV0 {
            key_member.push_str("\"api_key\":");
            push_json(&mut key_member, config.api_key.expose());
            key_member.push(',');
        }
        Envelope {
            protocol: config.protocol,
            key_member,
            historical: config.historical_migration,
        }
    }

    /// Everything before the first event. `time` is `sent_at` for v0 and
    /// JSON (when the request is built), `created_at` for v1 (when the batch
    /// was first built).
    pub(crate) fn head(&self, time: WallTime) -> String {
        let ts = time.to_rfc3339();
        match self.protocol {
            Protocol::PostHogV0 => format!(
                "{{{}\"historical_migration\":{},\"sent_at\":\"{ts}\",\"batch\":[",
                self.key_member, self.historical
            ),
            Protocol::PostHogV1 if self.historical => {
                format!("{{\"created_at\":\"{ts}\",\"historical_migration\":true,\"batch\":[")
            }
            Protocol::PostHogV1 => format!("{{\"created_at\":\"{ts}\",\"batch\":["),
            Protocol::Json => format!("{{\"sent_at\":\"{ts}\",\"batch\":["),
        }
    }

    /// Bytes of head plus tail; the same for every request.
    pub(crate) fn max_len(&self) -> usize {
        self.head(WallTime::default()).len() + TAIL.len()
    }
}
