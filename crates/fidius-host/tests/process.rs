//! The process tier end to end: real fixture plugins (tests/unruly-plugin)
//! that hang, spin, crash, exit, overflow their stack, eat memory and flood
//! their output, run in runner children behind the ordinary typed client.
#![cfg(target_os = "linux")]

use fidius_host::process::{CgroupPolicy, Isolation, ProcessDeath, ProcessOptions, RestartPolicy};
use fidius_host::{CallError, LoadError, PluginHost};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use unruly_plugin::*;

/// The tests share the machine's two cores and count descriptors and
/// children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn fixture() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/unruly-plugin"),
    )
    .build()
    .into_path()
}

fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fidius_test::copy_into(&fixture(), dir.path());
    dir
}

fn runner() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fidius-runner"))
}

fn host_with(dir: &Path, opts: ProcessOptions) -> PluginHost {
    PluginHost::builder()
        .search_path(dir)
        .isolation(Isolation::Process)
        .process_options(opts.runner(runner()))
        .build()
        .unwrap()
}

fn wild(host: &PluginHost) -> UnrulyClient {
    UnrulyClient::load(host, "Wild").unwrap()
}

/// Whether process `pid` is gone (exited and reaped: no zombie left).
fn gone(pid: u32) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (up to 5 s) for the descriptor count to come back to `before`:
/// drain and reaper threads close theirs as children finish.
fn fds_settle_at(before: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds();
        if now <= before || Instant::now() > end {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_calls_an_isolated_plugin_in_another_process() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(dir.path(), ProcessOptions::default());
    let c = wild(&host);
    assert_eq!(c.add(&40, &2).unwrap(), 42);
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.echo(&big).unwrap(), big);
    let pid = c.pid().unwrap();
    assert_ne!(pid, std::process::id());
    assert_eq!(c.handle().process_id(), Some(pid));
    assert_eq!(c.handle().info().name, "Wild");
    assert_eq!(
        c.handle().info().interface_hash,
        UnrulyClient::INTERFACE_HASH
    );
    assert_eq!(
        c.handle().method_kind(0),
        Some(fidius_core::MethodKind::Unary)
    );
    match c.fail("NOPE") {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "NOPE"),
        other => panic!("{other:?}"),
    }
    match c.panic() {
        Err(CallError::Panic(m)) => assert!(m.contains("unruly plugin panicked"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Errors the plugin returns or panics it throws leave the child serving.
    assert_eq!(c.pid().unwrap(), pid);
    let handle = c.into_handle();
    drop(handle);
    assert!(gone(pid), "the child outlived its handle");
}

#[test]
fn a_call_past_its_deadline_is_stopped_and_the_next_call_gets_a_fresh_child() {
    let _s = serial();
    let dir = plugin_dir();
    let deadline = Duration::from_millis(200);
    let host = host_with(dir.path(), ProcessOptions::default().deadline(deadline));
    let c = wild(&host);
    let first = c.pid().unwrap();
    let t = Instant::now();
    match c.sleep_ms(&60_000) {
        Err(CallError::Timeout { deadline: d }) => assert_eq!(d, deadline),
        other => panic!("{other:?}"),
    }
    let took = t.elapsed();
    // The bound is deadline + 50 ms (measured in benches/process.rs);
    // this only proves the call did not wait for the plugin.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(gone(first), "the runaway child was not killed");
    let second = c.pid().unwrap();
    assert_ne!(first, second);
    assert_eq!(c.sleep_ms(&1).unwrap(), 1);
    // A per-call deadline replaces the handle's.
    let r = fidius_host::with_deadline(Duration::from_millis(50), || c.sleep_ms(&150));
    assert!(
        matches!(r, Err(CallError::Timeout { deadline }) if deadline == Duration::from_millis(50)),
        "{r:?}"
    );
    // And per handle.
    c.handle()
        .set_limits(fidius_host::CallLimits {
            deadline: Some(Duration::from_secs(10)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(c.sleep_ms(&300).unwrap(), 300);
    assert!(c
        .handle()
        .set_limits(fidius_host::CallLimits {
            fuel: Some(1),
            ..Default::default()
        })
        .is_err());
}

#[test]
fn a_cancel_handle_stops_a_call_from_another_thread() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(dir.path(), ProcessOptions::default());
    let c = wild(&host);
    let pid = c.pid().unwrap();
    let cancel = c
        .handle()
        .cancel_handle()
        .expect("the process tier can cancel");
    // Cancelling with no call in flight does nothing.
    cancel.cancel();
    assert_eq!(c.pid().unwrap(), pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = std::sync::Arc::clone(&done);
    // Keep cancelling until the call has returned (it may start late on a busy machine).
    let t = std::thread::spawn(move || {
        while !finished.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
        }
    });
    let r = c.sleep_ms(&60_000);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    t.join().unwrap();
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    assert!(gone(pid));
    assert_eq!(c.add(&1, &2).unwrap(), 3);
}

fn died(r: Result<u64, CallError>) -> ProcessDeath {
    match r {
        Err(CallError::ProcessDied { death, .. }) => death,
        other => panic!("expected a dead child, got {other:?}"),
    }
}

#[test]
fn crashes_are_typed_errors_and_the_host_keeps_serving() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(dir.path(), ProcessOptions::default());
    let c = wild(&host);
    assert_eq!(
        died(c.segfault()),
        ProcessDeath::Signal {
            signal: libc_sig::SIGSEGV,
            name: "SIGSEGV"
        }
    );
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    assert_eq!(
        died(c.abort()),
        ProcessDeath::Signal {
            signal: libc_sig::SIGABRT,
            name: "SIGABRT"
        }
    );
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    assert_eq!(died(c.exit(&3)), ProcessDeath::Exited { code: 3 });
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    // The dedicated runner installs Rust's stack-overflow handler, which names it.
    match c.overflow(&0) {
        Err(CallError::ProcessDied { death, stderr }) => {
            assert_eq!(death, ProcessDeath::StackOverflow, "{stderr}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.add(&2, &2).unwrap(), 4);
}

/// Signal numbers of Linux (x86-64 and aarch64 agree on these).
mod libc_sig {
    pub const SIGABRT: i32 = 6;
    pub const SIGSEGV: i32 = 11;
}

#[test]
fn restarts_back_off_and_stop_at_the_limit() {
    let _s = serial();
    let dir = plugin_dir();
    let policy = RestartPolicy {
        max_failures: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
    };
    assert_eq!(policy.backoff(1), Duration::ZERO);
    assert_eq!(policy.backoff(2), Duration::from_millis(20));
    assert_eq!(policy.backoff(3), Duration::from_millis(40));
    assert_eq!(policy.backoff(30), Duration::from_millis(40));
    let host = host_with(dir.path(), ProcessOptions::default().restart(policy));
    let c = wild(&host);
    // A success resets the count.
    died(c.abort());
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    for _ in 0..3 {
        died(c.abort());
    }
    match c.add(&1, &1) {
        Err(CallError::RestartLimitReached { failures: 3 }) => {}
        other => panic!("{other:?}"),
    }
    let msg = c.add(&1, &1).unwrap_err().to_string();
    assert!(msg.contains("not restarted again"), "{msg}");
    // A new load starts over.
    assert_eq!(wild(&host).add(&1, &1).unwrap(), 2);
}

#[test]
fn a_configured_plugin_is_configured_again_after_a_restart() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(dir.path(), ProcessOptions::default());
    let c = CounterClient::load_configured(&host, "Tally", &TallyConfig { start: 10 }).unwrap();
    assert_eq!(c.next().unwrap(), 10);
    assert_eq!(c.next().unwrap(), 11);
    assert!(matches!(c.crash(), Err(CallError::ProcessDied { .. })));
    assert_eq!(c.next().unwrap(), 10);
    // Explicit loads, with a config that does not decode.
    let h = host
        .load_isolated_configured("Tally", &TallyConfig { start: 7 })
        .unwrap();
    assert_eq!(h.call_method::<_, u64>(0, &()).unwrap(), 7);
    match host.load_isolated_configured("Tally", &()) {
        Err(LoadError::ConstructFailed { plugin, .. }) => assert_eq!(plugin, "Tally"),
        other => panic!("{other:?}"),
    }
    // A constructor that panics is a typed construct failure with its message;
    // one that aborts the process (which in process would take the host
    // with it) is a typed load error naming the signal.
    match host.load_isolated_configured(
        "Tally",
        &TallyConfig {
            start: u64::MAX - 1,
        },
    ) {
        Err(LoadError::ConstructFailed { reason, .. }) => {
            assert!(
                reason.contains("the Tally constructor panicked"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    match host.load_isolated_configured("Tally", &TallyConfig { start: u64::MAX }) {
        Err(e) => assert!(e.to_string().contains("SIGABRT"), "{e}"),
        Ok(_) => panic!("an aborting constructor loaded"),
    }
    assert_eq!(c.next().unwrap(), 11, "the host kept serving");
}

#[test]
fn memory_and_cpu_limits_are_typed_errors() {
    let _s = serial();
    let dir = plugin_dir();
    let limit = 256 << 20;
    let host = host_with(dir.path(), ProcessOptions::default().max_memory(limit));
    let c = wild(&host);
    // The leak grows until the cap stops it.
    assert_eq!(c.allocate_mb(&16).unwrap(), 16);
    match c.allocate_mb(&1024) {
        Err(CallError::MemoryLimitExceeded { limit: l }) => assert_eq!(l, limit),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.allocate_mb(&16).unwrap(),
        16,
        "a fresh child after the kill"
    );

    let host = host_with(
        dir.path(),
        ProcessOptions::default().cpu_time(Duration::from_secs(1)),
    );
    let c = wild(&host);
    match c.spin() {
        Err(CallError::CpuTimeExceeded { limit }) => assert_eq!(limit, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.add(&1, &2).unwrap(), 3);
}

/// Whether process `pid` is running (not gone, and not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) S ...`: the state follows the last parenthesis.
        stat.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

/// Waits (up to 5 s) for process `pid` to end (gone, or a zombie).
fn ended(pid: u32) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits (up to 5 s) for `path` to be removed.
fn vanishes(path: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while path.exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The cgroup v2 path of process `pid`.
fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_owned()
}

fn kill_now(pid: u32) {
    // SAFETY: kill(2) takes a pid and a signal; `pid` is a process this test started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

#[test]
fn a_childs_cgroup_ends_everything_the_plugin_started() {
    let _s = serial();
    let dir = plugin_dir();
    let opts = ProcessOptions::default().deadline(Duration::from_millis(300));

    // Without a cgroup, a process that left the child's process group
    // survives the child's kill.
    let host = host_with(dir.path(), opts.clone().cgroup(CgroupPolicy::Off));
    let c = wild(&host);
    let escaped = c.escape().unwrap();
    assert!(matches!(
        c.sleep_ms(&10_000),
        Err(CallError::Timeout { .. })
    ));
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(escaped), "the escaped process died without a cgroup");
    kill_now(escaped);
    drop(c);

    let support = fidius_host::process::cgroup_support();
    let Some(parent) = support.parent.clone() else {
        // Nothing more to check on a machine that gives the host no cgroup v2.
        eprintln!("no cgroup v2 for plugin children here: {support:?}");
        return;
    };
    assert!(support.kill, "{support:?}");
    let host = host_with(dir.path(), opts.clone());
    let c = wild(&host);
    let pid = c.pid().unwrap();
    let escaped = c.escape().unwrap();
    let path = cgroup_of(pid);
    let leaf = path.rsplit('/').next().unwrap().to_owned();
    assert!(
        leaf.starts_with(&format!("fidius-{}-", std::process::id())),
        "the child is in {path}"
    );
    assert_eq!(
        cgroup_of(escaped),
        path,
        "the escaped process left the cgroup"
    );
    let leaf_dir = parent.join(&leaf);
    let procs = std::fs::read_to_string(leaf_dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    // The runaway call's kill ends the escaped process with the child...
    assert!(matches!(
        c.sleep_ms(&10_000),
        Err(CallError::Timeout { .. })
    ));
    assert!(
        ended(escaped),
        "the escaped process outlived its child's cgroup"
    );
    // ...and the cgroup goes once the child is reaped.
    assert!(
        vanishes(&leaf_dir),
        "{} was not removed",
        leaf_dir.display()
    );
    // The fresh child has a fresh cgroup, removed when the handle is dropped.
    let pid = c.pid().unwrap();
    let second = parent.join(cgroup_of(pid).rsplit('/').next().unwrap());
    assert_ne!(second, leaf_dir);
    assert!(second.exists());
    let escaped = c.escape().unwrap();
    drop(c);
    assert!(ended(escaped), "the escaped process outlived the handle");
    assert!(vanishes(&second), "{} was not removed", second.display());
}

#[test]
fn a_cgroup_directory_that_cannot_hold_children_is_a_typed_load_error() {
    let _s = serial();
    let dir = plugin_dir();
    let not_a_cgroup = tempfile::tempdir().unwrap();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().cgroup(CgroupPolicy::Under(not_a_cgroup.path().into())),
    );
    match UnrulyClient::load(&host, "Wild") {
        Err(LoadError::ProcessStart(m)) => {
            assert!(m.contains("is not a cgroup v2 directory"), "{m}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn a_plugin_flooding_its_output_does_not_block_the_host() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().deadline(Duration::from_secs(60)),
    );
    let c = wild(&host);
    assert_eq!(c.flood(&64).unwrap(), 64);
    assert_eq!(c.add(&1, &2).unwrap(), 3);
    // A dead child's error ends with what it wrote to stderr last (output
    // is collected asynchronously, so the earlier flood's tail may precede it).
    c.flood(&1).unwrap();
    match c.abort() {
        Err(CallError::ProcessDied { stderr, .. }) => {
            assert!(stderr.len() <= 8 << 10, "{}", stderr.len());
            assert!(
                stderr.ends_with("unruly: aborting"),
                "{}",
                &stderr[stderr.len().saturating_sub(80)..]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_executable_linking_fidius_host_is_its_own_runner() {
    let _s = serial();
    let dir = plugin_dir();
    let host = PluginHost::builder()
        .search_path(dir.path())
        .isolate("Wild")
        .process_options(ProcessOptions::default().runner(std::env::current_exe().unwrap()))
        .build()
        .unwrap();
    assert!(host.isolation_for("Wild").is_some());
    assert!(host.isolation_for("Tally").is_none());
    let c = wild(&host);
    assert_eq!(c.add(&20, &22).unwrap(), 42);
    let pid = c.pid().unwrap();
    assert_ne!(pid, std::process::id());
    assert!(matches!(
        died(c.segfault()),
        ProcessDeath::Signal { .. } | ProcessDeath::StackOverflow
    ));
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    // Tally is not isolated: it loads in process.
    let t = CounterClient::load_configured(&host, "Tally", &TallyConfig { start: 1 }).unwrap();
    assert_eq!(t.handle().process_id(), None);
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    // The host names the channel's descriptor in the environment.
    std::fs::write(
        &p,
        format!("#!/bin/bash\nexec 3>&\"$FIDIUS_RUNNER_CHANNEL\"\n{body}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn start_error(dir: &Path, runner: PathBuf) -> String {
    start_error_within(dir, runner, Duration::from_secs(5))
}

fn start_error_within(dir: &Path, runner: PathBuf, handshake: Duration) -> String {
    let host = PluginHost::builder()
        .search_path(dir)
        .process_options(
            ProcessOptions::default()
                .runner(runner)
                .handshake_timeout(handshake),
        )
        .build()
        .unwrap();
    match host.load_isolated("Wild") {
        Err(LoadError::ProcessStart(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_runners_are_typed_load_errors() {
    let _s = serial();
    let dir = plugin_dir();
    let bin = tempfile::tempdir().unwrap();
    let before = open_fds();
    let m = start_error(dir.path(), bin.path().join("no-such-runner"));
    assert!(m.contains("missing"), "{m}");
    let plain = bin.path().join("plain");
    std::fs::write(&plain, "not a program").unwrap();
    let m = start_error(dir.path(), plain);
    assert!(m.contains("not an executable"), "{m}");
    let m = start_error_within(
        dir.path(),
        script(bin.path(), "silent", "sleep 30"),
        Duration::from_millis(300),
    );
    assert!(m.contains("did not answer the handshake"), "{m}");
    let m = start_error(
        dir.path(),
        script(
            bin.path(),
            "garbage",
            "printf '\\377\\377\\377\\377garbage' >&3; sleep 30",
        ),
    );
    assert!(m.contains("broke the handshake"), "{m}");
    let m = start_error(
        dir.path(),
        script(
            bin.path(),
            "truncated",
            "printf '\\020\\001\\001\\001abc' >&3; timeout 0.1 cat <&3 >/dev/null",
        ),
    );
    assert!(m.contains("middle of a frame"), "{m}");
    let m = start_error(
        dir.path(),
        script(bin.path(), "dies", "echo 'runner is broken' >&2; exit 9"),
    );
    assert!(
        m.contains("exited with status 9") && m.contains("runner is broken"),
        "{m}"
    );
    // Every child was reaped and no descriptor was left behind.
    assert_eq!(fds_settle_at(before), before);
}

#[test]
fn load_cycles_leak_no_descriptors_and_leave_no_children() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().deadline(Duration::from_millis(100)),
    );
    // Warm up lazily created process-wide state (spawner thread, caches).
    drop(wild(&host));
    std::thread::sleep(Duration::from_millis(100));
    let before = open_fds();
    let mut pids = Vec::new();
    // Bookkeeping calls get a generous deadline of their own.
    let pid =
        |c: &UnrulyClient| fidius_host::with_deadline(Duration::from_secs(20), || c.pid()).unwrap();
    for _ in 0..5 {
        let c = wild(&host);
        pids.push(pid(&c));
        let _ = c.abort();
        pids.push(pid(&c));
        let _ = c.sleep_ms(&10_000);
        pids.push(pid(&c));
    }
    for pid in pids {
        assert!(gone(pid), "child {pid} is still there (or a zombie)");
    }
    assert_eq!(fds_settle_at(before), before);
}

#[test]
fn the_search_skips_libraries_that_do_not_hold_the_plugin() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(dir.path(), ProcessOptions::default());
    // discover() lists through a runner child: no plugin code runs here.
    let before = open_fds();
    let mut names: Vec<String> = host
        .discover()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    names.sort();
    assert_eq!(names, ["Tally", "Wild"]);
    assert_eq!(fds_settle_at(before), before);
    match host.load_isolated("NoSuchPlugin") {
        Err(LoadError::PluginNotFound { name }) => assert_eq!(name, "NoSuchPlugin"),
        other => panic!("{other:?}"),
    }
    // A client of another interface refuses the plugin.
    match CounterClient::load(&host, "Wild") {
        Err(LoadError::InterfaceHashMismatch { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_deadline_covers_the_restart_backoff() {
    let _s = serial();
    let dir = plugin_dir();
    let policy = RestartPolicy {
        max_failures: 10,
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
    };
    let host = host_with(dir.path(), ProcessOptions::default().restart(policy));
    let c = wild(&host);
    died(c.abort());
    // The first restart is immediate...
    died(c.abort());
    // ...the second waits 30 s, which a 100 ms call deadline does not.
    let t = Instant::now();
    let r = fidius_host::with_deadline(Duration::from_millis(100), || c.add(&1, &2));
    assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    // And a cancel stops the wait too.
    let cancel = c.handle().cancel_handle().unwrap();
    let stopper = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
        }
    });
    let r = c.add(&1, &2);
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    stopper.join().unwrap();
}

#[test]
fn server_streams_cross_the_process_boundary() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().deadline(Duration::from_millis(500)),
    );
    let c = wild(&host);
    let items: Vec<u64> = c.count(&5, "").unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(items, [0, 1, 2, 3, 4]);
    // A mid-stream error is one typed item and ends the stream.
    let got: Vec<_> = c.count(&2, "HALF").unwrap().collect();
    assert_eq!(got.len(), 3);
    assert!(
        matches!(&got[2], Err(CallError::Plugin(e)) if e.code == "HALF"),
        "{got:?}"
    );
    // Calls and pulls interleave on one child.
    let mut a = c.count(&3, "").unwrap();
    let mut b = c.count(&3, "").unwrap();
    assert_eq!(a.next().unwrap().unwrap(), 0);
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    assert_eq!(b.next().unwrap().unwrap(), 0);
    assert_eq!(a.next().unwrap().unwrap(), 1);
    drop((a, b));
    // Dropping the consumer drops the producer in the child.
    let marker = dir.path().join("dropped");
    let mut w = c.watched(&marker.display().to_string()).unwrap();
    assert_eq!(w.next().unwrap().unwrap(), 0);
    assert_eq!(w.next().unwrap().unwrap(), 1);
    drop(w);
    assert_eq!(c.add(&2, &2).unwrap(), 4); // the close is processed before this call
    assert!(marker.exists(), "the producer's destructor did not run");
    // A crash mid-stream is a typed error, and the next call gets a fresh
    // child. Items the producer had queued ahead of the host die with the
    // process: what arrives is a prefix of the stream, then the error.
    // (The producer runs ahead from the start, so the child may die before
    // the stream's opening is even answered: that is the same typed error.)
    let got: Vec<_> = match c.count_then_abort(&2) {
        Ok(s) => s.collect(),
        Err(e) => vec![Err(e)],
    };
    let (last, items) = got.split_last().expect("at least the error");
    assert!(
        matches!(last, Err(CallError::ProcessDied { .. })),
        "{got:?}"
    );
    let items: Vec<u64> = items.iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(items, (0..items.len() as u64).collect::<Vec<_>>());
    assert!(items.len() <= 2);
    assert_eq!(c.add(&1, &2).unwrap(), 3);
    // A pull that stalls is stopped by the deadline; a stream of a dead child ends.
    let mut s = c.stall().unwrap();
    let mut other = c.count(&3, "").unwrap();
    assert_eq!(s.next().unwrap().unwrap(), 0);
    assert!(matches!(s.next(), Some(Err(CallError::Timeout { .. }))));
    assert!(s.next().is_none());
    assert!(matches!(other.next(), Some(Err(CallError::StreamAborted))));
    assert_eq!(c.add(&1, &1).unwrap(), 2);
}

#[test]
fn client_streams_cross_the_process_boundary() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().deadline(Duration::from_secs(20)),
    );
    let c = wild(&host);
    assert_eq!(c.weigh(&100, 0..10u64, &u64::MAX).unwrap(), (10, 145));
    // Pull-based: the plugin stops at 9, so an endless host iterator is fine,
    // and the host produced only what the plugin asked for.
    let produced = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = std::sync::Arc::clone(&produced);
    let items = (0u64..).inspect(move |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(c.weigh(&0, items, &9).unwrap(), (9, 36));
    assert_eq!(produced.load(std::sync::atomic::Ordering::SeqCst), 10);
    // An empty stream, and a call right after on the same child.
    assert_eq!(c.weigh(&5, Vec::<u64>::new(), &0).unwrap(), (0, 5));
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    // A deadline stops a client-streaming call whose host items never come.
    let slow = (0u64..).inspect(|_| std::thread::sleep(Duration::from_millis(300)));
    let r = fidius_host::with_deadline(Duration::from_millis(100), || c.weigh(&0, slow, &5));
    assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
    assert_eq!(c.weigh(&1, 1..=3u64, &0).unwrap(), (3, 7));
}

#[test]
fn a_child_that_breaks_the_protocol_mid_call_is_a_typed_error() {
    let _s = serial();
    let dir = plugin_dir();
    for (fault, expect) in [
        ("wrong-id", "arrived for request"),
        ("garbage", "undecodable"),
        ("truncated", "middle of a frame"),
    ] {
        let host = host_with(
            dir.path(),
            ProcessOptions::default()
                .env("FIDIUS_RUNNER_FAULT", fault)
                .deadline(Duration::from_secs(20)),
        );
        let c = wild(&host);
        let pid = c.handle().process_id().unwrap();
        match c.add(&1, &2) {
            Err(CallError::ProcessProtocol(m)) => assert!(m.contains(expect), "{fault}: {m}"),
            other => panic!("{fault}: {other:?}"),
        }
        // The broken child is gone (killed and reaped), and the next call gets
        // a fresh one (which breaks the protocol again, as configured).
        assert!(gone(pid), "{fault}: child {pid} left behind");
        assert!(matches!(c.add(&1, &2), Err(CallError::ProcessProtocol(_))));
    }
}

#[test]
fn bidirectional_streams_cross_the_process_boundary() {
    let _s = serial();
    let dir = plugin_dir();
    let host = host_with(
        dir.path(),
        ProcessOptions::default().deadline(Duration::from_secs(20)),
    );
    let c = wild(&host);
    let got: Vec<u64> = c
        .relay("", 1..=5u64, &10, &u64::MAX)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(got, [10, 20, 30, 40, 50]);
    // Pull-based over an endless input: the host produces only what the
    // child's producer asked for (its read-ahead is bounded).
    let produced = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = std::sync::Arc::clone(&produced);
    let endless = (0u64..).inspect(move |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let marker = dir.path().join("relay-dropped");
    let mut s = c
        .relay(&marker.display().to_string(), endless, &3, &u64::MAX)
        .unwrap();
    let first: Vec<u64> = s.by_ref().take(1000).map(|r| r.unwrap()).collect();
    assert_eq!(first, (0..1000u64).map(|v| v * 3).collect::<Vec<_>>());
    let asked = produced.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1000..=1000 + 130).contains(&asked),
        "the host produced {asked} items for 1000 outputs"
    );
    // Calls interleave with an open bidirectional stream on one child.
    assert_eq!(c.add(&2, &3).unwrap(), 5);
    assert_eq!(s.next().unwrap().unwrap(), 3000);
    // Dropping the consumer drops the producer (and its input) in the child.
    drop(s);
    assert_eq!(c.add(&2, &2).unwrap(), 4);
    assert!(
        marker.exists(),
        "the bidirectional producer's destructor did not run"
    );
    // A mid-stream error is one typed item that ends the stream.
    let got: Vec<_> = c.relay("", 1..10u64, &1, &3).unwrap().collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        matches!(&got[2], Err(CallError::Plugin(e)) if e.code == "RELAY"),
        "{got:?}"
    );
    // (A host input that stalls is the host's own wait: the client-stream
    // test covers deadlines while the host feeds a plugin.)
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    // A crash mid-stream is a typed error.
    let mut s = c.relay("", 1..=3u64, &1, &u64::MAX).unwrap();
    assert_eq!(s.next().unwrap().unwrap(), 1);
    let pid = c.handle().process_id().unwrap();
    // SAFETY: signalling the plugin's child process, which this test owns.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let rest: Vec<_> = s.collect();
    assert!(
        rest.iter().any(|x| matches!(
            x,
            Err(CallError::ProcessDied { .. } | CallError::StreamAborted)
        )) || rest.iter().all(|x| x.is_ok()),
        "{rest:?}"
    );
    assert_eq!(c.add(&1, &2).unwrap(), 3);
}

mod host_functions {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, OnceLock};
    use test_plugin_smoke::{DeferrableClient, TestHost, TestHostBinding};

    fn smoke_dir() -> tempfile::TempDir {
        let lib = fidius_test::dylib_fixture(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
        )
        .build()
        .into_path();
        let dir = tempfile::tempdir().unwrap();
        fidius_test::copy_into(&lib, dir.path());
        dir
    }

    #[derive(Default)]
    struct Host {
        calls: AtomicU64,
        /// The isolated plugin, for a host function that calls back into it.
        plugin: OnceLock<Arc<DeferrableClient>>,
        /// Where the host function ran (never in the child).
        pids: std::sync::Mutex<Vec<u32>>,
    }

    impl TestHost for Host {
        fn get_value(&self, key: String) -> u64 {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.pids.lock().unwrap().push(std::process::id());
            match key.as_str() {
                "reenter" => match self.plugin.get().expect("plugin set").add_one(&41) {
                    Ok(v) => v,
                    Err(CallError::Backend { message, .. }) if message.contains("called back") => {
                        7777
                    }
                    Err(e) => panic!("{e:?}"),
                },
                other => other.len() as u64 * 10,
            }
        }
        fn release_slot(&self, n: u32) -> Result<u32, fidius_core::PluginError> {
            if n == 0 {
                Err(fidius_core::PluginError::new(
                    "NO_SLOT",
                    "slot 0 does not exist",
                ))
            } else {
                Ok(n * 2)
            }
        }
        fn panicky(&self) -> u32 {
            panic!("the host function blew up")
        }
    }

    #[test]
    fn host_functions_are_called_back_across_the_process_boundary() {
        let _s = serial();
        let dir = smoke_dir();
        let host = host_with(
            dir.path(),
            ProcessOptions::default().deadline(Duration::from_secs(20)),
        );
        let plugin = Arc::new(DeferrableClient::load(&host, "DeferrableImpl").unwrap());
        let child = plugin.handle().process_id().unwrap();
        assert_ne!(child, std::process::id());
        assert!(!plugin.host_bound().unwrap());
        let imp = Arc::new(Host::default());
        assert!(imp.plugin.set(Arc::clone(&plugin)).is_ok());
        assert!(TestHostBinding::bind_handle(plugin.handle(), imp.clone()).unwrap());
        assert!(plugin.host_bound().unwrap());

        assert_eq!(plugin.run_deferred("abc").unwrap(), 31);
        assert_eq!(plugin.value_from_thread("abcd").unwrap(), 40);
        assert_eq!(plugin.try_release(&3).unwrap(), "ok:6");
        assert_eq!(plugin.try_release(&0).unwrap(), "err:NO_SLOT");
        let seen = plugin.observe_host_panic().unwrap();
        assert!(
            seen.contains("HostPanic") && seen.contains("blew up"),
            "{seen}"
        );
        assert!(
            matches!(plugin.panic_after_callback(), Err(CallError::Panic(m)) if m.contains("after a host call"))
        );
        // The host functions ran in the host, not in the child.
        assert!(imp
            .pids
            .lock()
            .unwrap()
            .iter()
            .all(|&p| p == std::process::id()));
        // A host function calling back into the plugin whose call it serves
        // gets a typed error (it would never return), not a deadlock.
        assert_eq!(plugin.run_deferred("reenter").unwrap(), 7778);

        // The gates: binding twice is refused by the plugin's library; a
        // table of another hash is refused before anything is bound.
        match TestHostBinding::bind_handle(plugin.handle(), imp.clone()) {
            Err(LoadError::HostBindFailed { code, .. }) => {
                assert_eq!(code, fidius_core::host_ffi::BIND_ERR_ALREADY_BOUND)
            }
            other => panic!("expected HostBindFailed, got {other:?}"),
        }
        // SAFETY: a table built by the generated binding (valid, leaked).
        let skewed = unsafe {
            plugin.handle().bind_host_interface(
                TestHostBinding::INTERFACE_NAME,
                TestHostBinding::INTERFACE_HASH ^ 1,
                TestHostBinding::INTERFACE_VERSION,
                || TestHostBinding::table(imp.clone()),
            )
        };
        assert!(
            matches!(skewed, Err(LoadError::HostInterfaceHashMismatch { .. })),
            "{skewed:?}"
        );

        // After the child dies, the fresh child has the interface bound
        // again before the plugin is constructed.
        let before = imp.calls.load(Ordering::SeqCst);
        // SAFETY: signalling the plugin's child process, which this test owns.
        unsafe { libc::kill(child as i32, libc::SIGKILL) };
        assert!(matches!(
            plugin.run_deferred("x"),
            Err(CallError::ProcessDied { .. })
        ));
        assert!(gone(child), "the killed child was not reaped");
        assert!(plugin.host_bound().unwrap());
        assert_eq!(plugin.run_deferred("xyz").unwrap(), 31);
        assert_ne!(plugin.handle().process_id().unwrap(), child);
        assert_eq!(imp.calls.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn host_functions_cannot_be_bound_to_plugins_without_the_import() {
        let _s = serial();
        let dir = plugin_dir();
        let host = host_with(dir.path(), ProcessOptions::default());
        let c = wild(&host);
        let imp: Arc<dyn TestHost> = Arc::new(Host::default());
        // The unruly plugin imports no host interface.
        assert!(!TestHostBinding::bind_handle(c.handle(), imp).unwrap());
        assert_eq!(c.add(&1, &1).unwrap(), 2);
    }
}
