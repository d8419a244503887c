//! XEP-0114 Jabber Component Protocol: a blocking external component connection to a server's
//! component port over TCP, on the workspace's sans-IO framing.
//!
//! [`Component::connect`] opens the `jabber:component:accept` stream, answers the server's
//! stream id with the handshake (`hex(SHA-1(id ‖ secret))`, XEP-0114 §3) and waits for the
//! empty `<handshake/>` that accepts it. Stanzas are then exchanged as `minidom::Element`s:
//! what is read is re-namespaced to `jabber:client` (the namespace our parsers and builders
//! use), what is written from `jabber:client` to `jabber:component:accept`, so test code never
//! deals with the component namespace. Every read has a timeout.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use minidom::{Element, Node};
use xmpp_tether_core::framing::{
    ContentNamespace, Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter,
};
use xmpp_tether_core::{FramingError, WriteError};

use crate::{deadline_in, remaining};

/// The namespace of component streams.
pub const NS_COMPONENT: &str = ContentNamespace::ComponentAccept.as_str();
/// The namespace stanzas are handed out and taken in.
pub const NS_CLIENT: &str = ContentNamespace::Client.as_str();

/// What went wrong on a component connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// TCP or socket options failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not an XMPP stream.
    #[error("stream error: {0}")]
    Framing(#[from] FramingError),
    /// An element could not be written.
    #[error("write error: {0}")]
    Write(#[from] WriteError),
    /// The server's header carried no stream id, so no handshake can be computed.
    #[error("the server's stream header has no id")]
    NoStreamId,
    /// The server refused the handshake (a stream error) or closed the stream.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// Nothing arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

/// An accepted component connection.
#[derive(Debug)]
pub struct Component {
    stream: TcpStream,
    parser: StreamParser,
    writer: StreamWriter,
    domain: String,
}

impl Component {
    /// Connects to `addr` as component `domain` with `secret` and completes the handshake.
    pub fn connect(
        addr: SocketAddr,
        domain: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<Self, ComponentError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            parser: StreamParser::new(Limits::default()),
            writer: StreamWriter::new(),
            domain: domain.to_owned(),
        };
        let mut out = Vec::new();
        // XEP-0114 §3: no version attribute, `to` names the component.
        let mut header = StreamHeader::new(ContentNamespace::ComponentAccept).with_to(domain);
        header.version = None;
        c.writer.header(&header, &mut out);
        c.stream.write_all(&out)?;
        let id = match c.next_event(timeout, "the server's stream header")? {
            StreamEvent::Header(h) => h.id.ok_or(ComponentError::NoStreamId)?,
            other => return Err(ComponentError::Refused(format!("{other:?}"))),
        };
        let mut handshake = Element::bare("handshake", NS_COMPONENT);
        handshake.append_text(handshake_digest(&id, secret));
        c.write(&handshake)?;
        match c.next_event(timeout, "the handshake answer")? {
            StreamEvent::Element(el) if el.is("handshake", NS_COMPONENT) => Ok(c),
            StreamEvent::Element(el) => Err(ComponentError::Refused(String::from(&el))),
            StreamEvent::End => Err(ComponentError::Closed),
            other => Err(ComponentError::Refused(format!("{other:?}"))),
        }
    }

    /// The component's domain.
    #[must_use]
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Writes a stanza (built in `jabber:client`, re-namespaced for the component stream).
    pub fn send(&mut self, stanza: &Element) -> Result<(), ComponentError> {
        self.write(&renamespace(stanza, NS_CLIENT, NS_COMPONENT))
    }

    /// The next stanza, in `jabber:client`, or `None` when `timeout` passes first.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Element>, ComponentError> {
        match self.next_event(timeout, "a stanza") {
            Ok(StreamEvent::Element(el)) => Ok(Some(renamespace(&el, NS_COMPONENT, NS_CLIENT))),
            Ok(StreamEvent::End) => Err(ComponentError::Closed),
            Ok(_) => Ok(None),
            Err(ComponentError::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Closes the stream and the connection.
    pub fn close(mut self) {
        let mut out = Vec::new();
        self.writer.end(&mut out);
        let _ = self.stream.write_all(&out);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    fn write(&mut self, el: &Element) -> Result<(), ComponentError> {
        let mut out = Vec::new();
        self.writer.element(el, &mut out)?;
        self.stream.write_all(&out)?;
        Ok(())
    }

    fn next_event(
        &mut self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<StreamEvent, ComponentError> {
        let deadline = deadline_in(timeout);
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(event) = self.parser.poll()? {
                return Ok(event);
            }
            let left = remaining(deadline).ok_or(ComponentError::Timeout(what))?;
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ComponentError::Closed),
                Ok(n) => self.parser.feed(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ComponentError::Timeout(what));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// `el` with every element in namespace `from` moved to `to` (the stanza and its children in
/// the stanza namespace, such as `<body/>` and `<error/>`); other namespaces are kept.
#[must_use]
pub fn renamespace(el: &Element, from: &str, to: &str) -> Element {
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

/// The XEP-0114 §3 handshake: lowercase hex of SHA-1 over the stream id followed by the
/// shared secret.
#[must_use]
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut input = Vec::with_capacity(stream_id.len() + secret.len());
    input.extend_from_slice(stream_id.as_bytes());
    input.extend_from_slice(secret.as_bytes());
    sha1(&input).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1 (FIPS 180-4 §6.1). Here only for the XEP-0114 handshake, which is defined with it;
/// never use it for anything that needs collision resistance.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut data = message.to_vec();
    let bit_len = (message.len() as u64).wrapping_mul(8);
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&bit_len.to_be_bytes());
    for block in data.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_fips_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&[b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn the_handshake_is_hex_sha1_of_id_and_secret() {
        // Cross-checked with Python's hashlib.sha1(b"3BF96D32secret").
        assert_eq!(
            handshake_digest("3BF96D32", "secret"),
            "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136"
        );
    }

    #[test]
    fn renamespacing_keeps_foreign_children() {
        let el: Element = "<iq xmlns='jabber:component:accept' type='error'><error type='auth'>\
            <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            .parse()
            .expect("test XML");
        let client = renamespace(&el, NS_COMPONENT, NS_CLIENT);
        assert!(client.is("iq", NS_CLIENT));
        let error = client.get_child("error", NS_CLIENT).expect("error child");
        assert!(error.has_child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas"));
        assert_eq!(renamespace(&client, NS_CLIENT, NS_COMPONENT), el);
    }
}
