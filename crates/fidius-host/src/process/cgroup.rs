//! cgroup v2 for runner children: finding a hierarchy the host may create
//! cgroups in, one leaf cgroup per child (memory cap, kill of the whole tree), and removing it.
//!
//! A leaf is created before the child is forked; the child moves itself
//! into it (`write(cgroup.procs, "0")`) between fork and exec, so no
//! plugin code ever runs outside it. Everything the plugin starts, even a
//! process that left the runner's process group, stays in the leaf, and
//! `cgroup.kill` ends all of it.

use super::CgroupPolicy;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What cgroup v2 does for process-isolated plugins on this machine under
/// [`CgroupPolicy::Auto`] (see [`cgroup_support`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSupport {
    /// The cgroup children get their own cgroups under, if any.
    pub parent: Option<PathBuf>,
    /// Whether `ProcessOptions::max_memory` is enforced by the cgroup's
    /// `memory.max` (resident memory, no swap) instead of `RLIMIT_AS`.
    pub memory: bool,
    /// Whether `cgroup.kill` ends everything a plugin started (Linux 5.14+).
    pub kill: bool,
    /// Why cgroups are not used, or what is missing, in words.
    pub reason: Option<String>,
}

/// What cgroup v2 does for process-isolated plugins on this machine under
/// the default [`CgroupPolicy::Auto`]: detected once per process.
pub fn cgroup_support() -> CgroupSupport {
    match auto() {
        Ok(p) => CgroupSupport {
            parent: Some(p.dir.clone()),
            memory: p.memory,
            kill: p.kill,
            reason: (!p.memory).then(|| {
                format!(
                    "the memory controller is not enabled in {}/cgroup.subtree_control: \
                     memory limits use RLIMIT_AS",
                    p.dir.display()
                )
            }),
        },
        Err(reason) => CgroupSupport {
            parent: None,
            memory: false,
            kill: false,
            reason: Some(reason.clone()),
        },
    }
}

/// A cgroup v2 directory children get leaves under.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    dir: PathBuf,
    /// `memory` is in its `cgroup.subtree_control`.
    memory: bool,
    /// Its leaves have `cgroup.kill`.
    kill: bool,
}

/// The parent for `policy`: `Ok(None)` when cgroups are not to be used.
pub(crate) fn parent_for(policy: &CgroupPolicy) -> Result<Option<Parent>, String> {
    match policy {
        CgroupPolicy::Off => Ok(None),
        CgroupPolicy::Auto => Ok(auto().ok().cloned()),
        CgroupPolicy::Under(dir) => probe(dir).map(Some),
    }
}

fn auto() -> Result<&'static Parent, &'static String> {
    static AUTO: OnceLock<Result<Parent, String>> = OnceLock::new();
    AUTO.get_or_init(|| {
        let found = detect();
        if let Err(reason) = &found {
            tracing::debug!(target: "fidius::process", "no cgroup v2 for plugin children: {reason}");
        }
        found
    })
    .as_ref()
}

/// The host's own cgroup v2 directory, if it can hold child cgroups.
fn detect() -> Result<Parent, String> {
    let cgroups = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = own_path(&cgroups)
        .ok_or("the host is not in a cgroup v2 hierarchy (no `0::` line in /proc/self/cgroup)")?;
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let (root, mount) = cgroup2_mount(&mounts).ok_or("no cgroup2 file system is mounted")?;
    let dir = resolve(&root, &mount, own).ok_or_else(|| {
        format!(
            "the host's cgroup {own} is outside the cgroup2 mount at {}",
            mount.display()
        )
    })?;
    probe(&dir)
}

