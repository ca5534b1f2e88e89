//! The process tier beyond one machine (feature `remote`): a runner serves
//! plugins over gRPC, and a host's child is a session with it.
//!
//! One gRPC method, `/fidius.process.v1.Runner/Session`, streams messages
//! both ways; each is a tag byte and a payload. The host opens with the
//! verified library bytes and the child's limits; the runner starts a local
//! runner child of its own with them, and from then on every message is one
//! frame of the ordinary process protocol (`frame.rs`), relayed unchanged
//! between the host and that child — so the protocol has one copy, and
//! deadlines, restarts, streams and host functions work as they do locally.
//! When its child ends, the runner sends how it ended (its wait status and
//! stderr's tail); when the host kills a session (a deadline, a cancel),
//! the runner kills the child.

use super::child::{Child, OutputTail, Peer, SpawnSpec};
use super::frame;
use super::RemoteRunner;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::Stream;

/// The session method's path.
const SESSION_PATH: &str = "/fidius.process.v1.Runner/Session";
/// A frame of the process protocol.
const TAG_FRAME: u8 = 0;
/// Host → runner, first: what to start ([`Open`]).
const TAG_OPEN: u8 = 1;
/// Runner → host, last: how the child ended ([`End`]).
const TAG_END: u8 = 2;
/// HTTP/2 and TCP keepalive period of both sides: a peer that vanished
/// without closing is noticed within about three of them.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// How long a session's child may take to exit after its host closed the
/// session before the runner kills it.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Largest gRPC message either side accepts (a frame, or an [`Open`] with
/// its library).
const MAX_MESSAGE: usize = frame::MAX_FRAME + (64 << 20);

/// What the host asks a runner to start.
#[derive(Serialize, Deserialize)]
struct Open {
    /// The exact library bytes the host verified.
    library: Vec<u8>,
    label: String,
    plugin: String,
    env: Vec<(Vec<u8>, Vec<u8>)>,
    max_memory: Option<u64>,
    cpu_time: Option<Duration>,
}

/// How the runner's child ended.
#[derive(Serialize, Deserialize)]
struct End {
    /// Its raw wait status, if it was reaped.
    status: Option<i32>,
    stderr: String,
}

fn tagged(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(payload.len() + 1);
    m.push(tag);
    m.extend_from_slice(payload);
    m
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).unwrap_or_default()
}

/// Passes messages through as bytes (gRPC does the framing).
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

/// One frame's payload from a channel socket, or `None` at its end.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = frame::frame_len(header).map_err(io::Error::other)?;
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

/// Writes one frame (length prefix, then payload) to a channel socket.
async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    w.write_all(&len.to_le_bytes()).await?;
    w.write_all(payload).await
}

// ---------------------------------------------------------------- host side

/// How a session ended, as the host learns it.
#[derive(Default)]
struct Outcome {
    status: Option<i32>,
    lost: Option<String>,
}

#[derive(Default)]
struct Session {
    ended: Mutex<Option<Outcome>>,
    cv: Condvar,
    kill: tokio::sync::Notify,
}

/// The host's handle on a session (its [`Peer`]).
struct RemotePeer(Arc<Session>);

impl Peer for RemotePeer {
    fn kill(&self) {
        self.0.kill.notify_one();
    }

    fn wait(&self, grace: Duration) -> Option<(Option<ExitStatus>, Option<String>)> {
        let ended = self.0.ended.lock().unwrap_or_else(|p| p.into_inner());
        let (mut ended, _) = self
            .0
            .cv
            .wait_timeout_while(ended, grace, |e| e.is_none())
            .unwrap_or_else(|p| p.into_inner());
        let o = ended.as_mut()?;
        Some((o.status.map(ExitStatus::from_raw), o.lost.take()))
    }
}

