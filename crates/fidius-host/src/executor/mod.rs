//! The executor seam: one trait ([`PluginExecutor`]) that every backend
//! implements, so `PluginHandle` and its callers never depend on a backend.

pub(crate) mod cdylib;

pub use cdylib::CdylibExecutor;

use crate::error::CallError;
use crate::info::PluginInfo;
use crate::stream::{OwnedStreamHandle, RawStream};
use fidius_core::MethodKind;

/// Receives a call's output bytes while they are still borrowed from the plugin.
pub type OutputSink<'a> = &'a mut dyn FnMut(&[u8]) -> Result<(), CallError>;

/// A backend that can call a plugin's methods.
pub trait PluginExecutor: Send + Sync {
    /// Identity and shape of the plugin.
    fn info(&self) -> &PluginInfo;

    /// Number of methods (vtable slots).
    fn method_count(&self) -> u32;

    /// Calls a `#[wire(raw)]` method with raw bytes.
    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError>;

    /// Calls a unary method with its bincode-encoded argument tuple; `output`
    /// receives the bincode-encoded result before the plugin's buffer is freed.
    fn call_wire(
        &self,
        method: usize,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError>;

    /// The call kind the plugin recorded for `method`, if it recorded one.
    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        let _ = method;
        None
    }

    /// Whether optional-method capability `bit` is set.
    fn has_capability(&self, bit: u32) -> bool {
        self.info().has_capability(bit)
    }

    /// User metadata of method `method` (the reserved `fidius.*` keys excluded).
    fn method_metadata(&self, method: u32) -> Vec<(&str, &str)> {
        let _ = method;
        Vec::new()
    }

    /// Trait-level metadata.
    fn trait_metadata(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }

    /// Starts a server stream (the plugin produces) with encoded arguments.
    fn call_server_stream(&self, method: usize, input: &[u8]) -> Result<RawStream, CallError> {
        let _ = (method, input);
        Err(unsupported(self.info(), "server streaming"))
    }

    /// Calls a client-streaming method: the plugin pulls `stream`; `output`
    /// receives the encoded result.
    fn call_client_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let _ = (method, stream, input, output);
        Err(unsupported(self.info(), "client streaming"))
    }

    /// Calls a bidirectional method: the plugin pulls `stream` and produces
    /// the returned stream.
    fn call_bidi_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
    ) -> Result<RawStream, CallError> {
        let _ = (method, stream, input);
        Err(unsupported(self.info(), "bidirectional streaming"))
    }
}

fn unsupported(info: &PluginInfo, what: &str) -> CallError {
    CallError::Backend {
        runtime: format!("{:?}", info.runtime).to_lowercase(),
        message: format!("{what} is not supported by this backend"),
    }
}
