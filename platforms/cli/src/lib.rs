//! The `tidings` command's parts, as a library so tests and the demo can
//! embed them: the local collector, the demo and the NDJSON importer.

pub mod collect;
pub mod demo;
pub mod send;
