//! Serde for the state that holds `minidom::Element`s (stored as XML text).
//!
//! Reading back is reading input: every stanza is parsed with the workspace's bounded parser
//! (nesting depth and size limited, so a hostile record can neither exhaust memory nor
//! overflow the stack when it is dropped), and a session record's structure is checked
//! before it exists ([`HibernatedSession::validate`] minus the configured limits, which
//! [`crate::SessionStore::adopt`] and [`crate::SessionStore::restore`] add).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use jid::{BareJid, FullJid};
use minidom::Element;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xmpp_tether_core::framing::{self, Limits};

use crate::config::RecordLimits;
use crate::core::{Counters, Queued};
use crate::elements::SmId;
use crate::ns::Namespace;
use crate::session::HibernatedSession;
use crate::transmit::Unacked;

#[derive(Serialize, Deserialize)]
struct StoredStanza {
    xml: String,
    first_sent: SystemTime,
}

fn parse(xml: &str) -> Result<Element, String> {
    framing::parse_element(xml.as_bytes(), &Limits::DEFAULT).map_err(|e| e.to_string())
}

/// A stanza as stored: the workspace's writer, which never recurses and never panics on a
/// caller-built element (minidom's own writer can, on some prefix declarations).
fn text(stanza: &Element) -> Result<String, String> {
    let mut out = Vec::new();
    framing::serialize_element(stanza, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

impl Serialize for Unacked {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoredStanza {
            xml: text(&self.stanza).map_err(serde::ser::Error::custom)?,
            first_sent: self.first_sent,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Unacked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredStanza::deserialize(d)?;
        let stanza = parse(&stored.xml).map_err(D::Error::custom)?;
        Ok(Self::new(stanza, stored.first_sent))
    }
}

/// A hibernated session as stored.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    id: SmId,
    owner: BareJid,
    resource: Option<FullJid>,
    ns: Namespace,
    outbound: u32,
    sent: u32,
    acked: u32,
    inbound: u32,
    max: u32,
    deadline: SystemTime,
    queue: Vec<StoredStanza>,
    /// Only on a checkpoint of a live stream (absent in records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpointed: Option<SystemTime>,
}

impl Serialize for HibernatedSession {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.counters;
        StoredSession {
            id: self.id.clone(),
            owner: self.owner.clone(),
            resource: self.resource.clone(),
            ns: c.ns,
            outbound: c.outbound,
            sent: c.sent,
            acked: c.acked,
            inbound: c.inbound,
            max: self.max,
            deadline: self.deadline,
            queue: c
                .queue
                .iter()
                .map(|q| {
                    Ok(StoredStanza {
                        xml: text(&q.stanza)?,
                        first_sent: q.first_sent,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(serde::ser::Error::custom)?,
            checkpointed: self.checkpointed,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HibernatedSession {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredSession::deserialize(d)?;
        let queue = stored
            .queue
            .into_iter()
            .enumerate()
            .map(|(index, q)| {
                let stanza = parse(&q.xml)
                    .map_err(|e| D::Error::custom(format!("queued stanza {index}: {e}")))?;
                Ok(Queued {
                    stanza: Arc::new(stanza),
                    first_sent: q.first_sent,
                })
            })
            .collect::<Result<VecDeque<_>, D::Error>>()?;
        let session = Self {
            id: stored.id,
            owner: stored.owner,
            resource: stored.resource,
            counters: Counters {
                ns: stored.ns,
                outbound: stored.outbound,
                sent: stored.sent,
                acked: stored.acked,
                inbound: stored.inbound,
                queue,
            },
            max: stored.max,
            deadline: stored.deadline,
            checkpointed: stored.checkpointed,
        };
        // The structure is checked here; the configured limits when the record is adopted.
        let unlimited = RecordLimits {
            max_queue: usize::MAX,
            max_resume: u32::MAX,
        };
        session.validate(unlimited).map_err(D::Error::custom)?;
        Ok(session)
    }
}
