//! A blocking client connection over plain TCP: stream header, SASL PLAIN (RFC 6120 §6,
//! RFC 4616) with the stream restart, or SASL2 (XEP-0388) with Bind2 (XEP-0386); resource
//! binding (RFC 6120 §7), and an abrupt cut to simulate a network loss. [`SmDriver`] runs an
//! `xmpp_sm::Client` over such a connection, inline requests in SASL2 and Bind2 included.

mod sasl2;
mod sm;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use jid::{BareJid, FullJid};
use minidom::Element;

pub use self::sasl2::{NS_BIND2, NS_SASL2, Sasl2Login, Sasl2Offer, Sasl2Success};
pub use self::sm::{InlineSm, SmDriver, SmError};
use crate::xml::{NS_CLIENT, StreamEvent, StreamHeader, StreamReader, StreamWriter, XmlError};
use crate::{deadline_in, remaining};

/// SASL namespace (RFC 6120 §6.4).
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding namespace (RFC 6120 §7).
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Stream error conditions namespace (RFC 6120 §4.9.3).
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// What went wrong on a client connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Reading or writing the stream failed.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Connecting or a socket option failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Nothing arrived in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The server closed the stream.
    #[error("the server closed the stream")]
    StreamClosed,
    /// The server sent a stream error (RFC 6120 §4.9).
    #[error("stream error from the server: {}", describe_failure(.0))]
    StreamError(Element),
    /// SASL failed (RFC 6120 §6.5): the `<failure/>` element.
    #[error("authentication failed: {}", describe_failure(.0))]
    AuthFailed(Element),
    /// The server does not offer what we need.
    #[error("the server does not offer {0}")]
    NotOffered(&'static str),
    /// The server answered something unexpected.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What we waited for.
        expected: &'static str,
        /// What came instead (serialised).
        got: String,
    },
}

/// "condition (text)" of a SASL `<failure/>` or stream `<error/>`.
pub(crate) fn describe_failure(el: &Element) -> String {
    let condition = el
        .children()
        .find(|c| c.name() != "text")
        .map_or("no condition", Element::name);
    match el
        .children()
        .find(|c| c.name() == "text")
        .map(Element::text)
    {
        Some(text) => format!("{condition} ({text})"),
        None => condition.to_owned(),
    }
}

impl ClientError {
    pub(crate) fn unexpected(expected: &'static str, got: &Element) -> Self {
        Self::Unexpected {
            expected,
            got: crate::xml::element_to_string(got).unwrap_or_else(|e| e.to_string()),
        }
    }
}