/// Opens a session with a remote runner for the plugin `spec` names; the
/// returned child's channel is relayed to the runner's child by a thread.
pub(crate) fn connect(remote: &RemoteRunner, spec: &SpawnSpec<'_>) -> io::Result<Child> {
    let Some(library) = spec.library else {
        return Err(io::Error::other(
            "Python plugins cannot run on a remote runner (their package would have to be copied there); run them in a local child",
        ));
    };
    let open = Open {
        library: crate::mapping::read_memfd(library)?,
        label: spec.plugin.to_owned(),
        plugin: spec.plugin.to_owned(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        max_memory: spec.max_memory,
        cpu_time: spec.cpu_time,
    };
    let (host_end, bridge_end) = UnixStream::pair()?;
    bridge_end.set_nonblocking(true)?;
    let tail = Arc::new(OutputTail::default());
    let session = Arc::new(Session::default());
    let (t, s, r) = (Arc::clone(&tail), Arc::clone(&session), remote.clone());
    std::thread::Builder::new()
        .name("fidius-remote".into())
        .spawn(move || bridge(r, tagged(TAG_OPEN, &encode(&open)), bridge_end, t, s))?;
    Child::with_peer(host_end, tail, Box::new(RemotePeer(session)))
}

/// Relays the host's channel to a session until either side ends.
fn bridge(
    remote: RemoteRunner,
    open: Vec<u8>,
    sock: UnixStream,
    tail: Arc<OutputTail>,
    session: Arc<Session>,
) {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(relay(&remote, open, sock, &session, &tail)),
        Err(e) => Outcome {
            status: None,
            lost: Some(format!("could not start the connection's runtime: {e}")),
        },
    };
    // The socket is closed by now (dropped with the runtime's tasks): the
    // host sees its child's channel end.
    if let Some(lost) = &outcome.lost {
        tail.push(lost.as_bytes());
    }
    tail.finish();
    *session.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    session.cv.notify_all();
}

/// The gRPC endpoint of a runner, with TLS for an `https` one.
fn endpoint_of(remote: &RemoteRunner) -> Result<tonic::transport::Endpoint, String> {
    let endpoint = &remote.endpoint;
    let ep = tonic::transport::Endpoint::from_shared(endpoint.clone())
        .map_err(|e| format!("the remote runner address {endpoint:?} is invalid: {e}"))?
        .connect_timeout(remote.connect_timeout)
        .tcp_nodelay(true)
        // A runner whose machine vanished (no FIN, no RST) is noticed.
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE * 2)
        .keep_alive_while_idle(true)
        .tcp_keepalive(Some(KEEPALIVE));
    if !endpoint.starts_with("https://") {
        if remote.tls_ca.is_some() {
            return Err(format!(
                "a TLS authority is set for the remote runner {endpoint}, but its address is not https://"
            ));
        }
        return Ok(ep);
    }
    #[cfg(feature = "remote-tls")]
    {
        let Some(ca) = &remote.tls_ca else {
            return Err(format!(
                "the remote runner {endpoint} is https://: set RemoteRunner::tls_ca to the authority that signed its certificate"
            ));
        };
        let mut tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca));
        if let Some(d) = &remote.tls_domain {
            tls = tls.domain_name(d.clone());
        }
        ep.tls_config(tls)
            .map_err(|e| format!("the TLS settings for {endpoint}: {e}"))
    }
    #[cfg(not(feature = "remote-tls"))]
    {
        drop(ep);
        Err(format!(
            "the remote runner {endpoint} is https://, but fidius-host was built without its `remote-tls` feature"
        ))
    }
}

fn lost(why: String) -> Outcome {
    Outcome {
        status: None,
        lost: Some(why),
    }
}

