//! The WASM sandbox: the capability allow-list (reference §11.5) parsed and
//! checked at load, the per-store host state with its limits, and the guest
//! stderr tail that makes trap messages readable.
//!
//! The baseline is deny-all: no preopened directory, no environment, no
//! arguments, stdio not inherited, no sockets. Clocks and random are always
//! available (the WASI worlds require them); `clocks` and `random` are
//! accepted as no-op grants. Network grants are brokered (`egress.rs`).

use super::egress::{apply_sockets, EgressHooks, EgressPolicy, Net};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What capability strings may say.
pub const ALLOWED: &str =
    "args, stdin, stdout, stderr, env:NAME, fs:ro:/PATH, fs:rw:/PATH, clocks, random, http, tcp, udp, network";

/// Capabilities a component was granted.
#[derive(Clone, Default)]
pub struct Grants {
    args: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    env: Vec<(String, String)>,
    dirs: Vec<(PathBuf, String, FsPerms)>,
    /// `http`: brokered `wasi:http` (needs a policy too).
    pub(crate) http: bool,
    pub(crate) net: Net,
    /// The host's egress policy (the second key of the brokered tiers).
    pub(crate) egress: Option<Arc<dyn EgressPolicy>>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("args", &self.args)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field(
                "dirs",
                &self.dirs.iter().map(|(_, g, p)| (g, p)).collect::<Vec<_>>(),
            )
            .field("http", &self.http)
            .field("net", &self.net)
            .field("egress", &self.egress.is_some())
            .finish()
    }
}

impl Grants {
    /// Parses and checks an allow-list; any bad entry refuses the whole list.
    pub fn parse(caps: &[String]) -> Result<Self, String> {
        let mut g = Grants::default();
        let (mut tcp, mut udp, mut open) = (false, false, false);
        for cap in caps {
            let c = cap.trim();
            match c {
                "args" => g.args = true,
                "stdin" => g.stdin = true,
                "stdout" => g.stdout = true,
                "stderr" => g.stderr = true,
                "clocks" | "random" => {}
                "env" => {
                    return Err(format!(
                        "capability 'env' is too broad: grant variables one by one as env:NAME (allowed: {ALLOWED})"
                    ))
                }
                "fs" | "filesystem" => {
                    return Err(format!(
                        "capability '{c}' is too broad: grant a directory as fs:ro:/PATH or fs:rw:/PATH (allowed: {ALLOWED})"
                    ))
                }
                "http" => g.http = true,
                "tcp" => tcp = true,
                "udp" => udp = true,
                "network" | "sockets" => open = true,
                _ => {
                    if let Some(name) = c.strip_prefix("env:") {
                        if name.is_empty() || name.contains('=') || name.contains('\0') {
                            return Err(format!(
                                "capability '{c}' needs a variable name, as env:NAME (allowed: {ALLOWED})"
                            ));
                        }
                        match std::env::var(name) {
                            Ok(v) => g.env.push((name.to_owned(), v)),
                            Err(_) => tracing::debug!(var = name, "granted env var is not set on the host"),
                        }
                    } else if let Some(rest) = c.strip_prefix("fs:") {
                        let (perms, path) = if let Some(p) = rest.strip_prefix("ro:") {
                            (FsPerms::ReadOnly, p)
                        } else if let Some(p) = rest.strip_prefix("rw:") {
                            (FsPerms::ReadWrite, p)
                        } else {
                            return Err(format!(
                                "capability '{c}' must say ro or rw, as fs:ro:/PATH (allowed: {ALLOWED})"
                            ));
                        };
                        if path.is_empty() {
                            return Err(format!(
                                "capability '{c}' needs a directory, as fs:ro:/PATH (allowed: {ALLOWED})"
                            ));
                        }
                        let host = PathBuf::from(path);
                        if !host.is_dir() {
                            tracing::warn!(path, "granted directory does not exist; not preopened");
                            continue;
                        }
                        g.dirs.push((host, path.to_owned(), perms));
                    } else {
                        return Err(format!("unknown wasm capability '{c}'; allowed: {ALLOWED}"));
                    }
                }
            }
        }
        g.net = match (open, tcp || udp) {
            (true, true) => {
                return Err(
                    "capabilities 'tcp'/'udp' (brokered by the host's policy) and 'network' (any public address) \
                     are exclusive tiers: grant one or the other"
                        .to_owned(),
                )
            }
            (true, false) => Net::Open,
            (false, true) => Net::Brokered { tcp, udp },
            (false, false) => Net::None,
        };
        Ok(g)
    }

    /// These grants with the host's egress policy as the second key.
    pub fn with_egress(mut self, policy: Option<Arc<dyn EgressPolicy>>) -> Self {
        if policy.is_none() && matches!(self.net, Net::Brokered { .. }) {
            tracing::warn!(
                "capability tcp/udp granted but the host supplied no egress policy: every connect will be refused"
            );
        }
        self.egress = policy;
        self
    }

    /// Whether `wasi:http` is linked for these grants (capability and policy).
    pub fn links_http(&self) -> bool {
        self.http && self.egress.is_some()
    }

    /// A fresh WASI context with exactly these grants; guest stderr goes to
    /// `tail` unless `stderr` was granted.
    pub fn wasi_ctx(&self, tail: &StderrTail) -> WasiCtx {
        let mut b = WasiCtxBuilder::new();
        if self.args {
            b.inherit_args();
        }
        if self.stdin {
            b.inherit_stdin();
        }
        if self.stdout {
            b.inherit_stdout();
        }
        if self.stderr {
            b.inherit_stderr();
        } else {
            b.stderr(tail.clone());
        }
        for (k, v) in &self.env {
            b.env(k, v);
        }
        for (host, guest, perms) in &self.dirs {
            if let Err(e) = b.preopened_dir(host, guest, *perms) {
                tracing::warn!(path = %host.display(), error = %e, "could not preopen granted directory");
            }
        }
        apply_sockets(&mut b, self.net, self.egress.as_ref());
        b.build()
    }
}

