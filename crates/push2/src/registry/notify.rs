//! Matching a routed stanza against an account's registrations, and building the
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use jid::{BareJid, Jid};
use rand_core::CryptoRng;
use xmpp_push2_crypto::Now;
use xmpp_push2_crypto::error::NotifyError;

use super::table::{ActiveMatch, ActiveSend, Registration, WebPushKeys};
use super::{CustomProfiles, Registry};
use crate::elements::{Jwt, MatchProfile, Notification};
use crate::error::BuildError;
use crate::minimise::{ArchiveId, Minimised, minimise};
use crate::ns;
use crate::stanza::{Classification, RegistrationKey, Routed, SessionStatus, StanzaKind};

/// What [`Registry::select`] decided for one stanza.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Selection<'a> {
    /// What the stanza is.
    pub classification: Classification,
    /// The registrations that get a notification, at most one entry each, in the account's
    /// order.
    pub selected: Vec<Selected<'a>>,
}

/// A registration that gets a notification, and the match that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selected<'a> {
    /// The registration.
    pub key: &'a RegistrationKey,
    /// The position of the deciding `<match/>` in its `<enable/>` (the first that matched).
    pub match_index: usize,
    /// Its profile.
    pub profile: &'a MatchProfile,
}

impl<P: CustomProfiles> Registry<P> {
    /// Which registrations of `routed.account` a stanza would notify, without changing
    /// anything. For each registration, in order:
    ///
    /// 1. skipped if its session is live ([`SessionStatus::Live`]): the client gets the
    ///    stanza itself; a call proposal still goes through with
    ///    [`RegistryConfig::calls_reach_live_sessions`](crate::RegistryConfig);
    /// 2. its matches are tried in order, and the first whose profile matches, whose
    ///    `<grace/>` has passed (no other session of the user active that recently; calls
    ///    ignore grace) and whose filters let the stanza through decides: one notification
    ///    per registration per stanza, however many matches would hit.
    ///
    /// Filters: a stanza from a filtered JID (compared with the sender's full JID, bare JID
    /// and domain) goes through only if the filter lets mentions through and the body
    /// contains the user's nickname in the room (or, outside rooms, the account's local
    /// part), compared case-insensitively, or lets replies through and the stanza is a
    /// XEP-0461 reply to the user.
    #[must_use]
    pub fn select(&self, now: Now, routed: &Routed<'_>) -> Selection<'_> {
        let classification = Classification::of(routed);
        let mut selected = Vec::new();
        let Some(account) = self.accounts.get(routed.account) else {
            return Selection {
                classification,
                selected,
            };
        };
        let mut sender = Lazy::default();
        for registration in &account.registrations {
            if let Some((match_index, m)) =
                self.decide(now, routed, &classification, registration, &mut sender)
            {
                selected.push(Selected {
                    key: &registration.key,
                    match_index,
                    profile: &m.profile,
                });
            }
        }
        Selection {
            classification,
            selected,
        }
    }

    fn decide<'r>(
        &self,
        now: Now,
        routed: &Routed<'_>,
        c: &Classification,
        registration: &'r Registration,
        sender: &mut Lazy,
    ) -> Option<(usize, &'r ActiveMatch)> {
        let call = c.is_call();
        let live = routed
            .sessions
            .iter()
            .any(|s| s.key == registration.key && s.status == SessionStatus::Live);
        if live && !(call && self.config.calls_reach_live_sessions) {
            return None;
        }
        registration.matches.iter().enumerate().find(|(_, m)| {
            self.profile_matches(&m.profile, routed, c)
                && (call
                    || m.grace
                        .is_none_or(|g| !others_active(routed, &registration.key, now, g)))
                && (m.filters.is_empty() || passes_filters(m, routed, c, sender))
        })
    }

    fn profile_matches(
        &self,
        profile: &MatchProfile,
        routed: &Routed<'_>,
        c: &Classification,
    ) -> bool {
        match profile {
            MatchProfile::All => true,
            MatchProfile::Important => c.is_important(),
            MatchProfile::Archived => c.archived,
            MatchProfile::ArchivedWithBody => c.archived && c.has_content(),
            MatchProfile::Other(uri) => self.profiles.matches(uri, routed, c),
        }
    }

