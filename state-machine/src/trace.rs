//! W3C trace context (`traceparent`): stored on the job record and carried API → command
//! messages → worker → lifecycle events, so that every step of a job is in one trace.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A `traceparent` header value: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
/// Validated so a malformed value from a producer cannot poison log lines or span links.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceParent(String);

/// Why a `traceparent` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("traceparent {value:?} is not `00-<32 hex>-<16 hex>-<2 hex>` with non-zero ids")]
pub struct TraceParentError {
    value: String,
}

impl TraceParent {
    /// Parses a version-00 `traceparent` (lowercase hex, non-zero trace and parent ids).
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let err = || TraceParentError { value: value.to_owned() };
        let parts: Vec<&str> = value.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return Err(err());
        };
        let hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        if *version != "00"
            || !hex(trace_id, 32)
            || !hex(parent_id, 16)
            || !hex(flags, 2)
            || zero(trace_id)
            || zero(parent_id)
        {
            return Err(err());
        }
        Ok(Self(value.to_owned()))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TraceParent {
    type Error = TraceParentError;
    fn try_from(s: String) -> Result<Self, TraceParentError> {
        Self::parse(&s)
    }
}

impl From<TraceParent> for String {
    fn from(t: TraceParent) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_w3c_examples_and_rejects_malformed() {
        assert!(TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?}");
        }
    }
}
