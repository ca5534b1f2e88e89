//! Test fixture: the `Net` interface, whose plugin reaches out through
//! `fidius::http` and `fidius::sockets` — brokered by the host's egress
//! policy when built as a WASM component.

#![allow(unexpected_cfgs)]

use fidius::{plugin_impl, PluginError};
use std::io::{Read, Write};
use std::time::Duration;

/// Outbound requests on the guest's behalf.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Net: Send + Sync {
    /// `GET url` (timeout in ms, 0 for none): "STATUS BODY".
    fn fetch(&self, url: String, timeout_ms: u64) -> Result<String, PluginError>;
    /// `POST body` to `url` with a header the policy may strip: "STATUS BODY".
    fn post(&self, url: String, body: String) -> Result<String, PluginError>;
    /// Sends `msg` over TCP to `host:port` and reads the reply until EOF.
    fn tcp_echo(&self, host: String, port: u16, msg: String) -> Result<String, PluginError>;
    /// Sends `msg` in a UDP datagram to `addr` and returns the reply datagram.
    fn udp_echo(&self, addr: String, msg: String) -> Result<String, PluginError>;
    /// Sleeps `ms` milliseconds (a wait inside the host), then returns it.
    fn nap(&self, ms: u64) -> u64;
}

/// The plugin.
#[derive(Default)]
pub struct NetPlugin;

fn failed(code: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::new(code, e.to_string())
}

fn shown(r: fidius::http::Response) -> String {
    format!("{} {}", r.status, r.text())
}

#[plugin_impl(Net)]
impl Net for NetPlugin {
    fn fetch(&self, url: String, timeout_ms: u64) -> Result<String, PluginError> {
        let mut req = fidius::http::Request::get(url);
        if timeout_ms > 0 {
            req = req.timeout(Duration::from_millis(timeout_ms));
        }
        fidius::http::send(req).map(shown).map_err(|e| {
            failed(
                if e.is_denied() {
                    "DENIED"
                } else if e.is_timeout() {
                    "TIMEOUT"
                } else {
                    "HTTP"
                },
                e,
            )
        })
    }

    fn post(&self, url: String, body: String) -> Result<String, PluginError> {
        let req = fidius::http::Request::post(url, body.into_bytes())
            .header("x-guest-secret", "leak-me")
            .header("content-type", "text/plain");
        fidius::http::send(req)
            .map(shown)
            .map_err(|e| failed(if e.is_denied() { "DENIED" } else { "HTTP" }, e))
    }

    fn tcp_echo(&self, host: String, port: u16, msg: String) -> Result<String, PluginError> {
        let mut s =
            fidius::sockets::tcp::TcpStream::connect_timeout(&host, port, Duration::from_secs(5))
                .map_err(|e| failed("CONNECT", e))?;
        s.write_all(msg.as_bytes()).map_err(|e| failed("IO", e))?;
        s.get_ref()
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| failed("IO", e))?;
        let mut back = String::new();
        s.read_to_string(&mut back).map_err(|e| failed("IO", e))?;
        Ok(back)
    }

    fn udp_echo(&self, addr: String, msg: String) -> Result<String, PluginError> {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| failed("BIND", e))?;
        sock.send_to(msg.as_bytes(), addr.as_str())
            .map_err(|e| failed("SEND", e))?;
        let mut buf = [0u8; 1500];
        let (n, _) = sock.recv_from(&mut buf).map_err(|e| failed("RECV", e))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn nap(&self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
}

fidius::fidius_plugin_registry!();
