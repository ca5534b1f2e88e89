//! Brokered egress of WASM guests, end to end: the `wasm-net` fixture is
//! built as a component and reaches servers this test starts on 127.0.0.1
//! through `fidius::http` and `fidius::sockets`, with the host's
//! `EgressPolicy` deciding (and rewriting) every request.

#![cfg(feature = "wasm")]

use fidius_core::PluginError;
use fidius_host::executor::wasm::{EgressDenied, EgressPolicy};
use fidius_host::{CallError, CallLimits, LoadError, PluginHost};
use fidius_test::{fixture_keypair, wasm_fixture, wasm_package};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wasm_net::NetClient;

fn component() -> &'static Path {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        wasm_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wasm-net"))
            .build()
            .into_path()
    })
}

/// One request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers "echo:<body>" after
/// `delay`; it stops after `max` connections or 30 s, whichever is first.
struct HttpServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl HttpServer {
    fn start(max: usize, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(30);
            let mut served = 0;
            while served < max && Instant::now() < stop {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                served += 1;
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(conn, delay, &log);
                });
            }
        });
        HttpServer { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(
    conn: std::net::TcpStream,
    delay: Duration,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    log.lock().unwrap().push(Seen {
        line: line.trim_end().to_owned(),
        headers,
        body: body.clone(),
    });
    std::thread::sleep(delay);
    let reply = format!("echo:{body}");
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    conn.flush()
}

/// A TCP server that answers each connection with "tcp:<what it read>";
/// stops after `max` connections or 30 s.
fn tcp_echo_server(max: usize) -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let stop = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < max && Instant::now() < stop {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            *count.lock().unwrap() += 1;
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = String::new();
            if conn.read_to_string(&mut got).is_ok() {
                let _ = conn.write_all(format!("tcp:{got}").as_bytes());
            }
        }
    });
    (addr, accepted)
}

/// A UDP server that answers each datagram with "udp:<datagram>" (30 s).
fn udp_echo_server() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let stop = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 1500];
        while Instant::now() < stop {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let mut reply = b"udp:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = sock.send_to(&reply, from);
            }
        }
    });
    addr
}

/// The test policy: HTTP to `http_port` only (injecting a credential and
/// stripping the guest's secret header), TCP and UDP to listed ports only;
/// it records what it was asked.
#[derive(Default)]
struct Policy {
    http_port: Option<u16>,
    tcp_ports: Vec<u16>,
    udp_ports: Vec<u16>,
    asked: Mutex<Vec<String>>,
}

const REASON: &str = "SECRET-REASON-do-not-tell-the-guest";

impl EgressPolicy for Policy {
    fn authorize(&self, parts: &mut http::request::Parts) -> Result<(), EgressDenied> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("http {}", parts.uri));
        if parts.uri.port_u16() != self.http_port {
            return Err(EgressDenied::new(REASON));
        }
        parts.headers.remove("x-guest-secret");
        parts.headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer host-token"),
        );
        Ok(())
    }

    fn authorize_tcp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        self.asked.lock().unwrap().push(format!("tcp {addr}"));
        if self.tcp_ports.contains(&addr.port()) {
            Ok(())
        } else {
            Err(EgressDenied::new(REASON))
        }
    }

    fn authorize_udp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        self.asked.lock().unwrap().push(format!("udp {addr}"));
        if self.udp_ports.contains(&addr.port()) {
            Ok(())
        } else {
            Err(EgressDenied::new(REASON))
        }
    }
}

fn package(caps: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "net", component(), caps, "");
    dir
}

fn host(dir: &Path, policy: Option<Arc<Policy>>) -> PluginHost {
    let mut b = PluginHost::builder().search_path(dir).wasm_cache_dir(None);
    if let Some(p) = policy {
        b = b.egress_policy(p);
    }
    b.build().unwrap()
}

fn load(caps: &[&str], policy: Arc<Policy>) -> (tempfile::TempDir, NetClient) {
    let dir = package(caps);
    let client = NetClient::load(&host(dir.path(), Some(policy)), "net").expect("load net");
    (dir, client)
}

fn plugin_error(r: Result<String, CallError>) -> PluginError {
    match r {
        Err(CallError::Plugin(e)) => e,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[test]
fn allowed_http_reaches_the_server_with_the_policys_rewrites() {
    let server = HttpServer::start(2, Duration::ZERO);
    let policy = Arc::new(Policy {
        http_port: Some(server.addr.port()),
        ..Policy::default()
    });
    let (_d, net) = load(&["http"], policy.clone());
    assert_eq!(
        net.post(&server.url("/submit?x=1"), "hello").unwrap(),
        "200 echo:hello"
    );
    assert_eq!(net.fetch(&server.url("/"), &0).unwrap(), "200 echo:");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].line, "POST /submit?x=1 HTTP/1.1");
    assert_eq!(seen[0].body, "hello");
    assert_eq!(seen[0].header("authorization"), Some("Bearer host-token"));
    assert_eq!(
        seen[0].header("x-guest-secret"),
        None,
        "stripped by the policy"
    );
    assert_eq!(seen[0].header("content-type"), Some("text/plain"));
    assert_eq!(policy.asked.lock().unwrap().len(), 2);
}