async fn relay(
    remote: &RemoteRunner,
    open: Vec<u8>,
    sock: UnixStream,
    session: &Session,
    tail: &OutputTail,
) -> Outcome {
    let endpoint = &remote.endpoint;
    let ep = match endpoint_of(remote) {
        Ok(ep) => ep,
        Err(why) => return lost(why),
    };
    let channel = tokio::select! {
        c = ep.connect() => match c {
            Ok(c) => c,
            Err(e) => return lost(format!("could not connect to the remote runner {endpoint}: {e}")),
        },
        _ = session.kill.notified() => return Outcome::default(),
    };
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    if tx.send(open).await.is_err() {
        return lost("the session closed before it opened".into());
    }
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(token) = &remote.token {
        match format!("Bearer {token}").parse() {
            Ok(v) => {
                request.metadata_mut().insert("authorization", v);
            }
            Err(_) => return lost("the remote runner token is not a valid header value".into()),
        }
    }
    let opened = async {
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        grpc.streaming(
            request,
            tonic::codegen::http::uri::PathAndQuery::from_static(SESSION_PATH),
            RawCodec,
        )
        .await
    };
    let mut inbound = tokio::select! {
        r = opened => match r {
            Ok(r) => r.into_inner(),
            Err(s) => return lost(format!("the remote runner {endpoint} refused the session: {}", s.message())),
        },
        _ = session.kill.notified() => return Outcome::default(),
    };
    let sock = match tokio::net::UnixStream::from_std(sock) {
        Ok(s) => s,
        Err(e) => return lost(format!("the local end of the session: {e}")),
    };
    let (mut rd, mut wr) = sock.into_split();
    // Host → runner: every frame the host writes, until it closes its end.
    tokio::spawn(async move {
        while let Ok(Some(payload)) = read_frame(&mut rd).await {
            if tx.send(tagged(TAG_FRAME, &payload)).await.is_err() {
                break;
            }
        }
        // Dropping `tx` ends the request stream: the runner closes its child's channel.
    });
    // Runner → host.
    let down =
        async {
            loop {
                match inbound.message().await {
                    Ok(Some(m)) => match m.split_first() {
                        Some((&TAG_FRAME, payload)) => {
                            if write_frame(&mut wr, payload).await.is_err() {
                                return Outcome::default();
                            }
                        }
                        Some((&TAG_END, end)) => {
                            let Ok(end) = bincode::deserialize::<End>(end) else {
                                return lost("the remote runner sent an undecodable end".into());
                            };
                            tail.push(end.stderr.as_bytes());
                            return Outcome {
                                status: end.status,
                                lost: None,
                            };
                        }
                        _ => return lost("the remote runner sent an unknown message".into()),
                    },
                    Ok(None) => return lost(
                        "the remote runner ended the session without saying how its child ended"
                            .into(),
                    ),
                    Err(s) => {
                        return lost(format!(
                            "the connection to the remote runner {endpoint} was lost: {}",
                            s.message()
                        ))
                    }
                }
            }
        };
    tokio::select! {
        o = down => o,
        // Dropping the call cancels it: the runner kills its child.
        _ = session.kill.notified() => Outcome::default(),
    }
}

// -------------------------------------------------------------- runner side

/// What a serving runner needs for each session.
struct Served {
    /// Sessions must present `Bearer <token>`.
    token: Option<String>,
    /// This executable, which runs each session's child.
    program: std::path::PathBuf,
    is_self: bool,
}

#[derive(Clone)]
struct RunnerService(Arc<Served>);

impl tonic::server::NamedService for RunnerService {
    const NAME: &'static str = "fidius.process.v1.Runner";
}

type Body = tonic::body::Body;
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Outbound = std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, tonic::Status>> + Send>>;

impl tonic::codegen::Service<tonic::codegen::http::Request<Body>> for RunnerService {
    type Response = tonic::codegen::http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::codegen::http::Request<Body>) -> Self::Future {
        let served = Arc::clone(&self.0);
        Box::pin(async move {
            if req.uri().path() != SESSION_PATH {
                return Ok(tonic::Status::unimplemented(format!(
                    "{} serves only {SESSION_PATH}",
                    <Self as tonic::server::NamedService>::NAME
                ))
                .into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            Ok(grpc.streaming(SessionService(served), req).await)
        })
    }
}

struct SessionService(Arc<Served>);

impl tonic::server::StreamingService<Vec<u8>> for SessionService {
    type Response = Vec<u8>;
    type ResponseStream = Outbound;
    type Future = BoxFuture<Result<tonic::Response<Outbound>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<Vec<u8>>>) -> Self::Future {
        Box::pin(serve_session(Arc::clone(&self.0), request))
    }
}

