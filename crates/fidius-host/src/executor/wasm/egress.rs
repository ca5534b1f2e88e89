//! Brokered network egress of WASM guests: the [`EgressPolicy`] that sees
//! every outbound HTTP request, TCP connect and UDP datagram, the `wasi:http`
//! hooks and socket checks that consult it, the SSRF floor of the coarse
//! `network` grant, and the `wasi:http` version gate.
//!
//! Two keys open the network: the package's capability list (`http`, `tcp`,
//! `udp`, `network`) and, for the brokered tiers, a policy from the host.
//! With either missing the guest has no route out. A refusal reaches the
//! guest as a generic error (`HttpRequestDenied`, a refused connect); the
//! reason goes to the host's log only.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Why a request was refused (never shown to the guest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressDenied {
    /// The reason, for the host's logs.
    pub reason: String,
}

impl EgressDenied {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        EgressDenied {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for EgressDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "egress denied: {}", self.reason)
    }
}

impl std::error::Error for EgressDenied {}

/// Sees (and may rewrite or refuse) every outbound request of a guest.
///
/// A policy is consulted only for plugins whose capabilities ask for the
/// brokered tiers (`http`, `tcp`, `udp`). It runs on the host's I/O threads,
/// once per request or connection, so it should decide quickly.
///
/// ```
/// use fidius_host::executor::wasm::{EgressDenied, EgressPolicy};
///
/// /// Lets the guest reach one API, with the host's token.
/// struct OneApi {
///     token: String,
/// }
///
/// impl EgressPolicy for OneApi {
///     fn authorize(&self, parts: &mut http::request::Parts) -> Result<(), EgressDenied> {
///         if parts.uri.host() != Some("api.example.com") {
///             return Err(EgressDenied::new(format!("{} is not allowed", parts.uri)));
///         }
///         parts.headers.remove(http::header::COOKIE);
///         let value = format!("Bearer {}", self.token).parse().map_err(|_| EgressDenied::new("bad token"))?;
///         parts.headers.insert(http::header::AUTHORIZATION, value);
///         Ok(())
///     }
/// }
/// ```
pub trait EgressPolicy: Send + Sync + 'static {
    /// An outbound HTTP request; may change it (inject credentials, strip
    /// headers, even point it elsewhere) or refuse it.
    fn authorize(&self, parts: &mut http::request::Parts) -> Result<(), EgressDenied>;

    /// An outbound TCP connection to a resolved address (denied by default).
    fn authorize_tcp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        Err(EgressDenied::new(format!("tcp to {addr} is not allowed")))
    }

    /// An outbound UDP datagram or connection (denied by default). Datagrams
    /// arriving from an address are delivered only if this allows it too.
    fn authorize_udp(&self, addr: &SocketAddr) -> Result<(), EgressDenied> {
        Err(EgressDenied::new(format!("udp to {addr} is not allowed")))
    }
}

/// The `wasi:http` version this host provides (`wasmtime-wasi-http` 48).
pub const HOST_WASI_HTTP: (u32, u32, u32) = (0, 2, 12);

/// Refuses a component whose `wasi:http` imports need a newer version than
/// [`HOST_WASI_HTTP`] (same major and minor, patch at most ours).
pub fn check_wasi_http_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let (maj, min, pat) = HOST_WASI_HTTP;
    for name in imports {
        let Some(rest) = name.strip_prefix("wasi:http/") else {
            continue;
        };
        let Some((_, version)) = rest.split_once('@') else {
            continue;
        };
        let parts: Vec<u32> = version
            .split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(u32::MAX))
            .collect();
        let ok = matches!(parts.as_slice(), [a, b, c] if *a == maj && *b == min && *c <= pat);
        if !ok {
            return Err(format!(
                "plugin requires wasi:http {version} (import `{name}`), but this host provides {maj}.{min}.{pat}: \
                 upgrade the host's fidius, or rebuild the plugin against a fidius-guest whose wasi:http is \
                 {maj}.{min}.x with x <= {pat}"
            ));
        }
    }
    Ok(())
}

/// Whether the coarse `network` grant refuses `ip` (the SSRF floor): loopback,
/// link-local (including the 169.254.169.254 metadata service), private and
/// unique-local ranges, unspecified, broadcast, multicast, shared address
/// space, and IPv6 forms (v4-mapped, v4-compatible, NAT64) of those.
pub fn blocked_by_ssrf_floor(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_blocked(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return v4_blocked(v4);
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xffc0) == 0xfe80 // link-local
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg0 & 0xfe00) == 0xfc00 // unique local
        }
    }
}

fn v4_blocked(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || o[0] >= 240 // reserved
}

/// The IPv4 address inside a v4-mapped, v4-compatible or NAT64 IPv6 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::a.b.c.d (deprecated v4-compatible; not :: or ::1, handled as v6).
    if s[..6].iter().all(|&x| x == 0) && u32::from(tail) > 1 {
        return Some(tail);
    }
    // 64:ff9b::/96 (NAT64).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        return Some(tail);
    }
    None
}

/// Which network tier a plugin was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Net {
    /// No sockets (wasi:sockets is linked, every use refused).
    #[default]
    None,
    /// Brokered sockets: each connect or datagram asks the policy.
    Brokered {
        /// `tcp` was granted.
        tcp: bool,
        /// `udp` was granted.
        udp: bool,
    },
    /// The coarse grant: any public address (the SSRF floor applies).
    Open,
}

