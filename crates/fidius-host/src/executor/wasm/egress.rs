//! The egress policy type of fidius 0.5's API: the host's decision on every
//! outbound request of a guest.
//!
//! This release gives WASM guests no network at all (network capabilities are
//! refused at load), so a policy has nothing to decide yet; the types exist so
//! that hosts written for fidius 0.5 compile, and brokered `wasi:http`, TCP and
//! UDP egress will consult them.

use std::net::SocketAddr;

/// Why a request was refused (never shown to the guest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressDenied {
    /// The reason, for the host's logs.
    pub reason: String,
}

impl EgressDenied {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        EgressDenied {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for EgressDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "egress denied: {}", self.reason)
    }
}

impl std::error::Error for EgressDenied {}

/// Sees (and may rewrite or refuse) every outbound request of a guest.
pub trait EgressPolicy: Send + Sync + 'static {
    /// An outbound HTTP request; may change its headers (inject credentials,
    /// strip others) or refuse it.
    fn authorize(&self, parts: &mut http::request::Parts) -> Result<(), EgressDenied>;

    /// An outbound TCP connection to a resolved address (denied by default).
    fn authorize_tcp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        Err(EgressDenied::new(format!("tcp to {addr} is not allowed")))
    }

    /// An outbound UDP datagram or connection (denied by default).
    fn authorize_udp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        Err(EgressDenied::new(format!("udp to {addr} is not allowed")))
    }
}
