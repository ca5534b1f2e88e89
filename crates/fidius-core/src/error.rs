//! [`PluginError`]: the error a plugin method returns to its host.
//!
//! It crosses the wire as bincode; `details` is a JSON string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An error returned by a plugin method (`-> Result<T, PluginError>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Machine-readable code, e.g. `"NOT_FOUND"`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details, stored as a JSON string.
    pub details: Option<String>,
}

impl PluginError {
    /// An error with a code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// An error with structured details (stored as a JSON string).
    pub fn with_details(
        code: impl Into<String>,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: Some(details.to_string()),
        }
    }

    /// The details parsed back as JSON (`None` if absent or not valid JSON).
    pub fn details_value(&self) -> Option<serde_json::Value> {
        self.details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}