type Check = Pin<Box<dyn Future<Output = bool> + Send + Sync>>;

fn decided(ok: bool) -> Check {
    Box::pin(std::future::ready(ok))
}

/// Configures `b`'s sockets for `net`, asking `policy` where brokered.
pub(crate) fn apply_sockets(
    b: &mut WasiCtxBuilder,
    net: Net,
    policy: Option<&Arc<dyn EgressPolicy>>,
) {
    match net {
        Net::None => {}
        Net::Open => {
            b.allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
            b.socket_addr_check(|addr, usage| {
                decided(match usage {
                    // Binds (explicit, or the implicit wildcard bind of a
                    // connect) are local; listening and accepting are not
                    // egress and stay refused.
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => true,
                    SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
                    SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                        let refused = blocked_by_ssrf_floor(addr.ip());
                        if refused {
                            tracing::info!(%addr, "wasm egress refused by the SSRF floor of the network grant");
                        }
                        !refused
                    }
                })
            });
        }
        Net::Brokered { tcp, udp } => {
            b.allow_tcp(tcp).allow_udp(udp).allow_ip_name_lookup(true);
            let policy = policy.cloned();
            b.socket_addr_check(move |addr, usage| {
                let Some(policy) = policy.as_ref() else {
                    // No policy: the grant alone opens nothing.
                    return decided(false);
                };
                let verdict = match usage {
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => Ok(()),
                    SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                        Err(EgressDenied::new("listening for connections is not egress"))
                    }
                    SocketAddrUse::TcpConnect => policy.authorize_tcp(&addr),
                    SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => policy.authorize_udp(&addr),
                };
                if let Err(e) = &verdict {
                    tracing::info!(%addr, ?usage, reason = %e.reason, "wasm socket egress denied by the policy");
                }
                decided(verdict.is_ok())
            });
        }
    }
}

/// The `wasi:http` hooks of one store: every request goes through the
/// policy, and the call's deadline bounds how long the host waits for it.
pub(crate) struct EgressHooks {
    pub(crate) policy: Option<Arc<dyn EgressPolicy>>,
    /// When the current call must end (set per call by the executor).
    pub(crate) deadline: Option<Instant>,
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        drop(fut);
        let (mut parts, body) = request.into_parts();
        let verdict = match &self.policy {
            Some(p) => p.authorize(&mut parts),
            None => Err(EgressDenied::new("the host supplied no egress policy")),
        };
        if let Err(e) = verdict {
            tracing::info!(uri = %parts.uri, method = %parts.method, reason = %e.reason, "wasm http egress denied");
            return Box::new(std::future::ready(Err(HttpError::HttpRequestDenied)));
        }
        let request = http::Request::from_parts(parts, body);
        // The guest blocks in the host while it waits: bound that wait by
        // the call's deadline as well as by the guest's own timeouts.
        let budget = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let options = clamp(options, budget);
        Box::new(async move {
            use http_body_util::BodyExt;
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (res, io) = match budget {
                Some(b) => tokio::time::timeout(b, send)
                    .await
                    .map_err(|_| HttpError::ConnectionReadTimeout)??,
                None => send.await?,
            };
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// The guest's timeouts, none longer than `budget`.
fn clamp(options: Option<RequestOptions>, budget: Option<Duration>) -> RequestOptions {
    let mut o = options.unwrap_or_default();
    if let Some(b) = budget {
        for t in [
            &mut o.connect_timeout,
            &mut o.first_byte_timeout,
            &mut o.between_bytes_timeout,
        ] {
            *t = Some(t.map_or(b, |v| v.min(b)));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssrf_floor_refuses_internal_addresses_in_every_form() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(
                blocked_by_ssrf_floor(bad.parse().unwrap()),
                "{bad} must be refused"
            );
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(
                !blocked_by_ssrf_floor(good.parse().unwrap()),
                "{good} must pass"
            );
        }
    }

    #[test]
    fn the_wasi_http_gate_accepts_older_patches_and_refuses_newer_versions() {
        assert!(check_wasi_http_imports([
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:http/types@0.2.12",
            "wasi:io/streams@0.2.99",
            "fidius:flow/flow@0.1.0",
        ])
        .is_ok());
        for bad in [
            "wasi:http/outgoing-handler@0.2.13",
            "wasi:http/types@0.3.0",
            "wasi:http/types@1.0.0",
            "wasi:http/types@0.2.x",
        ] {
            let e = check_wasi_http_imports([bad]).unwrap_err();
            assert!(
                e.contains("0.2.12") && e.contains("rebuild the plugin"),
                "{e}"
            );
        }
    }

    #[test]
    fn guest_timeouts_never_outlast_the_call_deadline() {
        let o = clamp(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(1)),
                first_byte_timeout: Some(Duration::from_secs(60)),
                between_bytes_timeout: None,
            }),
            Some(Duration::from_secs(5)),
        );
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(o.first_byte_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.between_bytes_timeout, Some(Duration::from_secs(5)));
        assert_eq!(clamp(None, None), RequestOptions::default());
    }
}
