//! The process tier over gRPC: a `fidius-runner --listen 127.0.0.1:0` serves
//! the unruly fixture to a host behind the ordinary typed client — calls,
//! streams, deadlines, crashes, a wrong token, and the runner killed mid-call.
#![cfg(all(target_os = "linux", feature = "remote"))]

use fidius_host::process::{Isolation, ProcessDeath, ProcessOptions, RemoteRunner};
use fidius_host::{CallError, PluginHost};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use unruly_plugin::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn plugin_dir() -> tempfile::TempDir {
    let lib: PathBuf = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/unruly-plugin"),
    )
    .build()
    .into_path();
    let dir = tempfile::tempdir().unwrap();
    fidius_test::copy_into(&lib, dir.path());
    dir
}

/// A runner serving on an ephemeral loopback port (killed when dropped).
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    fn start(token: &str) -> Self {
        Self::start_with(token, &[])
    }

    fn start_with(token: &str, args: &[&Path]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fidius-runner"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("FIDIUS_RUNNER_TOKEN", token)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("fidius-runner listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    fn runner(&self, token: &str) -> RemoteRunner {
        RemoteRunner::new(format!("http://{}", self.addr)).token(token)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host(dir: &Path, opts: ProcessOptions) -> PluginHost {
    PluginHost::builder()
        .search_path(dir)
        .isolation(Isolation::Process)
        .process_options(opts)
        .build()
        .unwrap()
}

#[test]
fn a_remote_runner_serves_calls_streams_deadlines_and_crashes() {
    let _s = serial();
    let dir = plugin_dir();
    let server = Server::start("t0ken");
    let host = host(
        dir.path(),
        ProcessOptions::default()
            .remote(server.runner("t0ken"))
            .deadline(Duration::from_secs(20)),
    );
    let c = UnrulyClient::load(&host, "Wild").unwrap();
    assert_eq!(c.add(&2, &3).unwrap(), 5);
    // The plugin runs in a child of the runner, not of this process.
    assert_eq!(c.handle().process_id(), None);
    let remote_pid = c.pid().unwrap();
    assert_ne!(remote_pid, std::process::id());
    assert_ne!(remote_pid, server.child.id());
    let blob: Vec<u8> = (0..256 * 1024u32).map(|i| i as u8).collect();
    assert_eq!(c.echo(&blob).unwrap(), blob);

    // Streams in all three directions.
    let items: Vec<u64> = c.count(&5, "").unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(items, [0, 1, 2, 3, 4]);
    assert_eq!(c.weigh(&100, 0..10u64, &u64::MAX).unwrap(), (10, 145));
    let relayed: Vec<u64> = c
        .relay("", 1..=3u64, &7, &u64::MAX)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(relayed, [7, 14, 21]);

    // A deadline stops a runaway call; the next call gets a fresh child.
    let r = fidius_host::with_deadline(Duration::from_millis(300), || c.sleep_ms(&10_000));
    assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
    assert_eq!(c.add(&1, &1).unwrap(), 2);
    assert_ne!(c.pid().unwrap(), remote_pid);

    // Crashes are typed, with the child's stderr.
    match c.segfault() {
        Err(CallError::ProcessDied {
            death: ProcessDeath::Signal { signal, .. },
            ..
        }) => assert_eq!(signal, libc::SIGSEGV),
        other => panic!("{other:?}"),
    }
    match c.abort() {
        Err(CallError::ProcessDied { death, stderr }) => {
            assert!(
                matches!(death, ProcessDeath::Signal { signal, .. } if signal == libc::SIGABRT)
            );
            assert!(stderr.contains("unruly: aborting"), "{stderr:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.add(&2, &2).unwrap(), 4);
}

#[test]
fn a_remote_runner_refuses_a_wrong_token() {
    let _s = serial();
    let dir = plugin_dir();
    let server = Server::start("right");
    let host = host(
        dir.path(),
        ProcessOptions::default().remote(server.runner("wrong")),
    );
    let err = UnrulyClient::load(&host, "Wild").map(|_| ()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("token"), "{msg}");
}

#[test]
fn a_runner_killed_mid_call_is_a_typed_error() {
    let _s = serial();
    let dir = plugin_dir();
    let mut server = Server::start("t");
    let host = host(
        dir.path(),
        ProcessOptions::default()
            .remote(server.runner("t"))
            .deadline(Duration::from_secs(20)),
    );
    let c = UnrulyClient::load(&host, "Wild").unwrap();
    assert_eq!(c.add(&1, &2).unwrap(), 3);
    let killer = {
        let pid = server.child.id();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: signalling the runner process this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        })
    };
    let r = c.sleep_ms(&10_000);
    killer.join().unwrap();
    assert!(
        matches!(
            &r,
            Err(CallError::ProcessDied {
                death: ProcessDeath::Disconnected { .. },
                ..
            })
        ),
        "{r:?}"
    );
    let _ = server.child.wait();
    // Nobody serves any more: the restart fails with a typed error.
    match c.add(&1, &1) {
        Err(CallError::ProcessStart(m)) => assert!(m.contains("connect"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// TLS (feature `remote-tls`): a runner with a certificate, a host that
/// trusts its authority; a plaintext host and one trusting another
/// authority are refused.
#[cfg(feature = "remote-tls")]
#[test]
fn a_remote_runner_serves_tls() {
    let _s = serial();
    let dir = plugin_dir();
    let pki = tempfile::tempdir().unwrap();
    let ours = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (pki.path().join("cert.pem"), pki.path().join("key.pem"));
    std::fs::write(&cert, ours.cert.pem()).unwrap();
    std::fs::write(&key, ours.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with(
        "tls",
        &[Path::new("--tls-cert"), &cert, Path::new("--tls-key"), &key],
    );
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let https = |ca: String| {
        RemoteRunner::new(format!("https://127.0.0.1:{port}"))
            .token("tls")
            .tls_ca(ca)
            .tls_domain("localhost")
    };
    let tls_host = host(
        dir.path(),
        ProcessOptions::default()
            .remote(https(ours.cert.pem()))
            .deadline(Duration::from_secs(20)),
    );
    let c = UnrulyClient::load(&tls_host, "Wild").unwrap();
    assert_eq!(c.add(&20, &22).unwrap(), 42);
    let items: Vec<u64> = c.count(&3, "").unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(items, [0, 1, 2]);

    let plain = RemoteRunner::new(format!("http://{}", server.addr)).token("tls");
    let plain_host = host(dir.path(), ProcessOptions::default().remote(plain));
    assert!(UnrulyClient::load(&plain_host, "Wild").is_err());
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let wrong_host = host(
        dir.path(),
        ProcessOptions::default().remote(https(other.cert.pem())),
    );
    let err = UnrulyClient::load(&wrong_host, "Wild")
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("remote runner"), "{err}");
}
