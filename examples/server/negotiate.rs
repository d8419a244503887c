//! Opening a stream (RFC 6120 §4), its features, legacy SASL (§6) and resource binding (§7).
//! SASL2 and Bind2 are in `sasl2.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use xmpp_tether::framing::{StreamEvent, StreamHeader};
use xmpp_tether::jid::FullJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::Server;
use xmpp_tether::sm::elements::inline;
use xmpp_tether::xmpp_parsers::stanza_error::{DefinedCondition as StanzaCondition, ErrorType};
use xmpp_tether::xmpp_parsers::stream_error::DefinedCondition;

use crate::auth::{Exchange, MECHANISMS, Step};
use crate::conn::{Conn, End, stream_error};
use crate::xml::{self, CLIENT};

pub(crate) const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub(crate) const SASL2: &str = "urn:xmpp:sasl:2";
pub(crate) const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub(crate) const BIND2: &str = "urn:xmpp:bind:0";
const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";

impl Conn {
    /// From the client's first header to an authenticated stream whose `Server` exists.
    pub(crate) async fn negotiate(&mut self) -> Result<(), End> {
        self.open().await?;
        self.write(&self.auth_features()).await?;
        loop {
            let el = self.element().await?;
            if el.is("auth", SASL) {
                if let Some(user) = self.legacy_sasl(&el).await? {
                    // RFC 6120 §6.4.6: both sides restart the stream after success.
                    self.io.restart();
                    self.open().await?;
                    self.start_session(&user)?;
                    let features = self.bound_features(true);
                    return self.write(&features).await;
                }
            } else if el.is("authenticate", SASL2) {
                if self.sasl2(el).await? {
                    return Ok(());
                }
            } else {
                return Err(End::Closed(Some(stream_error(
                    DefinedCondition::NotAuthorized,
                ))));
            }
        }
    }

    /// Reads the client's stream header and answers with ours.
    async fn open(&mut self) -> Result<(), End> {
        match self.io.next().await {
            Ok(StreamEvent::Header(header)) => {
                if header.to.as_deref() != Some(&self.shared.domain) {
                    let _ = self.io.header(&self.our_header()).await;
                    return Err(End::Closed(Some(stream_error(
                        DefinedCondition::HostUnknown,
                    ))));
                }
                self.io
                    .header(&self.our_header())
                    .await
                    .map_err(|_| End::Lost)
            }
            Ok(_) => Err(End::Closed(Some(stream_error(
                DefinedCondition::NotWellFormed,
            )))),
            Err(crate::io::ReadError::Framing(e)) => Err(End::Closed(Some(e.stream_error()))),
            Err(crate::io::ReadError::Lost(_)) => Err(End::Lost),
        }
    }

    fn our_header(&self) -> StreamHeader {
        StreamHeader::server(&self.shared.domain, &format!("s{}", self.id))
    }

    pub(crate) async fn element(&mut self) -> Result<Element, End> {
        match self.io.next().await {
            Ok(StreamEvent::Element(el)) => Ok(el),
            Ok(StreamEvent::End) => Err(End::Closed(None)),
            Ok(_) => Err(End::Closed(Some(stream_error(
                DefinedCondition::NotWellFormed,
            )))),
            Err(crate::io::ReadError::Framing(e)) => Err(End::Closed(Some(e.stream_error()))),
            Err(crate::io::ReadError::Lost(_)) => Err(End::Lost),
        }
    }

    pub(crate) async fn write(&mut self, el: &Element) -> Result<(), End> {
        self.io.send(el).await.map_err(|_| End::Lost)
    }

    /// Before authentication: SASL and SASL2 (with what SASL2 can do inline).
    fn auth_features(&self) -> Element {
        let mechanisms = || {
            MECHANISMS
                .iter()
                .map(|m| Element::builder("mechanism", SASL).append(*m).build())
        };
        let legacy = Element::builder("mechanisms", SASL)
            .append_all(mechanisms())
            .build();
        let sasl2_mechanisms = MECHANISMS
            .iter()
            .map(|m| Element::builder("mechanism", SASL2).append(*m).build());
        // XEP-0198 §9: stream management inline in SASL2 and in Bind2 (once each: xmpp.js
        // sends one <enable/> per advertised feature).
        // sm {
        let sm_inline = inline::sasl2_inline_feature();
        let bind2_sm_inline = inline::bind2_inline_feature();
        // sm }
        let bind_inline = Element::builder("inline", BIND2)
            .append(bind2_sm_inline)
            .append(xmpp_tether::push2::bind2_inline_feature()) // push2
            .build();
        let inline = Element::builder("inline", SASL2)
            .append(sm_inline)
            .append(Element::builder("bind", BIND2).append(bind_inline).build())
            .build();
        let sasl2 = Element::builder("authentication", SASL2)
            .append_all(sasl2_mechanisms)
            .append(inline)
            .build();
        features([legacy, sasl2])
    }

    /// After authentication: binding (unless done) and stream management (unless on).
    pub(crate) fn bound_features(&self, bind: bool) -> Element {
        let mut children = Vec::new();
        if bind {
            children.push(Element::bare("bind", BIND));
            children.push(
                Element::builder("session", SESSION)
                    .append(Element::bare("optional", SESSION))
                    .build(),
            );
        }
        // The stream offers <sm/> only while it can still be enabled or resumed.
        // sm {
        children.extend(self.sm.iter().flat_map(Server::features));
        // sm }
        features(children)
    }