/// Whether `presented` (an `authorization` header) carries `token`.
fn authorized(token: &str, presented: Option<&[u8]>) -> bool {
    let expected = format!("Bearer {token}");
    let Some(got) = presented else {
        return false;
    };
    // Compared in full whatever the first difference, so timing tells nothing.
    got.len() == expected.len()
        && got
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn serve_session(
    served: Arc<Served>,
    request: tonic::Request<tonic::Streaming<Vec<u8>>>,
) -> Result<tonic::Response<Outbound>, tonic::Status> {
    if let Some(token) = &served.token {
        let presented = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        if !authorized(token, presented) {
            return Err(tonic::Status::unauthenticated(
                "this runner needs the token it was started with",
            ));
        }
    }
    let mut inbound = request.into_inner();
    let first = inbound
        .message()
        .await?
        .ok_or_else(|| tonic::Status::invalid_argument("the session ended before it opened"))?;
    let open = match first.split_first() {
        Some((&TAG_OPEN, body)) => bincode::deserialize::<Open>(body)
            .map_err(|e| tonic::Status::invalid_argument(format!("an undecodable open: {e}")))?,
        _ => {
            return Err(tonic::Status::invalid_argument(
                "a session starts with an open",
            ))
        }
    };
    let s = Arc::clone(&served);
    let child = tokio::task::spawn_blocking(move || start_child(&s, open))
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?
        .map_err(|e| {
            tonic::Status::failed_precondition(format!("could not start the plugin: {e}"))
        })?;
    let sock = child
        .channel
        .socket()
        .try_clone()
        .and_then(tokio::net::UnixStream::from_std)
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let (mut rd, mut wr) = sock.into_split();
    let child = Arc::new(Mutex::new(Some(child)));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, tonic::Status>>(64);
    // Child → host, then how the child ended.
    let ending = Arc::clone(&child);
    tokio::spawn(async move {
        while let Ok(Some(payload)) = read_frame(&mut rd).await {
            if tx.send(Ok(tagged(TAG_FRAME, &payload))).await.is_err() {
                break;
            }
        }
        let taken = ending.lock().unwrap_or_else(|p| p.into_inner()).take();
        let end = tokio::task::spawn_blocking(move || match taken {
            None => End {
                status: None,
                stderr: String::new(),
            },
            Some(c) => {
                let tail = Arc::clone(&c.tail);
                let ended = c.finish(Duration::from_millis(500));
                End {
                    status: ended.status.map(|s| s.into_raw()),
                    stderr: tail.text_since(0, Duration::from_secs(1)),
                }
            }
        })
        .await
        .unwrap_or(End {
            status: None,
            stderr: String::new(),
        });
        let _ = tx.send(Ok(tagged(TAG_END, &encode(&end)))).await;
    });
    // Host → child.
    tokio::spawn(async move {
        loop {
            match inbound.message().await {
                Ok(Some(m)) => {
                    let Some((&TAG_FRAME, payload)) = m.split_first() else {
                        break;
                    };
                    if write_frame(&mut wr, payload).await.is_err() {
                        break;
                    }
                }
                // The host closed the session: the child's channel closes,
                // and it ends on its own (or is killed after a grace period).
                Ok(None) => {
                    let _ = wr.shutdown().await;
                    tokio::time::sleep(CLOSE_GRACE).await;
                    break;
                }
                Err(_) => break,
            }
        }
        // The host cancelled (a deadline, a cancel) or vanished, or the
        // child outlived its grace: kill it (a no-op once it was reaped).
        if let Some(c) = child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            c.kill();
        }
    });
    Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
}

fn start_child(served: &Served, open: Open) -> io::Result<Child> {
    let library = crate::mapping::sealed_memfd(&open.label, &open.library)?;
    let env: Vec<(std::ffi::OsString, std::ffi::OsString)> = open
        .env
        .into_iter()
        .map(|(k, v)| {
            (
                std::ffi::OsString::from_vec(k),
                std::ffi::OsString::from_vec(v),
            )
        })
        .collect();
    Child::spawn(&SpawnSpec {
        program: &served.program,
        is_self: served.is_self,
        library: Some(&library),
        env: &env,
        max_memory: open.max_memory,
        cpu_time: open.cpu_time,
        plugin: &open.plugin,
        cgroup: &super::CgroupPolicy::Auto,
    })
}

