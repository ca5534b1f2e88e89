//! Typed errors of loading ([`LoadError`]) and calling ([`CallError`]) a plugin.
//!
//! Every failure a broken or hostile library can cause maps to one of these.

use fidius_core::{BufferStrategyKind, MethodKind, PluginError};

/// Why a plugin could not be found, verified, validated or instantiated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The library file does not exist.
    #[error("library not found: {path}")]
    LibraryNotFound {
        /// Path that was tried.
        path: String,
    },
    /// The library does not export `fidius_get_registry` (not a fidius plugin).
    #[error("symbol 'fidius_get_registry' not found in {path} (is it a fidius plugin built with fidius_plugin_registry!()?)")]
    SymbolNotFound {
        /// The library.
        path: String,
    },
    /// The registry does not start with `FIDIUS\0\0`.
    #[error("invalid magic bytes (expected FIDIUS\\0\\0)")]
    InvalidMagic,
    /// The registry layout version is not ours.
    #[error("incompatible registry version: got {got}, expected {expected}")]
    IncompatibleRegistryVersion {
        /// Found.
        got: u32,
        /// Supported.
        expected: u32,
    },
    /// A descriptor was built for another ABI; rebuild the plugin against this fidius.
    #[error("incompatible ABI version: got {got}, expected {expected} (rebuild the plugin against a matching fidius)")]
    IncompatibleAbiVersion {
        /// Found.
        got: u32,
        /// Supported.
        expected: u32,
    },
    /// The plugin implements a different version of the interface.
    #[error("interface hash mismatch: got {got:#x}, expected {expected:#x} (the plugin was built against a different interface)")]
    InterfaceHashMismatch {
        /// The plugin's.
        got: u64,
        /// The host's.
        expected: u64,
    },
    /// A file is larger than the host reads (libraries: 1 GiB).
    #[error("{path} is {size} bytes; at most {limit} are read")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The plugin was built for another version of the interface (same
    /// hash: the version is not hashed, so it is checked on its own).
    #[error("interface version mismatch: the plugin implements version {got}, the host expects version {expected} (rebuild the plugin against this version of the interface)")]
    InterfaceVersionMismatch {
        /// The plugin's.
        got: u32,
        /// The host's.
        expected: u32,
    },
    /// The plugin uses another buffer strategy than the host expects.
    #[error("buffer strategy mismatch: got {got}, expected {expected}")]
    BufferStrategyMismatch {
        /// The plugin's.
        got: BufferStrategyKind,
        /// The host's.
        expected: BufferStrategyKind,
    },
    /// The file is for another OS or CPU.
    #[error("architecture mismatch: expected {expected}, got {got}")]
    ArchitectureMismatch {
        /// This host.
        expected: String,
        /// The file.
        got: String,
    },
    /// The descriptor names an unknown buffer strategy byte.
    #[error("unknown buffer strategy value {value}")]
    UnknownBufferStrategy {
        /// The byte.
        value: u8,
    },
    /// The signature does not verify against any trusted key.
    #[error("signature verification failed for {path} (signed with an untrusted key, or the file changed after signing)")]
    SignatureInvalid {
        /// The library.
        path: String,
    },
    /// Signatures are required and there is no `<file>.sig`.
    #[error("signature required but no .sig file found for {path} (sign it with `fidius sign`)")]
    SignatureRequired {
        /// The library.
        path: String,
    },
    /// No plugin of that name in the search paths (or in this process).
    #[error("plugin '{name}' not found")]
    PluginNotFound {
        /// Requested name.
        name: String,
    },
    /// The registry or a descriptor is malformed (null pointers, bad sizes, bad strings).
    #[error("invalid plugin library {path}: {reason}")]
    InvalidDescriptor {
        /// The library (or `<in-process>`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The path is still loaded from other bytes: the file changed after it
    /// was loaded and the old library is still in use.
    #[error("library {path} is still loaded from different bytes (the file changed after it was loaded); drop every handle of the old library before loading the new one")]
    LibraryChangedWhileLoaded {
        /// The library.
        path: String,
    },
    /// The plugin's `construct` failed (returned null), e.g. a config that does not decode.
    #[error("plugin '{plugin}' could not be instantiated: {reason}")]
    ConstructFailed {
        /// Plugin name.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// `dlopen` failed.
    #[error("failed to load library: {0}")]
    LibLoading(#[from] libloading::Error),
    /// An I/O error reading a library or signature.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The plugin was built against another version of a host interface.
    #[error("host interface '{interface}' version mismatch: plugin expects {plugin_expects}, host provides {host_provides}")]
    HostInterfaceVersionMismatch {
        /// Interface.
        interface: String,
        /// Plugin's version.
        plugin_expects: u32,
        /// Host's version.
        host_provides: u32,
    },
    /// The plugin was built against a different host interface.
    #[error("host interface '{interface}' hash mismatch: plugin expects {plugin_expects:#x}, host provides {host_provides:#x}")]
    HostInterfaceHashMismatch {
        /// Interface.
        interface: String,
        /// Plugin's hash.
        plugin_expects: u64,
        /// Host's hash.
        host_provides: u64,
    },
    /// The library's host-import registry is malformed.
    #[error("invalid host import registry: {reason}")]
    HostImportRegistryInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The plugin refused the host's table.
    #[error("binding host interface '{interface}' failed ({code}): {message}")]
    HostBindFailed {
        /// Interface.
        interface: String,
        /// `BIND_*` status.
        code: i32,
        /// What it means.
        message: String,
    },
    /// A configuration value could not be encoded.
    #[error("config serialization failed: {0}")]
    ConfigSerialization(String),
    /// A WASM component could not be loaded: not a component, a missing or
    /// wrong `[wasm]` section, a refused capability, a failed instantiation.
    #[error("wasm load failed: {0}")]
    WasmLoad(String),
    /// A Python plugin could not be loaded.
    #[error("python load failed: {0}")]
    PythonLoad(String),
    /// A process-isolated plugin's runner could not be started or did not
    /// complete its handshake (missing or not executable, no answer, garbage).
    #[error("plugin process could not be started: {0}")]
    ProcessStart(String),
}

/// Why a call into a plugin failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Encoding arguments failed, or the plugin could not decode them.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// The plugin's output could not be decoded as the expected type.
    #[error("deserialization error: {0}")]
    Deserialization(String),
    /// The plugin method returned an error.
    #[error("plugin error: {0}")]
    Plugin(PluginError),
    /// The plugin panicked (caught at the boundary).
    #[error("plugin panicked: {0}")]
    Panic(String),
    /// The output did not fit even after growing the buffer.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The optional method is not implemented by this plugin.
    #[error("method not implemented (optional method bit/index {bit})")]
    NotImplemented {
        /// Capability bit (or vtable index for a null slot).
        bit: u32,
    },
    /// The method index is out of range for this plugin.
    #[error("invalid method index {index} (plugin has {count} methods)")]
    InvalidMethodIndex {
        /// Requested.
        index: usize,
        /// Available.
        count: u32,
    },
    /// The plugin returned a status code outside the protocol.
    #[error("plugin returned status code {code} ({}), outside the call protocol", fidius_core::status::status_name(*code))]
    UnknownStatus {
        /// The code.
        code: i32,
    },
    /// Raw call on a typed method or vice versa (non-cdylib backends).
    #[error("wire mode mismatch on method '{method}': declared raw = {declared}, attempted raw = {attempted}")]
    WireModeMismatch {
        /// Method.
        method: String,
        /// Declared raw?
        declared: bool,
        /// Attempted raw?
        attempted: bool,
    },
    /// The method was called with the wrong call kind (e.g. unary on a raw or streaming slot).
    #[error("method {index} is a {declared} method but was called as {attempted}")]
    CallKindMismatch {
        /// Method index.
        index: usize,
        /// Kind recorded in the descriptor.
        declared: MethodKind,
        /// Kind of the attempted call.
        attempted: MethodKind,
    },
    /// A backend-specific failure.
    #[error("{runtime} backend error: {message}")]
    Backend {
        /// Backend name.
        runtime: String,
        /// What happened.
        message: String,
    },
    /// A malformed stream frame.
    #[error("malformed stream frame: {0}")]
    MalformedFrame(String),
    /// A stream ended without a terminal frame.
    #[error("stream aborted before its end")]
    StreamAborted,
    /// The call ran past its deadline and was stopped.
    #[error("call exceeded its deadline of {deadline:?} and was stopped")]
    Timeout {
        /// The deadline that applied.
        deadline: std::time::Duration,
    },
    /// The guest used up its fuel budget (instructions) and was stopped.
    #[error("call exhausted its fuel budget of {budget} units and was stopped")]
    FuelExhausted {
        /// The budget that applied.
        budget: u64,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("call tried to use more than the memory cap of {limit} bytes and was stopped")]
    MemoryLimitExceeded {
        /// The cap in bytes.
        limit: u64,
    },
    /// The call was cancelled through its [`crate::executor::CancelHandle`].
    #[error("call was cancelled")]
    Cancelled,
    /// The plugin's child process died during the call (the host is unharmed;
    /// the next call starts a fresh child).
    #[error("plugin process {death}{}", if stderr.is_empty() { String::new() } else { format!("; its stderr ended with: {stderr}") })]
    ProcessDied {
        /// How it ended.
        death: ProcessDeath,
        /// The last lines it wrote to stderr (at most 8 KiB).
        stderr: String,
    },
    /// The plugin's child process broke the protocol (garbage, a truncated
    /// frame, an answer to another call); it was killed.
    #[error("plugin process broke the protocol: {0}")]
    ProcessProtocol(String),
    /// A new child process for the plugin could not be started.
    #[error("plugin process could not be restarted: {0}")]
    ProcessStart(String),
    /// The plugin's process failed too often in a row; no new one is started.
    #[error("plugin process failed {failures} times in a row; it is not restarted again (load the plugin again to retry)")]
    RestartLimitReached {
        /// Consecutive failures.
        failures: u32,
    },
    /// The plugin's process used up its CPU time limit and was stopped.
    #[error("plugin process exceeded its CPU time limit of {limit:?} and was stopped")]
    CpuTimeExceeded {
        /// The limit.
        limit: std::time::Duration,
    },
    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`, …).
    #[error("{runtime} guest trapped: {message}")]
    Trap {
        /// Backend name.
        runtime: String,
        /// What the runtime reported.
        message: String,
    },
}

/// How a plugin's child process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessDeath {
    /// Killed by a signal (a segfault, an abort, the kernel's OOM killer…).
    Signal {
        /// The signal number.
        signal: i32,
        /// Its name (`SIGSEGV`).
        name: &'static str,
    },
    /// The child overflowed its stack (reported by Rust's guard-page handler).
    StackOverflow,
    /// The child exited (the plugin called `exit`, or the runner gave up).
    Exited {
        /// The exit status.
        code: i32,
    },
    /// The child was gone but its status could not be read.
    Unknown,
    /// The connection to the remote runner serving the child was lost (the
    /// runner or its machine went away); what became of the child is not known.
    Disconnected {
        /// What the connection reported.
        reason: String,
    },
}

impl std::fmt::Display for ProcessDeath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Signal { signal, name } => write!(f, "killed by signal {signal} ({name})"),
            Self::StackOverflow => f.write_str("overflowed its stack"),
            Self::Exited { code } => write!(f, "exited with status {code}"),
            Self::Unknown => f.write_str("ended (status unknown)"),
            Self::Disconnected { reason } => write!(f, "was lost with its remote runner: {reason}"),
        }
    }
}
