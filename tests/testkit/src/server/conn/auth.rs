//! The connection's opening: stream header, SASL PLAIN against the account table, stream
//! restart and the post-authentication features (RFC 6120 §4.3, §6; RFC 4616).

use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Instant;

use base64::Engine as _;
use jid::BareJid;
use minidom::Element;
use xmpp_sm::Server;

use super::{Conn, End, HANDSHAKE};
use crate::client::{NS_BIND, NS_SASL};
use crate::server::ServerEvent;
use crate::xml::{NS_STREAMS, StreamEvent, StreamHeader, XmlError};
use crate::{deadline_in, remaining};

impl Conn<'_> {
    /// Stream header, SASL PLAIN, restart, post-auth features (RFC 6120 §4.3, §6).
    pub(super) fn handshake(&mut self) -> Result<(), End> {
        let deadline = deadline_in(HANDSHAKE);
        self.expect_header(deadline)?;
        let mechanisms = Element::builder("mechanisms", NS_SASL)
            .append(
                Element::builder("mechanism", NS_SASL)
                    .append("PLAIN")
                    .build(),
            )
            .build();
        self.write(
            &Element::builder("features", NS_STREAMS)
                .append(mechanisms)
                .build(),
        )?;
        let owner = loop {
            let auth = self.next_element(deadline)?;
            if !auth.is("auth", NS_SASL) {
                return Err(self.close_with("not-authorized", "authenticate first"));
            }
            if let Some(owner) = self.check_plain(&auth) {
                break owner;
            }
            let failure = Element::builder("failure", NS_SASL)
                .append(Element::bare("not-authorized", NS_SASL))
                .build();
            self.write(&failure)?;
        };
        self.write(&Element::bare("success", NS_SASL))?;
        // RFC 6120 §6.4.6: the client opens a new stream over the same connection.
        self.reader.reset();
        self.expect_header(deadline)?;
        let sm = Server::new(self.shared.config.sm.clone(), owner.clone());
        let mut features = Element::builder("features", NS_STREAMS)
            .append(Element::bare("bind", NS_BIND))
            .build();
        for f in sm.features() {
            features.append_child(f);
        }
        self.write(&features)?;
        self.sm = Some(sm);
        self.owner = Some(owner.clone());
        let mut hub = self.shared.lock();
        let log = ServerEvent::Authenticated {
            conn: self.id,
            jid: owner,
        };
        self.shared.log(&mut hub, log);
        Ok(())
    }

    fn expect_header(&mut self, deadline: Instant) -> Result<(), End> {
        match self.next_event(deadline)? {
            StreamEvent::Header(_) => {}
            StreamEvent::Element(_) => {
                return Err(self.close_with("not-well-formed", "expected a stream header"));
            }
            _ => return Err(End::Closed("the stream ended before it began".into())),
        }
        let header = StreamHeader::server(&self.shared.config.domain, &format!("s{}", self.id));
        self.writer
            .write_header(&header)
            .map_err(|e| End::Lost(e.to_string()))
    }

    fn next_event(&mut self, deadline: Instant) -> Result<StreamEvent, End> {
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(End::Stopping);
            }
            if remaining(deadline).is_none() {
                return Err(self.close_with("connection-timeout", "authentication took too long"));
            }
            match self.reader.next_event() {
                Ok(ev) => return Ok(ev),
                Err(XmlError::Timeout) => {}
                Err(e) => return Err(End::Lost(e.to_string())),
            }
        }
    }

    fn next_element(&mut self, deadline: Instant) -> Result<Element, End> {
        match self.next_event(deadline)? {
            StreamEvent::Element(el) => {
                self.trace("C", &el);
                Ok(el)
            }
            _ => Err(End::Closed("the client closed the stream".into())),
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`, checked against the account table.
    fn check_plain(&self, auth: &Element) -> Option<BareJid> {
        if auth.attr("mechanism") != Some("PLAIN") {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.text().trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
        let hub = self.shared.lock();
        if hub.accounts.get(user).map(String::as_str) != Some(password) {
            return None;
        }
        BareJid::new(&format!("{user}@{}", self.shared.config.domain)).ok()
    }

    pub(super) fn close_with(&mut self, condition: &str, text: &str) -> End {
        const NS_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
        let error = Element::builder("error", NS_STREAMS)
            .append(Element::bare(condition, NS_ERRORS))
            .append(Element::builder("text", NS_ERRORS).append(text).build())
            .build();
        let _ = self.write(&error);
        let _ = self.writer.write_close();
        let _ = self.socket.shutdown(Shutdown::Write);
        End::Closed(format!("{condition}: {text}"))
    }
}
