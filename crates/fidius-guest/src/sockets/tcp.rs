//! TCP client connections with timeouts.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Connects to `host:port` (a name or an address), trying each resolved
/// address in turn.
pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    TcpStream::connect_to((host, port))
}

/// A connected TCP stream (a thin wrapper over [`std::net::TcpStream`]).
#[derive(Debug)]
pub struct TcpStream(std::net::TcpStream);

impl TcpStream {
    /// Connects to the first address of `addr` that accepts.
    pub fn connect_to(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        std::net::TcpStream::connect(addr).map(TcpStream)
    }

    /// Connects to `host:port` within `budget` in total (name lookup and
    /// every address tried share it).
    pub fn connect_timeout(host: &str, port: u16, budget: Duration) -> io::Result<TcpStream> {
        let end = Instant::now() + budget;
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}:{port} resolved to no address"),
        );
        for addr in addrs {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {host}:{port} timed out"),
                ));
            }
            match std::net::TcpStream::connect_timeout(&addr, left) {
                Ok(s) => return Ok(TcpStream(s)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sets how long a read may wait (`None`: forever).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(d)
    }

    /// Sets how long a write may wait (`None`: forever).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(d)
    }

    /// Disables (or enables) Nagle's algorithm.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &std::net::TcpStream {
        &self.0
    }

    /// The underlying stream, mutably.
    pub fn get_mut(&mut self) -> &mut std::net::TcpStream {
        &mut self.0
    }

    /// Unwraps the underlying stream.
    pub fn into_std(self) -> std::net::TcpStream {
        self.0
    }
}

impl From<std::net::TcpStream> for TcpStream {
    fn from(s: std::net::TcpStream) -> Self {
        TcpStream(s)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.0).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_reads_and_writes_natively_within_its_budget() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let mut c = TcpStream::connect_timeout("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        assert_eq!(c.peer_addr().unwrap().port(), port);
        server.join().unwrap();
        // Nothing listens on a port we just released.
        let freed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = freed.local_addr().unwrap().port();
        drop(freed);
        assert!(connect("127.0.0.1", dead).is_err());
    }
}
