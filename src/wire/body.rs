//! A request body, built lazily: the state machine hands out shared event
//! bytes, and the adapter concatenates (and compresses) them on whatever
//! thread performs the I/O.

use std::fmt;
use std::sync::Arc;

use super::envelope::TAIL;
use crate::batch::Payload;

/// The body of one request: an envelope around already-encoded events.
#[derive(Clone)]
pub struct Body {
    head: String,
    events: Payload,
    gzip: bool,
    len: usize,
}

impl Body {
    /// `events_len`: the events' bytes, summed (the caller knows it).
    pub(crate) fn new(
        head: String,
        events: Arc<[Arc<[u8]>]>,
        events_len: usize,
        gzip: bool,
    ) -> Self {
        let commas = events.len().saturating_sub(1);
        let len = head.len() + events_len + commas + TAIL.len();
        Body {
            head,
            events,
            gzip,
            len,
        }
    }

    /// Exact size of the uncompressed JSON, in bytes.
    pub fn json_len(&self) -> usize {
        self.len
    }

    /// Whether [`Body::to_bytes`] is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Number of events in the body.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The uncompressed JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write_json(&mut out);
        out
    }

    /// What goes on the wire: the JSON, gzip-compressed when configured.
    pub fn to_bytes(&self) -> Vec<u8> {
        #[cfg(feature = "gzip")]
        if self.gzip {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.len / 4 + 64),
                flate2::Compression::default(),
            );
            // One large write: per-event writes cost the compressor more
            // than the copy. Writing into a Vec cannot fail.
            let _ = gz.write_all(&self.to_json());
            return gz.finish().unwrap_or_default();
        }
        self.to_json()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head.as_bytes());
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(event);
        }
        out.extend_from_slice(TAIL.as_bytes());
    }
}

impl fmt::Debug for Body {
    /// The body may carry the API key (PostHog v0): never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("events", &self.events.len())
            .field("json_len", &self.len)
            .field("gzip", &self.gzip)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_exact() {
        let events: Vec<Arc<[u8]>> = vec![
            Arc::from(&b"{\"a\":1}"[..]),
            Arc::from(&b"{\"b\":\"\xc3\xa9\"}"[..]),
        ];
        let sum = events.iter().map(|e| e.len()).sum();
        let body = Body::new("{\"batch\":[".into(), events.into(), sum, false);
        let json = body.to_json();
        assert_eq!(json.len(), body.json_len());
        assert_eq!(json, "{\"batch\":[{\"a\":1},{\"b\":\"é\"}]}".as_bytes());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let events: Vec<Arc<[u8]>> = (0..50)
            .map(|i| Arc::from(format!("{{\"i\":{i}}}").into_bytes()))
            .collect();
        let sum = events.iter().map(|e| e.len()).sum();
        let body = Body::new("{\"batch\":[".into(), events.into(), sum, true);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body.to_bytes()[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, body.to_json());
    }
}
