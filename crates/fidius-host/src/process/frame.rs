//! The process tier's protocol, the one copy both sides use: the messages a
//! host and its runner child exchange, each framed as a little-endian `u32`
//! length followed by a bincode payload (fixed-width integers).

use fidius_core::PluginError;
use serde::{Deserialize, Serialize};

/// First field of the handshake in both directions ("FIDP").
pub(crate) const MAGIC: u32 = 0x4649_4450;
/// Version of this protocol; both sides must speak the same one.
pub(crate) const PROTOCOL: u32 = 3;
/// The fidius-host release both sides must come from.
pub(crate) const BUILD: &str = env!("CARGO_PKG_VERSION");
/// Largest frame either side accepts: a longer length prefix is garbage.
pub const MAX_FRAME: usize = 1 << 30;
/// Set (to the channel's descriptor number) in a child's environment: the
/// process is a runner.
pub(crate) const RUNNER_ENV: &str = "FIDIUS_RUNNER_CHANNEL";
/// The descriptor number of the library (a sealed memfd) in the child.
pub(crate) const LIBRARY_ENV: &str = "FIDIUS_RUNNER_LIBRARY";
/// Also set when the host re-executes its own program as the runner.
pub(crate) const SELF_RUNNER_ENV: &str = "FIDIUS_RUNNER_SELF";

/// Host → child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToChild<'a> {
    /// First message: which plugin of the library (the memfd named by [`LIBRARY_ENV`]) to serve.
    Hello {
        magic: u32,
        protocol: u32,
        /// [`BUILD`] of the host.
        build: String,
        /// The library's path on the host (for messages only).
        label: String,
        plugin: String,
        /// Bincode-encoded config of a configured plugin.
        config: Option<Vec<u8>>,
        /// Host interfaces to bind in the library before the plugin is
        /// constructed (their index here is their index in `HostCall`).
        hosts: Vec<HostSpec>,
    },
    /// First message for a Python plugin: import `entry` from the private
    /// copy of a verified package at `root` (the host keeps it alive).
    HelloPython {
        magic: u32,
        protocol: u32,
        build: String,
        python: Box<PythonTarget>,
    },
    /// A typed call of a value-shaped (Python) plugin: the argument tuple as JSON.
    CallValue {
        id: u64,
        method: u32,
        #[serde(borrow)]
        args_json: &'a [u8],
    },
    /// One call of slot `method` (raw or bincode-typed).
    Call {
        id: u64,
        method: u32,
        raw: bool,
        #[serde(borrow)]
        input: &'a [u8],
    },
    /// Starts server stream `id` of slot `method`.
    OpenStream {
        id: u64,
        method: u32,
        /// `input` is the argument tuple as JSON, and items come as JSON
        /// (a value-shaped, Python, plugin); else both are bincode.
        values: bool,
        #[serde(borrow)]
        input: &'a [u8],
    },
    /// The next items of stream `stream` (answered by `Items { id, .. }`
    /// once at least one item, or the end, is there).
    Pull { id: u64, stream: u64 },
    /// Drops stream `stream` (no answer).
    CloseStream { stream: u64 },
    /// Starts bidirectional stream `id` of slot `method`: the plugin pulls
    /// the host's items with `PullInput { id }` whenever it needs one, and
    /// its output is pulled like a server stream's.
    OpenBidi {
        id: u64,
        method: u32,
        /// JSON arguments and items, as for `OpenStream`.
        values: bool,
        #[serde(borrow)]
        input: &'a [u8],
    },
    /// Binds host interface number `index` (see `Hello::hosts`) in the
    /// library; answered by `Bound`.
    BindHost { id: u64, index: u32, host: HostSpec },
    /// The host's answer to `HostCall { id, .. }`: the host function's status
    /// and output bytes, as its table returned them.
    HostReply {
        id: u64,
        status: i32,
        #[serde(borrow)]
        output: &'a [u8],
    },
    /// Calls client-streaming slot `method`; while it runs, the child asks
    /// for the host's items with `PullInput`, answered by `Input`.
    CallClientStream {
        id: u64,
        method: u32,
        /// JSON arguments, items and result, as for `OpenStream`.
        values: bool,
        #[serde(borrow)]
        input: &'a [u8],
    },
    /// One of the host's items for call `id` (`None`: the end; `Some(Err)`:
    /// a failure that ends the stream).
    Input {
        id: u64,
        #[serde(borrow)]
        step: Option<Result<&'a [u8], WireCallError>>,
    },
}