/// How a runner serves remote hosts ([`serve_remote`]).
#[derive(Clone, Default)]
pub struct RemoteServe {
    /// Sessions must present this bearer token ([`RemoteRunner::token`]).
    pub token: Option<String>,
    /// PEM certificate chain and private key to serve TLS with (feature
    /// `remote-tls`); without them the runner speaks plaintext HTTP/2.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RemoteServe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteServe")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Serves plugins to remote hosts on `listener` until the process ends.
///
/// Each session runs its plugin in a child process of this one, started
/// from this executable (the `fidius-runner` binary, or any executable
/// linking fidius-host). A runner executes whatever library a host sends
/// it: give it a token (hosts set [`RemoteRunner::token`]), and serve TLS
/// or keep it on a trusted network.
pub fn serve_remote(listener: std::net::TcpListener, opts: RemoteServe) -> io::Result<()> {
    let program = std::env::current_exe()?;
    let is_self = program.file_name().is_none_or(|n| n != "fidius-runner");
    let served = Arc::new(Served {
        token: opts.token,
        program,
        is_self,
    });
    #[allow(unused_mut)]
    let mut server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE * 2))
        .tcp_keepalive(Some(KEEPALIVE));
    if let Some((cert, key)) = &opts.tls {
        #[cfg(feature = "remote-tls")]
        {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(io::Error::other)?;
        }
        #[cfg(not(feature = "remote-tls"))]
        {
            let _ = (cert, key);
            return Err(io::Error::other(
                "serving TLS needs fidius-host's `remote-tls` feature",
            ));
        }
    }
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let incoming = tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(listener);
        server
            .add_service(RunnerService(served))
            .serve_with_incoming(incoming)
            .await
            .map_err(io::Error::other)
    })
}

/// Usage of the serving runner.
const USAGE: &str =
    "usage: fidius-runner --listen ADDR [--token-file PATH] [--tls-cert PEM --tls-key PEM]";

fn usage_error(msg: &str) -> ! {
    eprintln!("fidius-runner: {msg}\n{USAGE}");
    std::process::exit(64)
}

/// The contents of the file after `flag`.
fn read_arg(flag: &str, path: Option<&String>) -> Vec<u8> {
    let Some(path) = path else {
        usage_error(&format!("{flag} needs a path"))
    };
    std::fs::read(path).unwrap_or_else(|e| usage_error(&format!("reading {path} ({flag}): {e}")))
}

/// `fidius-runner --listen ADDR [--token-file PATH] [--tls-cert PEM --tls-key PEM]`:
/// serves remote hosts (the token may also come from `$FIDIUS_RUNNER_TOKEN`);
/// prints `fidius-runner listening on ADDR` once it accepts connections.
pub(crate) fn serve_main(args: &[String]) -> ! {
    let mut listen = None;
    let mut token = std::env::var("FIDIUS_RUNNER_TOKEN").ok();
    let (mut cert, mut key) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => listen = it.next().cloned(),
            "--token-file" => {
                let t = read_arg(a, it.next());
                token = Some(String::from_utf8_lossy(&t).trim().to_owned());
            }
            "--tls-cert" => cert = Some(read_arg(a, it.next())),
            "--tls-key" => key = Some(read_arg(a, it.next())),
            other => usage_error(&format!("unknown argument {other:?}")),
        }
    }
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => usage_error("--tls-cert and --tls-key go together"),
    };
    let Some(listen) = listen else {
        eprintln!("fidius-runner: --listen needs an address such as 127.0.0.1:7070");
        std::process::exit(64);
    };
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fidius-runner: cannot listen on {listen}: {e}");
            std::process::exit(69);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        use std::io::Write;
        println!("fidius-runner listening on {addr}");
        let _ = std::io::stdout().flush();
    }
    let opts = RemoteServe {
        token: token.filter(|t| !t.is_empty()),
        tls,
    };
    match serve_remote(listener, opts) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("fidius-runner: {e}");
            std::process::exit(70);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_compared_whole() {
        assert!(authorized("s3cret", Some(b"Bearer s3cret")));
        assert!(!authorized("s3cret", Some(b"Bearer s3cre")));
        assert!(!authorized("s3cret", Some(b"Bearer s3creT")));
        assert!(!authorized("s3cret", None));
    }

    #[test]
    fn messages_carry_their_tag() {
        let m = tagged(
            TAG_END,
            &encode(&End {
                status: Some(9),
                stderr: "boom".into(),
            }),
        );
        let (tag, body) = m.split_first().unwrap();
        assert_eq!(*tag, TAG_END);
        let end: End = bincode::deserialize(body).unwrap();
        assert_eq!((end.status, end.stderr.as_str()), (Some(9), "boom"));
    }
}