/// The cgroup v2 path of this process: the `0::` line of `/proc/self/cgroup`.
pub(crate) fn own_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The root and mount point of the first cgroup2 mount in `/proc/self/mountinfo` text.
pub(crate) fn cgroup2_mount(mountinfo: &str) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (fields, rest) = line.split_once(" - ")?;
        if rest.split_whitespace().next() != Some("cgroup2") {
            return None;
        }
        let fields: Vec<&str> = fields.split_whitespace().collect();
        Some((
            unescape(fields.get(3)?),
            PathBuf::from(unescape(fields.get(4)?)),
        ))
    })
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of cgroup `own` in a cgroup2 mount of `root` at `mount`.
pub(crate) fn resolve(root: &str, mount: &Path, own: &str) -> Option<PathBuf> {
    let rel = if root == "/" {
        own
    } else {
        let rest = own.strip_prefix(root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    let rel = rel.trim_start_matches('/');
    Some(if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    })
}

fn has_controller(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|c| c == name)
}

/// Checks that `dir` is a cgroup v2 directory this process can create
/// cgroups in (by creating and removing one), and what they can do.
fn probe(dir: &Path) -> Result<Parent, String> {
    if fs::metadata(dir.join("cgroup.controllers")).is_err() {
        return Err(format!(
            "{} is not a cgroup v2 directory (CgroupPolicy::Under needs a directory of a cgroup2 mount; CgroupPolicy::Auto finds the host's own)",
            dir.display()
        ));
    }
    let subtree = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let test = dir.join(format!("fidius-probe-{}", std::process::id()));
    let _ = fs::remove_dir(&test);
    fs::create_dir(&test).map_err(|e| {
        format!(
            "cannot create cgroups in {}: {e} (delegate a subtree to the host)",
            dir.display()
        )
    })?;
    let kill = test.join("cgroup.kill").exists();
    let memory = has_controller(&subtree, "memory") && test.join("memory.max").exists();
    let _ = fs::remove_dir(&test);
    sweep_once(dir);
    Ok(Parent {
        dir: dir.to_path_buf(),
        memory,
        kill,
    })
}

/// Removes, once per directory and process, the empty leaves that hosts
/// which are gone left behind (a host that exits while a child is still
/// being reaped in the background cannot remove its leaf).
fn sweep_once(dir: &Path) {
    static SWEPT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if swept.iter().any(|d| d == dir) {
            return;
        }
        swept.push(dir.to_path_buf());
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = leaf_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            // Fails (harmlessly) if something still runs in it.
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// The host pid in a leaf's name `fidius-<pid>-<n>` (or a probe's).
pub(crate) fn leaf_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("fidius-")?;
    let rest = rest.strip_prefix("probe-").unwrap_or(rest);
    let pid = rest.split('-').next()?;
    pid.parse().ok()
}

/// The cgroup of one child: created before the fork, joined by the child
/// before exec, removed (with whatever is left in it) when dropped.
pub(crate) struct Leaf {
    dir: PathBuf,
    /// `cgroup.procs` of the leaf, open for the child to write itself into.
    procs: Option<OwnedFd>,
    memory: bool,
    kill: bool,
}