/// Child → host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToHost<'a> {
    /// The plugin is constructed and ready for calls.
    Ready {
        magic: u32,
        protocol: u32,
        summary: Box<Summary>,
    },
    /// The plugin could not be loaded; the child exits after sending this.
    LoadFailed(WireLoadError),
    /// The answer to a hello with an empty plugin name: what the library
    /// holds (nothing is constructed); the child exits after sending this.
    Listing(Vec<Listed>),
    /// The answer to call `id`.
    Reply {
        id: u64,
        #[serde(borrow)]
        result: Result<&'a [u8], WireCallError>,
    },
    /// Stream input `id` (a client-streaming call, or a bidirectional
    /// stream) wants the host's next item; answered by `Input`.
    PullInput { id: u64 },
    /// The plugin calls host function `function` of host interface `host`
    /// (an index into the bound interfaces) with bincode arguments; `id` is
    /// the child's, answered by `HostReply`. Sent from any plugin thread,
    /// and served while the host is waiting for an answer of its own.
    HostCall {
        id: u64,
        host: u32,
        function: u32,
        #[serde(borrow)]
        input: &'a [u8],
    },
    /// The answer to `BindHost { id, .. }`: `Ok(false)` when the library
    /// does not import the interface.
    Bound {
        id: u64,
        result: Result<bool, WireLoadError>,
    },
    /// The answer to pull `id`: the items produced so far (one at least,
    /// unless the stream ended), then its end if it came.
    Items {
        id: u64,
        #[serde(borrow)]
        items: Vec<&'a [u8]>,
        /// `Some(Ok)`: the clean end; `Some(Err)`: a failure that ended it.
        end: Option<Result<(), WireCallError>>,
    },
}

/// A host interface the host offers a plugin in a child: the child binds a
/// table of this shape whose functions forward to the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HostSpec {
    pub name: String,
    pub hash: u64,
    pub version: u32,
    pub fn_count: u32,
}

/// Which Python package a runner serves, and as which interface.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PythonTarget {
    /// The private copy of the package.
    pub root: String,
    /// The package directory the copy was made from (for messages).
    pub shown: String,
    pub entry: String,
    pub package_name: String,
    pub interface_version: u32,
    pub interface_name: String,
    pub interface_hash: u64,
    /// `(name, wire_raw)` of each method in trait order.
    pub methods: Vec<(String, bool)>,
    /// The config of a configured plugin, as JSON.
    pub config_json: Option<String>,
    /// Where each method takes its stream argument (the interface's
    /// registration, which a runner that does not link it cannot look up).
    pub stream_args: Vec<Option<u8>>,
}

/// What the host learns about the plugin in the handshake.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// [`RUNTIME_CDYLIB`] or [`RUNTIME_PYTHON`].
    pub runtime: u8,
    /// The plugin's identity.
    pub plugin: Listed,
    pub method_count: u32,
    /// `MethodKind::as_str` of each method that recorded one.
    pub kinds: Vec<Option<String>>,
    pub method_metadata: Vec<Vec<(String, String)>>,
    pub trait_metadata: Vec<(String, String)>,
    /// The child's process id (for diagnostics and tests).
    pub pid: u32,
}

/// `Summary::runtime` of a cdylib plugin.
pub(crate) const RUNTIME_CDYLIB: u8 = 0;
/// `Summary::runtime` of a Python plugin.
pub(crate) const RUNTIME_PYTHON: u8 = 1;

/// A plugin a library declares, as listed without constructing it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Listed {
    pub name: String,
    pub interface_name: String,
    pub interface_hash: u64,
    pub interface_version: u32,
    pub capabilities: u64,
    pub buffer_strategy: u8,
}