#[test]
fn a_denied_request_is_a_generic_error_that_never_reaches_the_network() {
    let server = HttpServer::start(1, Duration::ZERO);
    let policy = Arc::new(Policy::default());
    let (_d, net) = load(&["http"], policy.clone());
    let e = plugin_error(net.fetch(&server.url("/secret"), &0));
    assert_eq!(e.code, "DENIED", "{e:?}");
    assert!(
        !e.message.contains(REASON),
        "the guest saw the reason: {e:?}"
    );
    assert!(e.message.contains("denied"), "{e:?}");
    assert!(server.seen().is_empty());
    assert_eq!(
        policy.asked.lock().unwrap().as_slice(),
        [format!("http {}", server.url("/secret"))]
    );
}

#[test]
fn http_needs_both_keys_the_capability_and_a_policy() {
    // The fixture imports wasi:http, so without both keys it does not load.
    let dir = package(&["http"]);
    match NetClient::load(&host(dir.path(), None), "net") {
        Err(LoadError::WasmLoad(m)) => {
            assert!(
                m.contains("no egress policy") && m.contains("load_wasm_with_egress"),
                "{m}"
            )
        }
        other => panic!("expected a load error, got {:?}", other.err()),
    }
    let dir = package(&[]);
    match NetClient::load(&host(dir.path(), Some(Arc::default())), "net") {
        Err(LoadError::WasmLoad(m)) => assert!(m.contains("do not grant 'http'"), "{m}"),
        other => panic!("expected a load error, got {:?}", other.err()),
    }
    // A per-plugin policy is the second key as well.
    let server = HttpServer::start(1, Duration::ZERO);
    let dir = package(&["http"]);
    let handle = host(dir.path(), None)
        .load_wasm_with_egress(
            "net",
            &wasm_net::__fidius_Net::Net_WASM_DESCRIPTOR,
            Policy {
                http_port: Some(server.addr.port()),
                ..Policy::default()
            },
        )
        .unwrap();
    let net = NetClient::from_handle(handle);
    assert_eq!(net.fetch(&server.url("/p"), &0).unwrap(), "200 echo:");
}

