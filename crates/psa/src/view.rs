//! The client side: a view of contacts' presence that knows which of it may be stale.

use std::collections::{BTreeMap, HashMap, HashSet};

use jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type};

use crate::config::ViewConfig;
use crate::elements::{Condition, Description, StateAnnotation};

/// Whether a resource's presence is current, as far as the annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// A plain presence, or one with the empty ("restored") annotation.
    Fresh,
    /// The last word was a stale annotation.
    Stale(Staleness),
}

/// What a stale annotation said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Staleness {
    /// Who annotated (`None` if the annotation did not say).
    pub annotator: Option<Jid>,
    /// Why.
    pub condition: Condition,
    /// The human-readable text, if any.
    pub description: Option<Description>,
}

/// One resource's (or bare JID's) latest available presence, and its freshness.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Resource {
    /// The presence, without its annotation.
    pub presence: Presence,
    /// Whether it may be stale.
    pub freshness: Freshness,
    seq: u64,
}

/// What [`View::handle_presence`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The sender's presence is current (a plain presence, or the empty annotation).
    Fresh,
    /// The sender's presence may be stale, for this reason.
    Stale(Condition),
    /// Unavailable or error: the sender is forgotten (a bare JID: with all its resources).
    Gone,
    /// Not an availability presence (a subscription, a probe), or without `from`.
    Ignored,
}

/// The outcome of [`View::handle_presence`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViewUpdate {
    /// What changed.
    pub change: Change,
    /// A resource evicted to make room ([`ViewConfig::max_resources`]): the least recently
    /// updated.
    pub evicted: Option<Jid>,
    /// Whether an annotation was ignored because its annotator is neither the client's own
    /// server nor the sender's domain (or it did not parse): the presence counted as plain.
    pub untrusted_annotation: bool,
}

/// A client's view of the presence it received, stale or fresh per resource (XEP-0310 from
/// the receiving end). Feed it every presence the client receives; read it to display.
///
/// Annotations count when their annotator is the client's own server
/// ([`ViewConfig::server`]), the sender's own domain (a remote MUC service annotating its
/// occupants, §4.3), or is not given (lenient reading); others are ignored, as the client's
/// server should have stripped them. A fresh presence or an empty annotation makes a resource
/// fresh; a stale annotation makes it stale; unavailable or error forgets it.
///
/// ```
/// use xmpp_psa::{Change, View, ViewConfig};
/// use xmpp_parsers::presence::Presence;
///
/// let mut view = View::new(ViewConfig::new("montague.lit".parse()?));
/// let juliet: minidom::Element = "<presence xmlns='jabber:client' \
///     from='juliet@capulet.lit/orchard' to='romeo@montague.lit/lane'>\
///     <status>Available</status><state-annotation xmlns='urn:xmpp:psa' \
///     from='montague.lit'><server-unavailable/></state-annotation></presence>".parse()?;
/// let update = view.handle_presence(&Presence::try_from(juliet)?);
/// assert!(matches!(update.change, Change::Stale(_)));
/// assert!(view.is_stale(&"juliet@capulet.lit/orchard".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct View {
    config: ViewConfig,
    resources: HashMap<Jid, Resource>,
    by_bare: HashMap<BareJid, HashSet<Jid>>,
    order: BTreeMap<u64, Jid>,
    seq: u64,
}

impl View {
    /// An empty view.
    #[must_use]
    pub fn new(config: ViewConfig) -> Self {
        Self {
            config,
            resources: HashMap::new(),
            by_bare: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
        }
    }

    /// A resource's latest available presence and freshness.
    #[must_use]
    pub fn resource(&self, jid: &Jid) -> Option<&Resource> {
        self.resources.get(jid)
    }

    /// A resource's freshness.
    #[must_use]
    pub fn freshness(&self, jid: &Jid) -> Option<&Freshness> {
        self.resources.get(jid).map(|r| &r.freshness)
    }

    /// Whether a resource is known and stale.
    #[must_use]
    pub fn is_stale(&self, jid: &Jid) -> bool {
        matches!(self.freshness(jid), Some(Freshness::Stale(_)))
    }