impl Listed {
    /// The identity of a plugin a library declares.
    pub(crate) fn of(info: &crate::PluginInfo) -> Self {
        Self {
            name: info.name.clone(),
            interface_name: info.interface_name.clone(),
            interface_hash: info.interface_hash,
            interface_version: info.interface_version,
            capabilities: info.capabilities,
            buffer_strategy: info.buffer_strategy as u8,
        }
    }

    /// Back to a [`crate::PluginInfo`] (`Err`: an unknown buffer strategy byte).
    pub(crate) fn info(&self, runtime: crate::PluginRuntimeKind) -> Result<crate::PluginInfo, u8> {
        Ok(crate::PluginInfo {
            name: self.name.clone(),
            interface_name: self.interface_name.clone(),
            interface_hash: self.interface_hash,
            interface_version: self.interface_version,
            capabilities: self.capabilities,
            buffer_strategy: fidius_core::BufferStrategyKind::from_u8(self.buffer_strategy)?,
            runtime,
        })
    }
}

/// Why the child could not serve the plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WireLoadError {
    /// The library has no plugin of that name; these are the ones it has.
    NotFound { available: Vec<String> },
    /// `construct` failed.
    ConstructFailed { reason: String },
    /// The host and the runner speak different protocols.
    Protocol { message: String },
    /// The library's import of a host interface was built for another ABI.
    HostAbi { got: u32, expected: u32 },
    /// The library imports another version of a host interface.
    HostVersion {
        interface: String,
        plugin_expects: u32,
        host_provides: u32,
    },
    /// The library imports a host interface with another hash.
    HostHash {
        interface: String,
        plugin_expects: u64,
        host_provides: u64,
    },
    /// The library's bind function refused the table.
    HostBind {
        interface: String,
        code: i32,
        message: String,
    },
    /// Anything else the loader refused (rendered).
    Other { message: String },
}

impl From<crate::LoadError> for WireLoadError {
    fn from(e: crate::LoadError) -> Self {
        use crate::LoadError as E;
        match e {
            E::ConstructFailed { reason, .. } => Self::ConstructFailed { reason },
            E::IncompatibleAbiVersion { got, expected } => Self::HostAbi { got, expected },
            E::HostInterfaceVersionMismatch {
                interface,
                plugin_expects,
                host_provides,
            } => Self::HostVersion {
                interface,
                plugin_expects,
                host_provides,
            },
            E::HostInterfaceHashMismatch {
                interface,
                plugin_expects,
                host_provides,
            } => Self::HostHash {
                interface,
                plugin_expects,
                host_provides,
            },
            E::HostBindFailed {
                interface,
                code,
                message,
            } => Self::HostBind {
                interface,
                code,
                message,
            },
            e => Self::Other {
                message: e.to_string(),
            },
        }
    }
}

impl WireLoadError {
    /// The host-side error of a host-interface binding the child refused
    /// (`None` for the other kinds).
    pub(crate) fn host_binding(self) -> Result<crate::LoadError, Self> {
        use crate::LoadError as E;
        Ok(match self {
            Self::HostAbi { got, expected } => E::IncompatibleAbiVersion { got, expected },
            Self::HostVersion {
                interface,
                plugin_expects,
                host_provides,
            } => E::HostInterfaceVersionMismatch {
                interface,
                plugin_expects,
                host_provides,
            },
            Self::HostHash {
                interface,
                plugin_expects,
                host_provides,
            } => E::HostInterfaceHashMismatch {
                interface,
                plugin_expects,
                host_provides,
            },
            Self::HostBind {
                interface,
                code,
                message,
            } => E::HostBindFailed {
                interface,
                code,
                message,
            },
            other => return Err(other),
        })
    }
}

/// A call's failure as it crosses the process boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WireCallError {
    Plugin(PluginError),
    Panic(String),
    Serialization(String),
    Deserialization(String),
    BufferTooSmall,
    NotImplemented(u32),
    UnknownStatus(i32),
    Other(String),
}