    /// Sends a notification for a stanza routed to an account to every registration
    /// [`select`](Self::select) picks, and returns how many were queued. Call it for every
    /// stanza the server routes to the account (delivered to sessions, queued in hibernated
    /// ones, stored offline or archived), once, with the context only the server knows.
    ///
    /// Each notification follows its match's send profile: notify-only, or the stanza (a
    /// carbon's forwarded message) minimised to the [`SizeBudget`](crate::SizeBudget),
    /// wrapped in a XEP-0420 envelope, padded, RFC 8291-encrypted for the client's keys, with
    /// an RFC 8292 token from the client's key (from a cache: one signature per key and
    /// claims every few hours). The envelope is minimised and written once per stanza, and
    /// padded and encrypted per registration. A presence or iq matched by `all` or a custom profile is
    /// sent with no payload, as XEP-0297 forwards messages only. A notification that cannot
    /// be built is reported ([`Event::NotBuilt`](crate::Event::NotBuilt)).
    pub fn handle_routed(
        &mut self,
        now: Now,
        rng: &mut impl CryptoRng,
        routed: &Routed<'_>,
    ) -> usize {
        if self
            .accounts
            .get(routed.account)
            .is_none_or(|a| a.registrations.is_empty())
        {
            return 0;
        }
        let (classification, chosen) = {
            let selection = self.select(now, routed);
            let chosen: Vec<Chosen> = selection
                .selected
                .iter()
                .filter_map(|s| self.chosen(routed.account, s))
                .collect();
            (selection.classification, chosen)
        };
        let content = routed.content();
        let forwardable = classification.kind == StanzaKind::Message;
        let mut envelope: Option<Result<Minimised, (usize, usize)>> = None;
        let budget = self.config.budget;
        let time = self.config.envelope_time.then_some(now);
        let archive = routed.archive_id.map(|id| ArchiveId {
            by: routed.account,
            id,
        });
        let from = Jid::from(BareJid::from_parts(None, routed.account.domain()));
        let mut sent = 0;
        for chosen in chosen {
            let mut notification = Notification::new(&*chosen.client, classification.priority());
            notification.voip = classification.is_call();
            if let ActiveSend::WebPush(keys) = &chosen.send {
                let minimised = if forwardable {
                    let m = envelope.get_or_insert_with(|| {
                        minimise(content, budget.octets(), archive, time).map_err(|e| match e {
                            BuildError::DoesNotFit { len, limit } => (len, limit),
                            BuildError::Crypto(_) => (usize::MAX, budget.octets()),
                        })
                    });
                    match m {
                        Ok(m) => Some(&*m),
                        Err((len, limit)) => {
                            let (len, limit) = (*len, *limit);
                            self.not_built(
                                routed.account,
                                chosen.key,
                                BuildError::DoesNotFit { len, limit },
                            );
                            continue;
                        }
                    }
                } else {
                    None
                };
                let padding = self.config.padding.padding(budget);
                match self.seal(now, rng, keys, minimised, padding, notification) {
                    Ok(n) => notification = n,
                    Err(error) => {
                        self.not_built(routed.account, chosen.key, error.into());
                        continue;
                    }
                }
            }
            self.send_new(
                now,
                routed.account,
                chosen.key,
                chosen.generation,
                from.clone(),
                chosen.service,
                Arc::new(notification),
            );
            sent += 1;
        }
        sent
    }

    /// Encrypts the envelope (if any) and adds the token.
    fn seal(
        &mut self,
        now: Now,
        rng: &mut impl CryptoRng,
        keys: &WebPushKeys,
        minimised: Option<&Minimised>,
        padding: xmpp_push2_crypto::Padding,
        mut notification: Notification,
    ) -> Result<Notification, NotifyError> {
        if let Some(m) = minimised {
            let plaintext = m.bytes.to_padded_bytes(rng, padding)?;
            let body =
                xmpp_push2_crypto::encrypt(rng, &keys.ua_public, &keys.auth_secret, &plaintext)?;
            notification.payload = Some(body);
        }
        if let Some((key, claims)) = &keys.vapid {
            let token = self.tokens.token(now, key, claims)?;
            notification.jwt = Some(Jwt::new(*token.public_key(), token.as_str()));
        }
        Ok(notification)
    }

