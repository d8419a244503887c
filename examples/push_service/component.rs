//! An XEP-0114 external component connection over tokio, on the workspace's sans-IO framing
//! (`xmpp_tether::framing`): connect to the server's component port, open a
//! `jabber:component:accept` stream, answer the stream id with the handshake, then exchange
//! stanzas as `minidom::Element`s.
//!
//! Stanzas are handed out and taken in as `jabber:client` (the namespace the tether crates
//! build and parse) and re-namespaced on the wire, so the protocol modules never see
//! `jabber:component:accept`.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xmpp_tether::framing::{
    ContentNamespace, Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter,
};
use xmpp_tether::minidom::{Element, Node};
use xmpp_tether::xmpp_parsers::sha1::{Digest, Sha1};

const NS_COMPONENT: &str = ContentNamespace::ComponentAccept.as_str();
const NS_CLIENT: &str = ContentNamespace::Client.as_str();

/// An accepted component stream.
pub(crate) struct Component {
    socket: TcpStream,
    parser: StreamParser,
    writer: StreamWriter,
    buf: Vec<u8>,
}

impl Component {
    /// Connects to `addr` as `domain`, authenticating with the shared `secret` (XEP-0114 §3).
    pub(crate) async fn connect(
        addr: &str,
        domain: &str,
        secret: &str,
        timeout: Duration,
    ) -> io::Result<Self> {
        let socket = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting"))??;
        socket.set_nodelay(true)?;
        let mut c = Self {
            socket,
            parser: StreamParser::new(Limits::default()),
            writer: StreamWriter::new(),
            buf: vec![0; 16 * 1024],
        };
        let mut header = StreamHeader::new(ContentNamespace::ComponentAccept).with_to(domain);
        header.version = None;
        let mut out = Vec::new();
        c.writer.header(&header, &mut out);
        c.socket.write_all(&out).await?;
        let id = match c.next_event(timeout).await? {
            Some(StreamEvent::Header(h)) => h.id.ok_or_else(|| refused("no stream id"))?,
            other => return Err(refused(&format!("expected a stream header, got {other:?}"))),
        };
        let mut handshake = Element::bare("handshake", NS_COMPONENT);
        handshake.append_text(digest(&id, secret));
        c.write(&handshake).await?;
        match c.next_event(timeout).await? {
            Some(StreamEvent::Element(el)) if el.is("handshake", NS_COMPONENT) => Ok(c),
            Some(StreamEvent::Element(el)) => Err(refused(&String::from(&el))),
            other => Err(refused(&format!("{other:?}"))),
        }
    }

    /// The next stanza (in `jabber:client`); `None` when the server closed the stream.
    pub(crate) async fn recv(&mut self) -> io::Result<Option<Element>> {
        loop {
            match self.next_event(Duration::MAX).await? {
                Some(StreamEvent::Element(el)) => {
                    return Ok(Some(renamespace(&el, NS_COMPONENT, NS_CLIENT)));
                }
                Some(StreamEvent::End) | None => return Ok(None),
                Some(_) => {}
            }
        }
    }

    /// Writes a stanza built in `jabber:client`.
    pub(crate) async fn send(&mut self, stanza: &Element) -> io::Result<()> {
        self.write(&renamespace(stanza, NS_CLIENT, NS_COMPONENT))
            .await
    }

    /// Closes the stream.
    pub(crate) async fn close(mut self) -> io::Result<()> {
        let mut out = Vec::new();
        self.writer.end(&mut out);
        self.socket.write_all(&out).await?;
        self.socket.shutdown().await
    }

    async fn write(&mut self, el: &Element) -> io::Result<()> {
        let mut out = Vec::new();
        self.writer
            .element(el, &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.socket.write_all(&out).await
    }

    /// The next framing event; `None` at end of file.
    async fn next_event(&mut self, timeout: Duration) -> io::Result<Option<StreamEvent>> {
        loop {
            if let Some(event) = self
                .parser
                .poll()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                return Ok(Some(event));
            }
            let read = self.socket.read(&mut self.buf);
            let n = if timeout == Duration::MAX {
                read.await?
            } else {
                tokio::time::timeout(timeout, read)
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reading"))??
            };
            if n == 0 {
                return Ok(None);
            }
            self.parser.feed(&self.buf[..n]);
        }
    }
}

fn refused(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("component handshake refused: {why}"),
    )
}

/// `hex(SHA-1(stream id ‖ secret))`, the XEP-0114 §3 handshake.
fn digest(stream_id: &str, secret: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(stream_id.as_bytes());
    sha.update(secret.as_bytes());
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `el` with every element in namespace `from` moved to `to`; other namespaces are kept.
fn renamespace(el: &Element, from: &str, to: &str) -> Element {
    let ns = el.ns();
    let mut out = Element::bare(el.name(), if ns == from { to } else { ns.as_str() });
    for ((attr_ns, name), value) in el.attrs().iter() {
        out.set_attr(attr_ns.clone(), name.clone(), value.clone());
    }
    for node in el.nodes() {
        match node {
            Node::Element(child) => {
                out.append_child(renamespace(child, from, to));
            }
            Node::Text(text) => out.append_text(text.clone()),
        }
    }
    out
}