impl From<crate::CallError> for WireCallError {
    fn from(e: crate::CallError) -> Self {
        use crate::CallError as E;
        match e {
            E::Plugin(p) => Self::Plugin(p),
            E::Panic(m) => Self::Panic(m),
            E::Serialization(m) => Self::Serialization(m),
            E::Deserialization(m) => Self::Deserialization(m),
            E::BufferTooSmall => Self::BufferTooSmall,
            E::NotImplemented { bit } => Self::NotImplemented(bit),
            E::UnknownStatus { code } => Self::UnknownStatus(code),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<WireCallError> for crate::CallError {
    fn from(e: WireCallError) -> Self {
        use crate::CallError as E;
        match e {
            WireCallError::Plugin(p) => E::Plugin(p),
            WireCallError::Panic(m) => E::Panic(m),
            WireCallError::Serialization(m) => E::Serialization(m),
            WireCallError::Deserialization(m) => E::Deserialization(m),
            WireCallError::BufferTooSmall => E::BufferTooSmall,
            WireCallError::NotImplemented(bit) => E::NotImplemented { bit },
            WireCallError::UnknownStatus(code) => E::UnknownStatus { code },
            WireCallError::Other(message) => E::Backend {
                runtime: "process".into(),
                message,
            },
        }
    }
}

fn options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_FRAME as u64)
        .reject_trailing_bytes()
}

/// Encodes `msg` as one frame (length prefix included) into `buf`, replacing
/// its contents.
pub(crate) fn encode<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    use bincode::Options;
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    options()
        .serialize_into(&mut *buf, msg)
        .map_err(|e| e.to_string())?;
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(format!(
            "message of {len} bytes is larger than a frame may be ({MAX_FRAME})"
        ));
    }
    buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Decodes one frame's payload (without its length prefix).
pub(crate) fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, String> {
    use bincode::Options;
    options().deserialize(payload).map_err(|e| e.to_string())
}

/// The payload length a frame header announces, checked against [`MAX_FRAME`].
pub(crate) fn frame_len(header: [u8; 4]) -> Result<usize, String> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(format!(
            "frame of {len} bytes announced (at most {MAX_FRAME} are accepted)"
        ));
    }
    Ok(len)
}

/// Decodes `payload` as a message of either direction, as a host or a
/// runner does with what arrives on its channel (fuzzing entry point).
#[doc(hidden)]
pub fn fuzz_decode(payload: &[u8]) -> bool {
    let to_host = decode::<ToHost<'_>>(payload).is_ok();
    let to_child = decode::<ToChild<'_>>(payload).is_ok();
    if payload.len() >= 4 {
        let _ = frame_len(payload[..4].try_into().expect("four bytes"));
    }
    to_host || to_child
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_and_borrows_its_input() {
        let mut buf = Vec::new();
        let input = [1u8, 2, 3];
        encode(
            &ToChild::Call {
                id: 7,
                method: 2,
                raw: false,
                input: &input,
            },
            &mut buf,
        )
        .unwrap();
        let len = frame_len(buf[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, buf.len() - 4);
        match decode::<ToChild<'_>>(&buf[4..]).unwrap() {
            ToChild::Call {
                id,
                method,
                raw,
                input,
            } => assert_eq!((id, method, raw, input), (7, 2, false, &[1u8, 2, 3][..])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_oversized_frames_are_errors() {
        assert!(frame_len((MAX_FRAME as u32 + 1).to_le_bytes()).is_err());
        assert!(decode::<ToHost<'_>>(&[0xff; 9]).is_err());
        assert!(decode::<ToHost<'_>>(&[]).is_err());
        let mut buf = Vec::new();
        encode(
            &ToHost::Reply {
                id: 1,
                result: Err(WireCallError::Panic("boom".into())),
            },
            &mut buf,
        )
        .unwrap();
        // A truncated payload never decodes.
        assert!(decode::<ToHost<'_>>(&buf[4..buf.len() - 1]).is_err());
    }
}
