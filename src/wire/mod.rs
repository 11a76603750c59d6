//! The wire formats: how one event is encoded at capture, the envelope
//! around a batch, request headers, and how answers are read.

mod body;
mod encode;
mod envelope;
mod headers;
mod json;
mod results;
mod retry_after;

pub use body::Body;
pub(crate) use encode::EventEncoder;
pub(crate) use envelope::Envelope;
pub(crate) use headers::{RequestHeaders, RequestMeta};
pub(crate) use json::{JsonReader, MAX_EVENT_DEPTH, nesting_within};
pub(crate) use results::{EventResult, V1Results};
pub(crate) use retry_after::parse_retry_after;
