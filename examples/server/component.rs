//! External components (XEP-0114, `jabber:component:accept`): a push service or any other
//! service on its own domain (`--component push.localhost:secret`), connected on
//! `--component-listen`. Stanzas for its domain go to it; stanzas from it are routed like
//! any other.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use xmpp_tether::framing::{ContentNamespace, StreamEvent, StreamHeader};
use xmpp_tether::jid::Jid;
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::component::Handshake;
use xmpp_tether::xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether::xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use crate::io::Io;
use crate::state::{Shared, lock};

const COMPONENT: &str = "jabber:component:accept";

/// The components this server accepts: domain -> shared secret, and who is connected.
#[derive(Debug, Default)]
pub(crate) struct Components {
    secrets: HashMap<String, String>,
    connected: HashMap<String, mpsc::UnboundedSender<Element>>,
}

impl Components {
    /// Parses `domain:secret` entries.
    pub(crate) fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut secrets = HashMap::new();
        for entry in entries {
            let (domain, secret) = entry
                .split_once(':')
                .ok_or_else(|| format!("not domain:secret: {entry:?}"))?;
            jid::DomainPart::new(domain).map_err(|e| format!("bad domain {domain:?}: {e}"))?;
            secrets.insert(domain.to_owned(), secret.to_owned());
        }
        Ok(Self {
            secrets,
            connected: HashMap::new(),
        })
    }

    pub(crate) fn is_component(&self, domain: &str) -> bool {
        self.secrets.contains_key(domain)
    }
}

impl Shared {
    /// A stanza for a component's domain: to the component, or an error if it is not
    /// connected.
    pub(crate) fn to_component(&self, now: xmpp_tether::Now, domain: &str, stanza: Element) {
        let sent = match lock(&self.components).connected.get(domain) {
            Some(tx) => tx.send(stanza).map_err(|e| e.0),
            None => Err(stanza),
        };
        if let Err(stanza) = sent {
            self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable);
        }
    }
}

/// Accepts component connections until the server stops.
pub(crate) async fn listen(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        if let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(Arc::clone(&shared), socket));
        }
    }
}

async fn serve(shared: Arc<Shared>, socket: TcpStream) {
    let id = shared.conn_id();
    let mut io = Io::new(socket, shared.trace.then(|| format!("k{id}")));
    let Some(domain) = handshake(&shared, &mut io, id).await else {
        io.end().await;
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let previous = lock(&shared.components)
        .connected
        .insert(domain.clone(), tx);
    drop(previous);
    loop {
        tokio::select! {
            event = io.next() => match event {
                Ok(StreamEvent::Element(stanza)) => from_component(&shared, &domain, stanza),
                _ => break,
            },
            Some(stanza) = rx.recv() => {
                if io.send(&stanza).await.is_err() {
                    break;
                }
            }
        }
    }
    lock(&shared.components).connected.remove(&domain);
    io.end().await;
}

/// XEP-0114 §3: the component's header names its domain; it answers the stream id hashed
/// with the shared secret.
async fn handshake(shared: &Shared, io: &mut Io, id: u64) -> Option<String> {
    let Ok(StreamEvent::Header(header)) = io.next().await else {
        return None;
    };
    let domain = header.to.clone()?;
    let secret = lock(&shared.components).secrets.get(&domain).cloned()?;
    let stream_id = format!("k{id}");
    let ours = StreamHeader::new(ContentNamespace::ComponentAccept)
        .with_from(&domain)
        .with_id(&stream_id);
    io.header(&ours).await.ok()?;
    let Ok(StreamEvent::Element(el)) = io.next().await else {
        return None;
    };
    let expected = Handshake::from_stream_id_and_password(stream_id, &secret).data?;
    let given = Handshake::try_from(el).ok()?.data?;
    // Constant time in the digest's content.
    if expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        != 0
    {
        let error = StreamError::new(StreamCondition::NotAuthorized, "en", "handshake failed");
        let _ = io.send(&error.into()).await;
        return None;
    }
    io.send(&Handshake::new().into()).await.ok()?;
    Some(domain)
}

/// A stanza from the component: it must come from its own domain, and is routed like one
/// from a local client (to a local account, or to the server itself).
fn from_component(shared: &Shared, domain: &str, stanza: Element) {
    let from = stanza.attr("from").and_then(|f| f.parse::<Jid>().ok());
    if from.as_ref().is_none_or(|f| f.domain().as_str() != domain) {
        return;
    }
    // Components speak jabber:component:accept; inside the server everything is
    // jabber:client.
    let stanza = crate::xml::renamespace(stanza, COMPONENT, crate::xml::CLIENT);
    shared.route_from_component(shared.now(), stanza);
}