impl Leaf {
    /// A new, empty leaf under `parent`, with `max_memory` as its
    /// `memory.max` (and no swap) when the memory controller is there.
    pub(crate) fn create(parent: &Parent, max_memory: Option<u64>) -> io::Result<Leaf> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = parent.dir.join(format!(
            "fidius-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&dir)?;
        // From here on, dropping `leaf` removes the directory.
        let mut leaf = Leaf {
            dir,
            procs: None,
            memory: false,
            kill: parent.kill,
        };
        if let (Some(bytes), true) = (max_memory, parent.memory) {
            leaf.write("memory.max", &bytes.to_string())?;
            // Swap would let the child exceed the cap unseen; absent
            // without swap accounting, which is fine.
            let _ = leaf.write("memory.swap.max", "0");
            // An OOM kill takes the whole child, never half of it.
            let _ = leaf.write("memory.oom.group", "1");
            leaf.memory = true;
        }
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(leaf.dir.join("cgroup.procs"))?;
        leaf.procs = Some(procs.into());
        Ok(leaf)
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        fs::write(self.dir.join(file), value)
    }

    /// `cgroup.procs` of the leaf, for the child to join it (write `0`)
    /// between fork and exec.
    pub(crate) fn procs_fd(&self) -> RawFd {
        self.procs.as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// Whether the leaf enforces the memory limit (so `RLIMIT_AS` is not needed).
    pub(crate) fn limits_memory(&self) -> bool {
        self.memory
    }

    /// Kills every process in the leaf (the child and all it started).
    pub(crate) fn kill(&self) {
        if self.kill {
            let _ = self.write("cgroup.kill", "1");
        }
    }

    /// Whether the kernel's OOM killer killed a process of the leaf.
    pub(crate) fn oom_killed(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.events"))
            .map(|events| oom_kills(&events) > 0)
            .unwrap_or(false)
    }
}

/// Removes a leaf directory, killing what is left in it first (through
/// `cgroup.kill` when `kill`); waits up to `wait` for the processes to go.
fn remove_leaf(dir: &Path, kill: bool, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    loop {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return true;
        }
        let populated = fs::read_to_string(dir.join("cgroup.events"))
            .map(|e| e.lines().any(|l| l.trim() == "populated 1"))
            .unwrap_or(false);
        if populated && kill {
            let _ = fs::write(dir.join("cgroup.kill"), "1");
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The `oom_kill` count of `memory.events` text.
pub(crate) fn oom_kills(events: &str) -> u64 {
    events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

impl Drop for Leaf {
    fn drop(&mut self) {
        self.procs = None;
        if remove_leaf(&self.dir, self.kill, Duration::from_millis(100)) {
            return;
        }
        // Something in it is slow to die: keep trying in the background.
        let (dir, kill) = (std::mem::take(&mut self.dir), self.kill);
        let spawned = std::thread::Builder::new()
            .name("fidius-cgroup".into())
            .spawn(move || {
                if !remove_leaf(&dir, kill, Duration::from_secs(10)) {
                    tracing::warn!(
                        target: "fidius::process",
                        "could not remove the plugin cgroup {}",
                        dir.display()
                    );
                }
            });
        if spawned.is_err() {
            tracing::warn!(target: "fidius::process", "could not start a thread to remove a plugin cgroup");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_path_is_the_v2_line() {
        let text = "12:memory:/user/x\n1:name=systemd:/init.scope\n0::/user.slice/app.scope\n";
        assert_eq!(own_path(text), Some("/user.slice/app.scope"));
        assert_eq!(own_path("4:memory:/a\n"), None);
    }

    #[test]
    fn the_cgroup2_mount_is_found_with_its_root() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 /ns\\040root /sys/fs/cgroup/uni\\040fied rw,relatime shared:9 - cgroup2 cgroup2 rw
";
        let (root, mount) = cgroup2_mount(text).unwrap();
        assert_eq!(root, "/ns root");
        assert_eq!(mount, PathBuf::from("/sys/fs/cgroup/uni fied"));
        assert_eq!(
            cgroup2_mount("35 31 0:32 / /m rw - cgroup cgroup rw,memory\n"),
            None
        );
    }

    #[test]
    fn a_cgroup_path_resolves_inside_its_mount() {
        let m = Path::new("/sys/fs/cgroup");
        assert_eq!(resolve("/", m, "/"), Some(m.to_path_buf()));
        assert_eq!(resolve("/", m, "/a/b"), Some(m.join("a/b")));
        assert_eq!(resolve("/a", m, "/a/b"), Some(m.join("b")));
        assert_eq!(resolve("/a", m, "/a"), Some(m.to_path_buf()));
        assert_eq!(resolve("/a", m, "/ab"), None);
        assert_eq!(resolve("/a", m, "/c"), None);
    }

    #[test]
    fn leaf_names_say_which_host_made_them() {
        assert_eq!(leaf_owner("fidius-123-4"), Some(123));
        assert_eq!(leaf_owner("fidius-probe-77"), Some(77));
        assert_eq!(leaf_owner("fidius-x-1"), None);
        assert_eq!(leaf_owner("system.slice"), None);
    }

    #[test]
    fn oom_kills_are_read_from_memory_events() {
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills("low 0\noom 0\noom_kill 0\noom_group_kill 0\n"), 0);
        assert_eq!(oom_kills(""), 0);
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = probe(dir.path()).unwrap_err();
        assert!(e.contains("is not a cgroup v2 directory"), "{e}");
    }
}
