//! Test helpers for fidius hosts and plugins: build a plugin crate as a real
//! cdylib once per process ([`dylib_fixture`]) and sign it with
//! deterministic keys ([`fixture_keypair`], [`sign_dylib`]).

#![warn(missing_docs)]

use ed25519_dalek::{SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A cdylib fixture to build: see [`dylib_fixture`].
#[derive(Debug, Clone)]
pub struct DylibFixture {
    dir: PathBuf,
    release: bool,
    features: Vec<String>,
    target_dir: Option<PathBuf>,
    target: Option<String>,
}

/// A fixture for the plugin crate in `dir` (a directory with a `Cargo.toml`
/// whose library has `crate-type = ["cdylib", …]`).
pub fn dylib_fixture(dir: impl AsRef<Path>) -> DylibFixture {
    DylibFixture {
        dir: dir.as_ref().to_path_buf(),
        release: false,
        features: Vec::new(),
        target_dir: None,
        target: None,
    }
}

/// The WASM component fixture of the plugin crate in `dir`: built with
/// `cargo build --target wasm32-wasip2` (the output is a component).
pub fn wasm_fixture(dir: impl AsRef<Path>) -> DylibFixture {
    dylib_fixture(dir).wasm()
}

/// Writes a WASM package `<parent>/<name>/` holding a copy of `component`
/// and a `package.toml` with these capabilities; `extra` is appended to the
/// manifest (e.g. a `[wasm.limits]` table). Returns the package directory.
pub fn wasm_package(
    parent: &Path,
    name: &str,
    component: &Path,
    capabilities: &[&str],
    extra: &str,
) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).expect("create package dir");
    std::fs::copy(component, dir.join("plugin.wasm")).expect("copy component");
    let caps: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ninterface = \"test\"\ninterface_version = 1\nruntime = \"wasm\"\n\n[metadata]\n\n[wasm]\ncomponent = \"plugin.wasm\"\ncapabilities = [{}]\n{extra}",
        caps.join(", ")
    );
    std::fs::write(dir.join("package.toml"), manifest).expect("write package.toml");
    dir
}