#[test]
fn a_slow_server_hits_the_guests_timeout_and_the_calls_deadline() {
    let server = HttpServer::start(2, Duration::from_secs(4));
    let policy = Arc::new(Policy {
        http_port: Some(server.addr.port()),
        ..Policy::default()
    });
    let (_d, net) = load(&["http"], policy);
    let t = Instant::now();
    let e = plugin_error(net.fetch(&server.url("/slow"), &300));
    assert_eq!(e.code, "TIMEOUT", "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // No guest timeout at all: the call's deadline bounds the host's wait.
    net.handle()
        .set_limits(CallLimits {
            deadline: Some(Duration::from_millis(500)),
            ..CallLimits::default()
        })
        .unwrap();
    let t = Instant::now();
    let r = net.fetch(&server.url("/slower"), &0);
    assert!(r.is_err(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn tcp_connects_go_through_the_policy() {
    let (open, open_count) = tcp_echo_server(1);
    let (closed, closed_count) = tcp_echo_server(1);
    let policy = Arc::new(Policy {
        tcp_ports: vec![open.port()],
        ..Policy::default()
    });
    let (_d, net) = load(&["http", "tcp"], policy.clone());
    assert_eq!(
        net.tcp_echo("127.0.0.1", &open.port(), "hi").unwrap(),
        "tcp:hi"
    );
    let e = plugin_error(net.tcp_echo("127.0.0.1", &closed.port(), "no"));
    assert_eq!(e.code, "CONNECT", "{e:?}");
    assert!(!e.message.contains(REASON));
    assert_eq!(*open_count.lock().unwrap(), 1);
    assert_eq!(*closed_count.lock().unwrap(), 0);
    let asked = policy.asked.lock().unwrap().clone();
    assert!(asked.contains(&format!("tcp {open}")), "{asked:?}");
    assert!(asked.contains(&format!("tcp {closed}")), "{asked:?}");
}

#[test]
fn udp_datagrams_go_through_the_policy() {
    let allowed = udp_echo_server();
    let refused = udp_echo_server();
    let policy = Arc::new(Policy {
        udp_ports: vec![allowed.port()],
        ..Policy::default()
    });
    let (_d, net) = load(&["http", "udp"], policy);
    assert_eq!(
        net.udp_echo(&allowed.to_string(), "ping").unwrap(),
        "udp:ping"
    );
    let e = plugin_error(net.udp_echo(&refused.to_string(), "ping"));
    assert_eq!(e.code, "SEND", "{e:?}");
}

#[test]
fn tcp_without_a_grant_is_refused_even_when_the_policy_would_allow_it() {
    let (addr, count) = tcp_echo_server(1);
    let policy = Arc::new(Policy {
        tcp_ports: vec![addr.port()],
        ..Policy::default()
    });
    let (_d, net) = load(&["http"], policy);
    let e = plugin_error(net.tcp_echo("127.0.0.1", &addr.port(), "x"));
    assert_eq!(e.code, "CONNECT", "{e:?}");
    assert_eq!(*count.lock().unwrap(), 0);
}

#[test]
fn the_network_grant_keeps_the_ssrf_floor_and_excludes_the_brokered_tiers() {
    let (addr, count) = tcp_echo_server(1);
    let (_d, net) = load(&["http", "network"], Arc::default());
    for host in ["127.0.0.1", "localhost"] {
        let e = plugin_error(net.tcp_echo(host, &addr.port(), "x"));
        assert_eq!(e.code, "CONNECT", "{host}: {e:?}");
    }
    assert_eq!(*count.lock().unwrap(), 0, "loopback is below the floor");
    let e = plugin_error(net.udp_echo("169.254.169.254:53", "x"));
    assert_eq!(e.code, "SEND", "{e:?}");

    let dir = package(&["http", "tcp", "network"]);
    match NetClient::load(&host(dir.path(), Some(Arc::default())), "net") {
        Err(LoadError::WasmLoad(m)) => assert!(m.contains("exclusive"), "{m}"),
        other => panic!("expected a load error, got {:?}", other.err()),
    }
}

#[test]
fn a_component_needing_a_newer_wasi_http_is_refused_with_what_to_do() {
    let mut bytes = std::fs::read(component()).unwrap();
    // Same-length edit of the wasi:http import versions: 0.2.12 -> 0.2.99.
    let mut edited = 0;
    for name in ["wasi:http/types", "wasi:http/outgoing-handler"] {
        let from = format!("{name}@0.2.12").into_bytes();
        let to = format!("{name}@0.2.99").into_bytes();
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if bytes[i..i + from.len()] == from[..] {
                bytes[i..i + to.len()].copy_from_slice(&to);
                edited += 1;
            }
            i += 1;
        }
    }
    assert!(edited > 0, "the fixture imports wasi:http@0.2.12");
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("newer.wasm");
    std::fs::write(&built, &bytes).unwrap();
    wasm_package(dir.path(), "net", &built, &["http"], "");
    match NetClient::load(&host(dir.path(), Some(Arc::default())), "net") {
        Err(LoadError::WasmLoad(m)) => assert!(
            m.contains("requires wasi:http 0.2.99")
                && m.contains("provides 0.2.12")
                && m.contains("rebuild the plugin"),
            "{m}"
        ),
        other => panic!("expected a load error, got {:?}", other.err()),
    }
}

#[test]
fn widening_a_signed_packages_network_capabilities_breaks_its_signature() {
    let (sk, vk) = fixture_keypair();
    let dir = tempfile::tempdir().unwrap();
    let pkg = wasm_package(dir.path(), "net", component(), &["http"], "");
    fidius_host::package::sign_package(&pkg, &sk).unwrap();
    let strict = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .egress_policy(Arc::new(Policy::default()))
        .wasm_cache_dir(None)
        .build()
        .unwrap();
    assert!(NetClient::load(&strict, "net").is_ok());
    let manifest = std::fs::read_to_string(pkg.join("package.toml")).unwrap();
    let widened = manifest.replace(
        "capabilities = [\"http\"]",
        "capabilities = [\"http\", \"network\"]",
    );
    assert_ne!(manifest, widened);
    std::fs::write(pkg.join("package.toml"), widened).unwrap();
    assert!(matches!(
        NetClient::load(&strict, "net"),
        Err(LoadError::SignatureInvalid { .. })
    ));
}

#[test]
fn the_deadline_stops_a_guest_waiting_in_the_host() {
    let (_d, net) = load(&["http"], Arc::default());
    assert_eq!(net.nap(&10).unwrap(), 10);
    net.handle()
        .set_limits(CallLimits {
            deadline: Some(Duration::from_millis(300)),
            ..CallLimits::default()
        })
        .unwrap();
    let t = Instant::now();
    match net.nap(&60_000) {
        Err(CallError::Timeout { deadline }) => assert_eq!(deadline, Duration::from_millis(300)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The plugin keeps serving (the stopped instance was discarded).
    assert_eq!(net.nap(&1).unwrap(), 1);
}
