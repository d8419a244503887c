//! A TCP proxy on 127.0.0.1 that can hold and cut links: what a dying network does to bytes
//! in flight, on demand. Each accepted connection becomes a [`Link`] to the upstream
//! address. Holding a direction keeps reading (so the sender's writes succeed, as they do
//! into a socket buffer) but forwards nothing; releasing it forwards what was held; cutting
//! the link shuts both sockets down and drops whatever is held. Both ends see an ordinary
//! connection loss (no `</stream:stream>`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::process::PeerError;
use crate::{deadline_in, remaining};

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

#[derive(Debug)]
struct Pipe {
    dest: TcpStream,
    held: bool,
    buf: Vec<u8>,
    forwarded: u64,
}

/// One proxied connection.
#[derive(Debug)]
pub struct Link {
    client: TcpStream,
    server: TcpStream,
    to_server: Mutex<Pipe>,
    to_client: Mutex<Pipe>,
    cut: AtomicBool,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Link {
    fn pipe(&self, dir: Direction) -> &Mutex<Pipe> {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }

    /// Stops forwarding `dir`: what arrives from now on is kept (in flight) until
    /// [`release`](Self::release), or lost at [`cut`](Self::cut).
    pub fn hold(&self, dir: Direction) {
        lock(self.pipe(dir)).held = true;
    }

    /// Forwards what `dir` held, and everything after it.
    pub fn release(&self, dir: Direction) {
        let mut pipe = lock(self.pipe(dir));
        pipe.held = false;
        let held = std::mem::take(&mut pipe.buf);
        if pipe.dest.write_all(&held).is_ok() {
            pipe.forwarded += held.len() as u64;
        }
    }

    /// The bytes `dir` holds, as text (lossy).
    #[must_use]
    pub fn held_text(&self, dir: Direction) -> String {
        String::from_utf8_lossy(&lock(self.pipe(dir)).buf).into_owned()
    }

    /// Waits (at most `timeout`) until what `dir` holds contains `needle`.
    pub fn wait_held(
        &self,
        dir: Direction,
        needle: &str,
        timeout: Duration,
    ) -> Result<(), PeerError> {
        let deadline = deadline_in(timeout);
        while !self.held_text(dir).contains(needle) {
            if remaining(deadline).is_none() {
                return Err(PeerError::Timeout {
                    what: format!("{needle:?} held {dir:?} (held: {:?})", self.held_text(dir)),
                    after: timeout,
                });
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Bytes forwarded in `dir` so far.
    #[must_use]
    pub fn forwarded(&self, dir: Direction) -> u64 {
        lock(self.pipe(dir)).forwarded
    }

    /// Cuts the link: both sockets shut down, held bytes dropped. Idempotent.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for dir in [Direction::ToServer, Direction::ToClient] {
            lock(self.pipe(dir)).buf.clear();
        }
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }

    /// Whether [`cut`](Self::cut) was called, or either end closed.
    #[must_use]
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Copies from `source` into `dir`'s pipe until either end goes away.
    fn pump(&self, mut source: TcpStream, dir: Direction) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if self.is_cut() {
                break;
            }
            let mut pipe = lock(self.pipe(dir));
            if pipe.held {
                pipe.buf.extend_from_slice(&buf[..n]);
            } else if pipe.dest.write_all(&buf[..n]).is_ok() {
                pipe.forwarded += n as u64;
            } else {
                break;
            }
        }
        // One end is gone: so is the link (a real network loss takes both directions; a
        // polite close is passed on as a close).
        if !self.is_cut() {
            let pipe = lock(self.pipe(dir));
            let _ = pipe.dest.shutdown(Shutdown::Write);
        }
    }
}

/// A listening proxy in front of `upstream`; every link is cut when it drops.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<Arc<Link>>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Self, PeerError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(PeerError::io("binding the proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(PeerError::io("reading the proxy's port"))?;
        listener
            .set_nonblocking(true)
            .map_err(PeerError::io("making the proxy's listener non-blocking"))?;
        let links = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted, stopped) = (Arc::clone(&links), Arc::clone(&stop));
        thread::spawn(move || accept(&listener, upstream, &accepted, &stopped));
        Ok(Self { addr, links, stop })
    }

    /// Where clients connect.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `index`th link accepted (from 0), waiting at most `timeout` for it.
    pub fn link(&self, index: usize, timeout: Duration) -> Result<Arc<Link>, PeerError> {
        let deadline = deadline_in(timeout);
        loop {
            if let Some(link) = self.lock().get(index) {
                return Ok(Arc::clone(link));
            }
            if remaining(deadline).is_none() {
                return Err(PeerError::Timeout {
                    what: format!("proxied connection #{index}"),
                    after: timeout,
                });
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many links were accepted so far.
    #[must_use]
    pub fn link_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Link>>> {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for link in self.lock().iter() {
            link.cut();
        }
    }
}

fn accept(
    listener: &TcpListener,
    upstream: SocketAddr,
    links: &Mutex<Vec<Arc<Link>>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => break,
        };
        let Some(link) = connect(client, upstream) else {
            continue;
        };
        let link = Arc::new(link);
        if let (Ok(from_client), Ok(from_server)) =
            (link.client.try_clone(), link.server.try_clone())
        {
            let up = Arc::clone(&link);
            thread::spawn(move || up.pump(from_client, Direction::ToServer));
            let down = Arc::clone(&link);
            thread::spawn(move || down.pump(from_server, Direction::ToClient));
        }
        links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(link);
    }
}

fn connect(client: TcpStream, upstream: SocketAddr) -> Option<Link> {
    client.set_nonblocking(false).ok()?;
    let server = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)).ok()?;
    for socket in [&client, &server] {
        socket.set_nodelay(true).ok()?;
    }
    let pipe = |dest: &TcpStream| -> Option<Mutex<Pipe>> {
        Some(Mutex::new(Pipe {
            dest: dest.try_clone().ok()?,
            held: false,
            buf: Vec::new(),
            forwarded: 0,
        }))
    };
    Some(Link {
        to_server: pipe(&server)?,
        to_client: pipe(&client)?,
        client,
        server,
        cut: AtomicBool::new(false),
    })
}
