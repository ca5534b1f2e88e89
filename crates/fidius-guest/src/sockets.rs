//! Sockets for guests: `std::net` with connect and I/O timeouts. On
//! `wasm32-wasip2` `std::net` is `wasi:sockets`, brokered by the host.
//!
//! The host opens sockets only for plugins granted `tcp`/`udp` (each connect
//! or datagram then asks its egress policy) or `network` (any public address;
//! internal ones are refused). A refusal is an ordinary
//! `std::io::Error` (connection refused or permission denied), with no reason.
//! The same code runs natively, where the operating system decides.

pub mod tcp;