    /// RFC 6120 §6.4: one exchange; `Some(user)` once `<success/>` was sent.
    async fn legacy_sasl(&mut self, auth: &Element) -> Result<Option<String>, End> {
        let mechanism = auth.attr("mechanism").unwrap_or_default();
        let Some(mut exchange) = Exchange::start(&self.shared.accounts, mechanism) else {
            self.write(&sasl_failure(SASL, "invalid-mechanism")).await?;
            return Ok(None);
        };
        let Ok(mut input) = initial_response(&auth.text()) else {
            self.write(&sasl_failure(SASL, "incorrect-encoding"))
                .await?;
            return Ok(None);
        };
        loop {
            match exchange.step(input.as_deref()) {
                Step::Challenge(data) => {
                    let challenge = Element::builder("challenge", SASL)
                        .append(B64.encode(data))
                        .build();
                    self.write(&challenge).await?;
                    let response = self.element().await?;
                    let decoded = B64.decode(response.text().trim());
                    match (response.is("response", SASL), decoded) {
                        (true, Ok(bytes)) => input = Some(bytes),
                        _ => {
                            self.write(&sasl_failure(SASL, "aborted")).await?;
                            return Ok(None);
                        }
                    }
                }
                Step::Success { user, data } => {
                    let mut success = Element::bare("success", SASL);
                    if let Some(data) = data {
                        success.append_text_node(B64.encode(data));
                    }
                    self.write(&success).await?;
                    return Ok(Some(user));
                }
                Step::Failure => {
                    self.write(&sasl_failure(SASL, "not-authorized")).await?;
                    return Ok(None);
                }
            }
        }
    }

    /// The authenticated account gets its stream machine.
    pub(crate) fn start_session(&mut self, user: &str) -> Result<(), End> {
        let owner = self.shared.bare(user).ok_or(End::Closed(None))?;
        let rng = &mut *crate::state::lock(&self.shared.rng);
        // sm {
        self.sm = Some(self.shared.sessions.stream(owner, self.handle.clone(), rng));
        // sm }
        Ok(())
    }

    /// Serves `<iq type='set'><bind/></iq>` (RFC 6120 §7) on a stream without a resource.
    pub(crate) async fn bind_request(&mut self, iq: &Element) -> Result<(), End> {
        let bind = iq.get_child("bind", BIND);
        let (Some(bind), true) = (bind, iq.is("iq", CLIENT) && iq.attr("type") == Some("set"))
        else {
            if let Some(error) = xml::error(iq, ErrorType::Auth, StanzaCondition::NotAuthorized) {
                self.write(&error).await?;
            }
            return Ok(());
        };
        let wanted = bind
            .get_child("resource", BIND)
            .map(Element::text)
            .filter(|r| !r.trim().is_empty());
        let reply = match self.bind(wanted.as_deref()) {
            Some(jid) => {
                let jid_el = Element::builder("jid", BIND)
                    .append(jid.to_string())
                    .build();
                xml::result(
                    iq,
                    Some(Element::builder("bind", BIND).append(jid_el).build()),
                )
            }
            None => xml::error(iq, ErrorType::Cancel, StanzaCondition::NotAllowed)
                .unwrap_or_else(|| xml::result(iq, None)),
        };
        self.write(&reply).await
    }

    /// Binds `wanted` (or a fresh resource), another one if it is in use (RFC 6120
    /// §7.7.2.2). `None` if the stream cannot be bound (it was resumed).
    pub(crate) fn bind(&mut self, wanted: Option<&str>) -> Option<FullJid> {
        let now = self.shared.now();
        let owner = self.owner()?;
        let fresh = || {
            format!(
                "{:08x}",
                rand_core::Rng::next_u32(&mut *crate::state::lock(&self.shared.rng))
            )
        };
        let first = wanted.map_or_else(fresh, str::to_owned);
        for resource in [first.clone(), format!("{first}-{}", fresh())] {
            let Ok(jid) = owner.with_resource_str(&resource) else {
                continue;
            };
            // In use (RFC 6120 §7.7.2.2)? Then the next candidate.
            // sm {
            if self.sm.as_mut()?.handle_bind(now, jid).is_ok() {
                #[cfg(feature = "cluster")] // cluster
                self.shared.cluster_live(self.jid().as_ref(), self.id); // cluster
                return self.jid();
            }
            // sm }
        }
        None
    }
}

fn features(children: impl IntoIterator<Item = Element>) -> Element {
    Element::builder("features", xmpp_tether::framing::NS_STREAMS)
        .append_all(children)
        .build()
}

/// A SASL `<failure/>` in `ns` with `condition` (RFC 6120 §6.5).
pub(crate) fn sasl_failure(ns: &str, condition: &str) -> Element {
    Element::builder("failure", ns)
        .append(Element::bare(condition, SASL))
        .build()
}

/// RFC 6120 §6.4.2: no initial response is an empty `<auth/>`, an empty one is `=`.
pub(crate) fn initial_response(text: &str) -> Result<Option<Vec<u8>>, base64::DecodeError> {
    match text.trim() {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        encoded => B64.decode(encoded).map(Some),
    }
}