/// A client-to-server stream over plain TCP.
pub struct Connection {
    socket: TcpStream,
    reader: StreamReader<TcpStream>,
    writer: StreamWriter<TcpStream>,
    domain: String,
    stream_id: Option<String>,
    trace: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.socket.peer_addr().ok())
            .field("domain", &self.domain)
            .field("stream_id", &self.stream_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr`, opens a stream to `domain` and returns the connection with the
    /// server's first `<stream:features/>`.
    pub fn open(
        addr: SocketAddr,
        domain: &str,
        timeout: Duration,
    ) -> Result<(Self, Element), ClientError> {
        let socket = TcpStream::connect_timeout(&addr, timeout)?;
        socket.set_nodelay(true)?;
        socket.set_write_timeout(Some(timeout))?;
        let mut conn = Self {
            reader: StreamReader::new(socket.try_clone()?),
            writer: StreamWriter::new(socket.try_clone()?),
            socket,
            domain: domain.to_owned(),
            stream_id: None,
            trace: std::env::var("TETHER_TRACE")
                .ok()
                .map(|_| domain.to_owned()),
        };
        let features = conn.open_stream(timeout)?;
        Ok((conn, features))
    }

    /// [`Self::open`], SASL PLAIN as `jid`'s local part with `password`, the stream restart,
    /// and the post-authentication `<stream:features/>` (which carry `<bind/>` and `<sm/>`).
    pub fn login(
        addr: SocketAddr,
        jid: &BareJid,
        password: &str,
        timeout: Duration,
    ) -> Result<(Self, Element), ClientError> {
        let (mut conn, features) = Self::open(addr, jid.domain().as_str(), timeout)?;
        let plain_offered = features.get_child("mechanisms", NS_SASL).is_some_and(|m| {
            m.children()
                .any(|c| c.is("mechanism", NS_SASL) && c.text() == "PLAIN")
        });
        if !plain_offered {
            return Err(ClientError::NotOffered("SASL PLAIN"));
        }
        let user = jid.node().map_or("", |n| n.as_str());
        // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let auth = Element::builder("auth", NS_SASL)
            .attr(name("mechanism"), "PLAIN")
            .append(creds)
            .build();
        conn.send(&auth)?;
        let answer = conn.recv_element(timeout, "SASL success")?;
        if answer.is("failure", NS_SASL) {
            return Err(ClientError::AuthFailed(answer));
        }
        if !answer.is("success", NS_SASL) {
            return Err(ClientError::unexpected("<success/>", &answer));
        }
        // RFC 6120 §6.4.6: both sides start a new stream over the same connection.
        conn.reader.reset();
        let features = conn.open_stream(timeout)?;
        Ok((conn, features))
    }

    /// [`Self::open`] and a SASL2 login (XEP-0388) with PLAIN as `jid`'s local part, without
    /// inline stream management (see [`SmDriver::login_sasl2`] for that); with Bind2 when
    /// `login` asks for it. Returns the `<success/>` and the `<stream:features/>` after it.
    pub fn login_sasl2(
        addr: SocketAddr,
        jid: &BareJid,
        password: &str,
        login: &Sasl2Login,
        timeout: Duration,
    ) -> Result<(Self, Sasl2Success), ClientError> {
        let (mut conn, features) = Self::open(addr, jid.domain().as_str(), timeout)?;
        let offer = Sasl2Offer::from_features(&features).ok_or(ClientError::NotOffered("SASL2"))?;
        if !offer.has_mechanism("PLAIN") {
            return Err(ClientError::NotOffered("SASL2 PLAIN"));
        }
        if login.bind2.is_some() && offer.bind2.is_none() {
            return Err(ClientError::NotOffered("Bind2"));
        }
        let authenticate = login
            .authenticate_plain(jid, password, Vec::new(), Vec::new())
            .unwrap_or_else(|_| unreachable!("no Bind2 elements were given"));
        conn.send(&authenticate)?;
        let deadline = deadline_in(timeout);
        let success = loop {
            let el = conn.recv_element_until(deadline, timeout, "the SASL2 answer")?;
            match sasl2::Answer::of(&el) {
                Some(sasl2::Answer::Success(success)) => break success,
                Some(sasl2::Answer::Failure(failure)) => {
                    return Err(ClientError::AuthFailed(failure));
                }
                Some(sasl2::Answer::Challenge(c)) => {
                    return Err(ClientError::unexpected("SASL2 <success/>", &c));
                }
                None => {}
            }
        };
        // XEP-0388 §2.5: no stream restart; the next features follow <success/>.
        let features = conn.recv_element_until(deadline, timeout, "features after SASL2")?;
        if !features.is("features", crate::xml::NS_STREAMS) {
            return Err(ClientError::unexpected("<stream:features/>", &features));
        }
        Ok((conn, Sasl2Success::new(success, features)))
    }

    fn open_stream(&mut self, timeout: Duration) -> Result<Element, ClientError> {
        self.writer
            .write_header(&StreamHeader::client(&self.domain))?;
        let deadline = deadline_in(timeout);
        match self.recv_until(deadline, timeout, "the stream header")? {
            StreamEvent::Header(h) => self.stream_id = h.attr("id").map(str::to_owned),
            StreamEvent::Element(el) => return Err(ClientError::unexpected("a header", &el)),
            _ => return Err(ClientError::StreamClosed),
        }
        let features = self.recv_element_until(deadline, timeout, "stream features")?;
        if features.is("features", crate::xml::NS_STREAMS) {
            Ok(features)
        } else {
            Err(ClientError::unexpected("<stream:features/>", &features))
        }
    }

    /// Binds a resource (the server picks one if `resource` is `None`) and returns the full
    /// JID. Elements that arrive before the result are returned in `other`.
    pub fn bind(
        &mut self,
        resource: Option<&str>,
        timeout: Duration,
    ) -> Result<FullJid, ClientError> {
        let mut bind = Element::builder("bind", NS_BIND);
        if let Some(r) = resource {
            bind = bind.append(Element::builder("resource", NS_BIND).append(r).build());
        }
        let iq = Element::builder("iq", NS_CLIENT)
            .attr(name("type"), "set")
            .attr(name("id"), "bind-1")
            .append(bind.build())
            .build();
        self.send(&iq)?;
        let deadline = deadline_in(timeout);
        loop {
            let el = self.recv_element_until(deadline, timeout, "the bind result")?;
            if !(el.is("iq", NS_CLIENT) && el.attr("id") == Some("bind-1")) {
                continue;
            }
            let jid = el
                .get_child("bind", NS_BIND)
                .and_then(|b| b.get_child("jid", NS_BIND))
                .map(Element::text);
            return match (el.attr("type"), jid) {
                (Some("result"), Some(text)) => {
                    FullJid::new(&text).map_err(|_| ClientError::unexpected("a full JID", &el))
                }
                _ => Err(ClientError::unexpected("a bind result", &el)),
            };
        }
    }

    /// The stream id the server sent in its last header.
    #[must_use]
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// Writes one element.
    pub fn send(&mut self, el: &Element) -> Result<(), ClientError> {
        if let Some(tag) = &self.trace {
            eprintln!(
                "[{tag}] C: {}",
                crate::xml::element_to_string(el).unwrap_or_default()
            );
        }
        Ok(self.writer.write_element(el)?)
    }

    /// Writes raw bytes (for tests that need XML our types would not build).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        Ok(self.writer.write_raw(bytes)?)
    }

    /// The next stream event, or `None` if nothing arrived within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<StreamEvent>, ClientError> {
        // A zero read timeout means "block forever" to the OS; never pass it.
        let timeout = timeout.max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(timeout))?;
        match self.reader.next_event() {
            Ok(ev) => {
                if let (Some(tag), StreamEvent::Element(el)) = (&self.trace, &ev) {
                    eprintln!(
                        "[{tag}] S: {}",
                        crate::xml::element_to_string(el).unwrap_or_default()
                    );
                }
                Ok(Some(ev))
            }
            Err(XmlError::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn recv_until(
        &mut self,
        deadline: std::time::Instant,
        timeout: Duration,
        what: &str,
    ) -> Result<StreamEvent, ClientError> {
        loop {
            let Some(left) = remaining(deadline) else {
                return Err(ClientError::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            };
            if let Some(ev) = self.recv(left)? {
                return Ok(ev);
            }
        }
    }

    fn recv_element_until(
        &mut self,
        deadline: std::time::Instant,
        timeout: Duration,
        what: &str,
    ) -> Result<Element, ClientError> {
        match self.recv_until(deadline, timeout, what)? {
            StreamEvent::Element(el) if el.is("error", crate::xml::NS_STREAMS) => {
                Err(ClientError::StreamError(el))
            }
            StreamEvent::Element(el) => Ok(el),
            _ => Err(ClientError::StreamClosed),
        }
    }

    /// The next element within `timeout`; a timeout, the stream's end or a stream error is an
    /// error naming `what` was awaited.
    pub fn recv_element(&mut self, timeout: Duration, what: &str) -> Result<Element, ClientError> {
        self.recv_element_until(deadline_in(timeout), timeout, what)
    }

    /// Cuts the TCP connection in both directions without closing the stream: what a
    /// network loss looks like to both ends (data not yet read is lost).
    pub fn cut(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// Closes the stream politely (`</stream:stream>`) and then the socket.
    pub fn close(&mut self) {
        let _ = self.writer.write_close();
        let _ = self.socket.shutdown(Shutdown::Write);
    }
}

/// An attribute name known to be a valid XML name.
pub(crate) fn name(n: &'static str) -> minidom::rxml::NcName {
    // Invariant: only called with literal ASCII names.
    n.try_into()
        .unwrap_or_else(|_| unreachable!("{n} is a valid XML name"))
}
