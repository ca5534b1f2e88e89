//! Build-and-cache helpers for plugin fixtures: a plugin crate is built with
//! cargo once per process, and its library is placed in a directory of its own.
//!
//! [`dylib_fixture`] keeps fidius 0.5's shape (`with_release`, `signed_with`,
//! `build()` returning a [`DylibFixture`] with `dir()` and `dylib_path()`);
//! the other builder methods are ours. The built fixture also dereferences to
//! the library's [`Path`], so `&fixture` works wherever a path is expected.

use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Builder of a plugin fixture: see [`dylib_fixture`].
#[derive(Debug, Clone)]
pub struct DylibFixtureBuilder {
    dir: PathBuf,
    release: bool,
    features: Vec<String>,
    target_dir: Option<PathBuf>,
    target: Option<String>,
    signer: Option<SigningKey>,
}

/// A built plugin: its library, alone in a directory that can serve as a
/// host's search path (with its `.sig` beside it when it was signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DylibFixture {
    dir: PathBuf,
    path: PathBuf,
}

impl DylibFixture {
    /// The directory holding the library (and nothing else but its
    /// signature): a search path for `PluginHost`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The library (`.so` / `.dylib` / `.dll`, or `.wasm` for components).
    pub fn dylib_path(&self) -> &Path {
        &self.path
    }

    /// The library's path, owned.
    pub fn into_path(self) -> PathBuf {
        self.path
    }
}

impl Deref for DylibFixture {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for DylibFixture {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl From<DylibFixture> for PathBuf {
    fn from(f: DylibFixture) -> PathBuf {
        f.path
    }
}

/// A fixture for the plugin crate in `plugin_dir` (a directory with a
/// `Cargo.toml` whose library has `crate-type = ["cdylib", …]`).
pub fn dylib_fixture(plugin_dir: impl Into<PathBuf>) -> DylibFixtureBuilder {
    DylibFixtureBuilder {
        dir: plugin_dir.into(),
        release: false,
        features: Vec::new(),
        target_dir: None,
        target: None,
        signer: None,
    }
}

/// The WASM component fixture of the plugin crate in `plugin_dir`: built
/// with `cargo build --target wasm32-wasip2` (the output is a component).
pub fn wasm_fixture(plugin_dir: impl Into<PathBuf>) -> DylibFixtureBuilder {
    dylib_fixture(plugin_dir).wasm()
}

fn cache() -> &'static Mutex<HashMap<String, DylibFixture>> {
    static CACHE: OnceLock<Mutex<HashMap<String, DylibFixture>>> = OnceLock::new();
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

impl DylibFixtureBuilder {
    /// Builds with `--release` when `release` is true (fidius 0.5 name).
    pub fn with_release(mut self, release: bool) -> Self {
        self.release = release;
        self
    }

    /// Builds with `--release`.
    pub fn release(self) -> Self {
        self.with_release(true)
    }

    /// Signs the built library with `key` (`<library>.sig` beside it).
    pub fn signed_with(mut self, key: &SigningKey) -> Self {
        self.signer = Some(key.clone());
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

    /// Builds the fixture (once per process).
    ///
    /// # Panics
    /// If cargo fails or produces no library; the message carries cargo's output.
    pub fn build(&self) -> DylibFixture {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(&self) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}",
            self.dir.join("Cargo.toml").display(),
            self.release,
            self.features,
            self.target_dir,
            self.target,
            self.signer.as_ref().map(|k| k.verifying_key().to_bytes()),
        )
    }

    /// Builds the fixture (once per process), reporting failures as text.
    pub fn try_build(&self) -> Result<DylibFixture, String> {
        let key = self.key();
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = cache.get(&key) {
            return Ok(f.clone());
        }
        let target_dir = self.target_dir.clone().unwrap_or_else(fixture_target_dir);
        let built = self.cargo_build(&target_dir)?;
        let fixture = place(&built, &target_dir, &key)?;
        if let Some(sk) = &self.signer {
            crate::signing::sign_dylib(&fixture.path, sk)
                .map_err(|e| format!("signing {} failed: {e}", fixture.path.display()))?;
        }
        cache.insert(key, fixture.clone());
        Ok(fixture)
    }

    fn cargo_build(&self, target_dir: &Path) -> Result<PathBuf, String> {
        let manifest = self.dir.join("Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--lib")
            .arg("--message-format=json-render-diagnostics")
            .arg("--target-dir")
            .arg(target_dir)
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
        for line in String::from_utf8_lossy(&out.stdout).lines() {
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
        found.ok_or_else(|| {
            format!(
                "cargo built {} but reported no .{ext} cdylib",
                manifest.display()
            )
        })
    }
}

/// Copies the built library into a directory of its own (one per build
/// configuration), so the directory can be a search path that holds
/// nothing else. The copy is replaced atomically and only when it differs.
fn place(built: &Path, target_dir: &Path, key: &str) -> Result<DylibFixture, String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let stem = built
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = target_dir
        .join("fixture-dirs")
        .join(format!("{stem}-{:016x}", h.finish()));
    let name = built.file_name().ok_or("library without a file name")?;
    let dest = dir.join(name);
    let bytes = std::fs::read(built).map_err(|e| format!("reading {}: {e}", built.display()))?;
    if std::fs::read(&dest).ok().as_deref() != Some(&bytes[..]) {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, &bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &dest).map_err(|e| format!("placing {}: {e}", dest.display()))?;
    }
    Ok(DylibFixture { dir, path: dest })
}