/// The memory cap was hit (the limiter's error, recognised after the call).
#[derive(Debug)]
pub struct MemoryLimitHit {
    /// The cap in bytes.
    pub limit: u64,
}

impl std::fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory cap of {} bytes exceeded", self.limit)
    }
}

impl std::error::Error for MemoryLimitHit {}

/// Caps linear memory and table growth of one store.
#[derive(Debug)]
pub struct Limiter {
    /// Memory cap in bytes (per linear memory).
    pub memory: Option<u64>,
}

/// Tables may not grow past this many elements.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(cap) = self.memory {
            if desired as u64 > cap {
                return Err(MemoryLimitHit { limit: cap }.into());
            }
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|m| desired <= m))
    }
}

/// The data of one wasmtime store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The store's limiter.
    pub limiter: Limiter,
    /// What the guest wrote to stderr (when not inherited).
    pub stderr: StderrTail,
    /// The host's items of the client stream in progress (pulled through
    /// `fidius:stream-pull`).
    pub client: Option<crate::executor::ValueItems>,
    /// Why producing a client-stream item failed (the guest was stopped).
    pub client_error: Option<crate::error::CallError>,
    /// Host interfaces bound to the executor (`fidius:host-call`).
    pub hosts: Option<Arc<super::host_call::HostTables>>,
    http: WasiHttpCtx,
    /// The `wasi:http` hooks (the egress policy and the call's deadline).
    pub(crate) egress: EgressHooks,
    /// When the current call must end (host-side waits give up then).
    pub(crate) deadline: Option<std::time::Instant>,
}

impl HostState {
    /// State for a new store.
    pub fn new(grants: &Grants, memory: Option<u64>) -> Self {
        let stderr = StderrTail::default();
        HostState {
            wasi: grants.wasi_ctx(&stderr),
            table: ResourceTable::new(),
            limiter: Limiter { memory },
            stderr,
            client: None,
            client_error: None,
            hosts: None,
            http: WasiHttpCtx::new(),
            egress: EgressHooks {
                // Only a store whose linker has wasi:http ever consults it.
                policy: grants.links_http().then(|| grants.egress.clone()).flatten(),
                deadline: None,
            },
            deadline: None,
        }
    }

    /// Sets the deadline of the call about to run (`None`: no deadline).
    pub(crate) fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.deadline = deadline;
        self.egress.deadline = deadline;
    }

    /// The store's resource table.
    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The last bytes a guest wrote to stderr (bounded; older output is dropped).
#[derive(Clone, Default, Debug)]
pub struct StderrTail(Arc<Mutex<Vec<u8>>>);

const TAIL_BYTES: usize = 2048;

impl StderrTail {
    fn push(&self, bytes: &[u8]) {
        let Ok(mut buf) = self.0.lock() else { return };
        buf.extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
        if buf.len() > TAIL_BYTES {
            let cut = buf.len() - TAIL_BYTES;
            buf.drain(..cut);
        }
    }

    /// Takes what was written so far (trimmed), leaving the tail empty.
    pub fn take(&self) -> String {
        let Ok(mut buf) = self.0.lock() else {
            return String::new();
        };
        let s = String::from_utf8_lossy(&buf).trim().to_owned();
        buf.clear();
        s
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for StderrTail {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), wasmtime_wasi::p2::StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), wasmtime_wasi::p2::StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, wasmtime_wasi::p2::StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[&str]) -> Result<Grants, String> {
        Grants::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn refuses_broad_empty_and_unknown_grants_listing_what_is_allowed() {
        for bad in [
            "env",
            "env:",
            "fs",
            "filesystem",
            "fs:ro:",
            "fs:x:/tmp",
            "bogus",
        ] {
            let e = caps(&[bad]).unwrap_err();
            assert!(e.contains("allowed"), "{bad}: {e}");
        }
        assert!(caps(&[
            "args",
            "stdout",
            "stderr",
            "clocks",
            "random",
            "env:PATH",
            "fs:ro:/tmp"
        ])
        .is_ok());
    }

    #[test]
    fn network_tiers_parse_and_the_brokered_and_open_tiers_exclude_each_other() {
        assert_eq!(caps(&[]).unwrap().net, Net::None);
        assert_eq!(
            caps(&["tcp"]).unwrap().net,
            Net::Brokered {
                tcp: true,
                udp: false
            }
        );
        assert_eq!(
            caps(&["udp", "tcp"]).unwrap().net,
            Net::Brokered {
                tcp: true,
                udp: true
            }
        );
        assert_eq!(caps(&["network"]).unwrap().net, Net::Open);
        assert_eq!(caps(&["sockets"]).unwrap().net, Net::Open);
        for both in [&["tcp", "network"][..], &["udp", "sockets"][..]] {
            let e = caps(both).unwrap_err();
            assert!(e.contains("exclusive"), "{e}");
        }
        let http = caps(&["http"]).unwrap();
        assert!(
            http.http && !http.links_http(),
            "http needs a policy as well"
        );
    }

    #[test]
    fn the_stderr_tail_is_bounded() {
        let t = StderrTail::default();
        for _ in 0..100 {
            t.push(&[b'x'; 100]);
        }
        t.push(b"last words");
        let s = t.take();
        assert!(s.len() <= TAIL_BYTES && s.ends_with("last words"));
        assert!(t.take().is_empty());
    }
}
