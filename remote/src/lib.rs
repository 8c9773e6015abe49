//! Prometheus remote write and remote read for Watchfire.
//!
//! - [`send`]: the sender. Each `remote_write` entry is a queue that reads
//!   what it sends from the store's WAL, so nothing committed is lost to a
//!   restart or an outage: its position is acknowledged only once the
//!   remote has taken everything before it, and saved, so the next start
//!   resumes there (at least once).
//! - [`receive`]: the remote write 1.0 receiver's logic.
//! - [`read`]: the remote read server's logic.
//! - [`proto`]: the protobuf messages.

pub mod otlp;
pub mod proto;
pub mod read;
pub mod receive;
pub mod send;