    /// The resources known for a bare JID (the bare JID itself included, if it sent presence
    /// as such).
    pub fn resources_of<'a>(
        &'a self,
        bare: &BareJid,
    ) -> impl Iterator<Item = (&'a Jid, &'a Resource)> + 'a {
        self.by_bare
            .get(bare)
            .into_iter()
            .flatten()
            .filter_map(|jid| Some((jid, self.resources.get(jid)?)))
    }

    /// Every known resource.
    pub fn iter(&self) -> impl Iterator<Item = (&Jid, &Resource)> {
        self.resources.iter()
    }

    /// How many resources are known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// A presence the client received.
    pub fn handle_presence(&mut self, presence: &Presence) -> ViewUpdate {
        let mut update = ViewUpdate {
            change: Change::Ignored,
            evicted: None,
            untrusted_annotation: false,
        };
        let Some(from) = &presence.from else {
            return update;
        };
        match presence.type_ {
            Type::Unavailable | Type::Error => {
                if from.is_full() {
                    self.remove(from);
                } else {
                    let all: Vec<Jid> = self
                        .by_bare
                        .get(&from.to_bare())
                        .map(|set| set.iter().cloned().collect())
                        .unwrap_or_default();
                    for jid in all {
                        self.remove(&jid);
                    }
                }
                update.change = Change::Gone;
            }
            Type::None => {
                let (freshness, untrusted) = self.freshness_of(from, presence);
                update.untrusted_annotation = untrusted;
                update.change = match &freshness {
                    Freshness::Fresh => Change::Fresh,
                    Freshness::Stale(staleness) => Change::Stale(staleness.condition.clone()),
                };
                let mut stored = presence.clone();
                let _ = StateAnnotation::remove_from(&mut stored);
                update.evicted = self.store(from.clone(), stored, freshness);
            }
            _ => {}
        }
        update
    }

    fn freshness_of(&self, from: &Jid, presence: &Presence) -> (Freshness, bool) {
        let Some(parsed) = StateAnnotation::of(presence) else {
            return (Freshness::Fresh, false);
        };
        let Ok(annotation) = parsed else {
            return (Freshness::Fresh, true);
        };
        let trusted = annotation.from.as_ref().is_none_or(|by| {
            by.node().is_none()
                && by.resource().is_none()
                && (by.domain() == &*self.config.server || by.domain() == from.domain())
        });
        if !trusted {
            return (Freshness::Fresh, true);
        }
        match annotation.condition {
            None => (Freshness::Fresh, false),
            Some(condition) => (
                Freshness::Stale(Staleness {
                    annotator: annotation.from,
                    condition,
                    description: annotation.description,
                }),
                false,
            ),
        }
    }

    fn store(&mut self, jid: Jid, presence: Presence, freshness: Freshness) -> Option<Jid> {
        self.seq += 1;
        let seq = self.seq;
        if let Some(resource) = self.resources.get_mut(&jid) {
            let _ = self.order.remove(&resource.seq);
            resource.presence = presence;
            resource.freshness = freshness;
            resource.seq = seq;
            let _ = self.order.insert(seq, jid);
            return None;
        }
        if self.config.max_resources == 0 {
            return Some(jid);
        }
        let mut evicted = None;
        if self.resources.len() >= self.config.max_resources
            && let Some((_, oldest)) = self.order.first_key_value()
        {
            let oldest = oldest.clone();
            self.remove(&oldest);
            evicted = Some(oldest);
        }
        let _ = self
            .by_bare
            .entry(jid.to_bare())
            .or_default()
            .insert(jid.clone());
        let _ = self.order.insert(seq, jid.clone());
        let _ = self.resources.insert(
            jid,
            Resource {
                presence,
                freshness,
                seq,
            },
        );
        evicted
    }

    fn remove(&mut self, jid: &Jid) {
        let Some(resource) = self.resources.remove(jid) else {
            return;
        };
        let _ = self.order.remove(&resource.seq);
        let bare = jid.to_bare();
        if let Some(set) = self.by_bare.get_mut(&bare) {
            let _ = set.remove(jid);
            if set.is_empty() {
                let _ = self.by_bare.remove(&bare);
            }
        }
    }
}