    fn not_built(&mut self, account: &BareJid, key: RegistrationKey, error: BuildError) {
        self.emit(crate::Event::NotBuilt {
            account: account.clone(),
            key,
            error,
        });
    }

    fn chosen(&self, account: &BareJid, s: &Selected<'_>) -> Option<Chosen> {
        let a = self.accounts.get(account)?;
        let r = a.registrations.iter().find(|r| r.key == *s.key)?;
        let m = r.matches.get(s.match_index)?;
        Some(Chosen {
            key: r.key.clone(),
            generation: r.generation,
            service: r.service.clone(),
            client: Arc::clone(&r.client),
            send: match &m.send {
                ActiveSend::NotifyOnly => ActiveSend::NotifyOnly,
                ActiveSend::WebPush(k) => ActiveSend::WebPush(Arc::clone(k)),
            },
        })
    }
}

/// What a selected registration's notification is built from, taken out of the table so the
/// registry can be changed while it is built.
struct Chosen {
    key: RegistrationKey,
    generation: u64,
    service: Jid,
    client: Arc<str>,
    send: ActiveSend,
}

/// The sender's JID, parsed once and only if a filter needs it.
#[derive(Default)]
struct Lazy(Option<Option<Jid>>);

impl Lazy {
    fn get(&mut self, routed: &Routed<'_>) -> Option<&Jid> {
        self.0
            .get_or_insert_with(|| routed.content().attr("from").and_then(|f| f.parse().ok()))
            .as_ref()
    }
}

/// Whether a session of the account other than `key`'s was active less than `grace` ago.
fn others_active(routed: &Routed<'_>, key: &RegistrationKey, now: Now, grace: Duration) -> bool {
    routed.sessions.iter().any(|s| {
        s.key != *key
            && s.last_activity
                .is_some_and(|at| now.monotonic().saturating_duration_since(at) < grace)
    })
}

/// Whether the match's filters let the stanza through.
fn passes_filters(
    m: &ActiveMatch,
    routed: &Routed<'_>,
    c: &Classification,
    sender: &mut Lazy,
) -> bool {
    let Some(from) = sender.get(routed).cloned() else {
        return true;
    };
    let bare = Jid::from(from.to_bare());
    let domain = Jid::from(BareJid::from_parts(None, from.domain()));
    let Some(filter) = m
        .filters
        .iter()
        .find(|f| f.jid == from || f.jid == bare || f.jid == domain)
    else {
        return true;
    };
    (filter.mention && mentions_user(routed, c))
        || (filter.reply && replies_to_user(routed, c, &from))
}

/// Whether the body holds the user's nickname (in a room) or the account's local part.
fn mentions_user(routed: &Routed<'_>, c: &Classification) -> bool {
    let nick = if c.groupchat {
        routed.room_nick
    } else {
        routed.account.node().map(|n| n.as_str())
    };
    let Some(nick) = nick.filter(|n| !n.is_empty()) else {
        return false;
    };
    let nick = nick.to_lowercase();
    routed
        .content()
        .children()
        .filter(|b| b.name() == "body" && crate::xml::in_stanza_ns(b))
        .any(|b| b.text().to_lowercase().contains(&nick))
}

/// Whether the stanza is a XEP-0461 reply to the user: `to` is the account, or in a room the
/// user's occupant JID.
fn replies_to_user(routed: &Routed<'_>, c: &Classification, from: &Jid) -> bool {
    let Some(to) = routed
        .content()
        .get_child("reply", ns::REPLY)
        .and_then(|r| r.attr("to"))
        .and_then(|t| t.parse::<Jid>().ok())
    else {
        return false;
    };
    if to.to_bare() == *routed.account {
        return true;
    }
    c.groupchat
        && to.to_bare() == from.to_bare()
        && routed
            .room_nick
            .is_some_and(|nick| to.resource().is_some_and(|r| r.as_str() == nick))
}