fn cache() -> &'static Mutex<HashMap<String, PathBuf>> {
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The directory fixtures are built in: `$CARGO_TARGET_DIR/fidius-fixtures`,
/// else `<target dir of the running test binary>/fidius-fixtures`.
pub fn fixture_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("fidius-fixtures");
    }
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test binary>
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .or_else(|| {
            exe.parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("fidius-fixtures")
}

impl DylibFixture {
    /// Builds with `--release`.
    pub fn release(mut self) -> Self {
        self.release = true;
        self
    }

    /// Enables a cargo feature of the fixture crate.
    pub fn feature(mut self, feature: impl Into<String>) -> Self {
        self.features.push(feature.into());
        self
    }

    /// Builds a WASM component (`--target wasm32-wasip2`) instead of a cdylib.
    pub fn wasm(mut self) -> Self {
        self.target = Some("wasm32-wasip2".into());
        self
    }

    /// Builds into this target directory instead of [`fixture_target_dir`].
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// Builds the fixture (once per process) and returns the cdylib's path.
    ///
    /// # Panics
    /// If cargo fails or produces no cdylib; the message carries cargo's output.
    pub fn build(&self) -> PathBuf {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds the fixture (once per process) and returns the cdylib's path.
    pub fn try_build(&self) -> Result<PathBuf, String> {
        let manifest = self.dir.join("Cargo.toml");
        let key = format!(
            "{}|{}|{:?}|{:?}|{:?}",
            manifest.display(),
            self.release,
            self.features,
            self.target_dir,
            self.target
        );
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let target_dir = self.target_dir.clone().unwrap_or_else(fixture_target_dir);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--lib")
            .arg("--message-format=json-render-diagnostics")
            .arg("--target-dir")
            .arg(&target_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.release {
            cmd.arg("--release");
        }
        if let Some(t) = &self.target {
            cmd.arg("--target").arg(t);
        }
        if !self.features.is_empty() {
            cmd.arg("--features").arg(self.features.join(","));
        }
        let out = cmd
            .output()
            .map_err(|e| format!("failed to run cargo: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "building fixture {} failed:\n{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let ext = if self
            .target
            .as_deref()
            .is_some_and(|t| t.starts_with("wasm"))
        {
            "wasm"
        } else {
            std::env::consts::DLL_EXTENSION
        };
        let canonical = std::fs::canonicalize(&manifest).unwrap_or(manifest.clone());
        let mut found = None;
        for line in stdout.lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let is_cdylib = msg["target"]["crate_types"]
                .as_array()
                .is_some_and(|t| t.iter().any(|k| k == "cdylib"));
            let manifest_matches = msg["manifest_path"]
                .as_str()
                .and_then(|m| std::fs::canonicalize(m).ok())
                .is_some_and(|m| m == canonical);
            if !is_cdylib || !manifest_matches {
                continue;
            }
            if let Some(files) = msg["filenames"].as_array() {
                found = files
                    .iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(&format!(".{ext}")))
                    .map(PathBuf::from);
            }
        }
        let path = found.ok_or_else(|| {
            format!(
                "cargo built {} but reported no .{ext} cdylib",
                manifest.display()
            )
        })?;
        cache.insert(key, path.clone());
        Ok(path)
    }
}

/// A deterministic key pair (seed byte 1).
pub fn fixture_keypair() -> (SigningKey, VerifyingKey) {
    fixture_keypair_with_seed(1)
}

/// A deterministic key pair whose 32-byte seed is `seed` repeated.
pub fn fixture_keypair_with_seed(seed: u8) -> (SigningKey, VerifyingKey) {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let vk = sk.verifying_key();
    (sk, vk)
}

/// Signs the library at `path`, writing `<path>.sig`; returns the signature path.
pub fn sign_dylib(path: &Path, key: &SigningKey) -> PathBuf {
    fidius_host::signing::sign_file(path, key)
        .unwrap_or_else(|e| panic!("signing {} failed: {e}", path.display()))
}

/// Copies a built library into `dir` (e.g. a per-test search path) and returns the copy's path.
pub fn copy_into(lib: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create fixture dir");
    let dest = dir.join(lib.file_name().expect("library file name"));
    std::fs::copy(lib, &dest).unwrap_or_else(|e| panic!("copying {} failed: {e}", lib.display()));
    dest
}

/// A temporary plugin directory holding copies of `libs`, and a host over it
/// (no signature requirement). Keep the directory alive while the host is used.
pub fn temp_host(libs: &[&Path]) -> (tempfile::TempDir, fidius_host::PluginHost) {
    let dir = tempfile::tempdir().expect("temp dir");
    for lib in libs {
        copy_into(lib, dir.path());
    }
    let host = fidius_host::PluginHost::builder()
        .search_path(dir.path())
        .build()
        .expect("host");
    (dir, host)
}

/// A harness for composing streams in tests (fidius 0.5 `streaming`
/// feature; like there, not semver-stable).
#[cfg(feature = "streaming")]
pub mod streaming {
    use fidius_core::Value;
    use fidius_host::{CallError, ChunkStream};
    use std::future::{poll_fn, Future};
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    struct Iter(std::vec::IntoIter<Value>);

    impl futures_core::Stream for Iter {
        type Item = Result<Value, CallError>;
        fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next().map(Ok))
        }
    }

    /// A stream that yields `values`.
    pub fn stream_of(values: Vec<Value>) -> ChunkStream {
        ChunkStream::new(Iter(values.into_iter()))
    }

    async fn next(stream: &mut ChunkStream) -> Option<Result<Value, CallError>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *stream), cx)).await
    }

    /// Every item of `stream`, stopping at the first error.
    pub async fn collect(mut stream: ChunkStream) -> Result<Vec<Value>, CallError> {
        let mut out = Vec::new();
        while let Some(item) = next(&mut stream).await {
            out.push(item?);
        }
        Ok(out)
    }

    /// Where [`pump`] delivers items.
    pub trait StreamSink {
        /// Accepts one item.
        fn accept(&self, value: Value) -> impl Future<Output = Result<(), CallError>> + Send;
    }

    /// Feeds every item of `stream` to `sink`, stopping at the first error.
    pub async fn pump(mut stream: ChunkStream, sink: &impl StreamSink) -> Result<(), CallError> {
        while let Some(item) = next(&mut stream).await {
            sink.accept(item?).await?;
        }
        Ok(())
    }

    /// A sink that keeps what it receives.
    #[derive(Debug, Default)]
    pub struct CollectSink(Mutex<Vec<Value>>);

    impl CollectSink {
        /// An empty sink.
        pub fn new() -> Self {
            Self::default()
        }

        /// Takes what it received so far.
        pub fn take(&self) -> Vec<Value> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
        }
    }

    impl StreamSink for CollectSink {
        #[allow(clippy::manual_async_fn)]
        fn accept(&self, value: Value) -> impl Future<Output = Result<(), CallError>> + Send {
            async move {
                self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value);
                Ok(())
            }
        }
    }
}

#[cfg(feature = "streaming")]
pub use streaming::{collect, pump, stream_of, CollectSink, StreamSink};
