//! Notifications: the summary under the privacy policy, and the first send of a publish to
//! every registration reached (XEP-0357 §7).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use jid::{BareJid, FullJid};
use xmpp_tether_core::{Monotonic, Now};

use super::Registry;
use super::config::{Privacy, RegistryConfig};
use super::event::{AbandonReason, Bound, PushNode};
use super::table::{Pending, Registration, Responses, SeqMap};
use super::transmit::{Batch, Options, PublishId, PublishIq, Transmit};
use super::trigger::{Target, Trigger, TriggerKind};
use crate::elements::{Notification, Summary};
use crate::xml;

/// A [`Queue`] borrowed from the registry's fields (not through `&mut self`, so an account
/// entry may stay borrowed), with room for `$count` first sends.
macro_rules! queue {
    ($r:ident, $now:expr, $count:expr) => {{
        $r.pending.reserve($count);
        $r.transmit.reserve($count);
        Queue {
            pending: &mut $r.pending,
            responses: &mut $r.responses,
            transmit: &mut $r.transmit,
            id_prefix: &$r.id_prefix,
            next_seq: $r.next_seq,
            deadline: $now.monotonic() + $r.config.response_timeout,
            first_sent: $now.wall(),
        }
    }};
}

impl Registry {
    /// Whether a push about `trigger` ends a hibernation extension of the session it reaches
    /// (the rule [`notify`](Self::notify) applies: always, unless the privacy policy is a
    /// placeholder and the trigger is not important). For a cluster whose hibernated
    /// session's extension is held by another node's registry: a node that pushed
    /// (`notify` returned more than zero for [`Target::Session`]) and gets `true` here ends
    /// the extension in the shared store itself, as the
    /// [`Event::HibernationDeadline`](crate::Event::HibernationDeadline) would.
    #[must_use]
    pub fn ends_extension(&self, trigger: &Trigger) -> bool {
        ends_extension(&self.config.privacy, trigger)
    }

    /// Publishes a notification about `trigger` to every active registration of `target`, and
    /// returns how many publishes were queued. Call it when the user cannot be reached: no
    /// session ([`Target::Account`]), or a hibernated one ([`Target::Session`]).
    ///
    /// The summary follows [`RegistryConfig::privacy`]; its counts are what was pushed since
    /// the user was last online ([`handle_online`](Self::handle_online),
    /// [`handle_resumed`](Self::handle_resumed)). A push that reaches a registration enabled
    /// from a session whose hibernation is extended ends the extension
    /// ([`Event::HibernationDeadline`](crate::Event::HibernationDeadline)), unless the privacy
    /// policy is a placeholder and the trigger is not important (Prosody's rule).
    ///
    /// A stanza is best classified with [`Trigger::from_stanza_for`] this registry's
    /// [`privacy`](RegistryConfig::privacy): the same publishes, without parsing or copying
    /// what they will not carry.
    pub fn notify(&mut self, now: Now, target: &Target, trigger: &Trigger) -> usize {
        let session_bare;
        let account_jid = match target {
            Target::Account(a) => a,
            Target::Session(s) => {
                session_bare = s.to_bare();
                &session_bare
            }
        };
        let Some(account) = self.accounts.get_mut(account_jid) else {
            return 0;
        };
        match trigger.kind {
            TriggerKind::Message | TriggerKind::CallProposal => {
                account.messages = account.messages.saturating_add(1);
            }
            TriggerKind::SubscriptionRequest => {
                account.subscriptions = account.subscriptions.saturating_add(1);
            }
            TriggerKind::Other => {}
        }
        let reached = |r: &&Registration| reaches(target, r);
        let count = account.registrations.iter().filter(reached).count();
        if count == 0 {
            return 0;
        }
        let notification = notification(
            &self.config,
            account.messages,
            account.subscriptions,
            trigger,
        );
        let batch = Arc::new(Batch::new(
            Arc::clone(&account.jid),
            Arc::clone(&account.publish_from),
            notification,
        ));
        // The sessions reached matter only when one of them has an extended hibernation.
        let ends_extension = ends_extension(&self.config.privacy, trigger);
        let sessions: Vec<FullJid> = if ends_extension && !account.hibernating.is_empty() {
            account
                .registrations
                .iter()
                .filter(reached)
                .filter_map(|r| r.enabled_by.clone())
                .collect()
        } else {
            Vec::new()
        };
        let fits = account.pending.len() + count <= self.config.max_pending_per_account.max(1)
            && self.pending.len() + count <= self.config.max_pending.max(1);
        let jid = Arc::clone(&account.jid);
        if fits {
            // Room for all of them: no eviction, so they are queued straight from the
            // registrations and the account's size index is updated once.
            let mut queue = queue!(self, now, count);
            account.pending.reserve(count);
            for r in account.registrations.iter().filter(reached) {
                let seq = queue.first(&batch, &r.node, r.options.as_ref());
                account.pending.push_back(seq);
            }
            self.next_seq = queue.next_seq;
            let (old, new) = (account.pending_indexed, account.pending.len());
            account.pending_indexed = new;
            self.pending_index.update(&jid, old, new);
        } else {
            let targets: Vec<(Arc<PushNode>, Option<Arc<Options>>)> = account
                .registrations
                .iter()
                .filter(reached)
                .map(|r| (Arc::clone(&r.node), r.options.clone()))
                .collect();
            for (node, options) in targets {
                self.make_pending_room(&jid);
                let mut queue = queue!(self, now, 1);
                let seq = queue.first(&batch, &node, options.as_ref());
                self.next_seq = queue.next_seq;
                if let Some(a) = self.accounts.get_mut(&*jid) {
                    a.pending.push_back(seq);
                }
            }
            self.pending_index_refresh(&jid);
        }
        if !sessions.is_empty() {
            self.end_extensions_reached(now, &jid, &sessions);
        }
        count
    }

    /// Abandons the oldest pending publishes of this account, or of the account holding the
    /// most, until one more fits within both bounds.
    fn make_pending_room(&mut self, account: &Arc<BareJid>) {
        let per_account = self.config.max_pending_per_account.max(1);
        while let Some(oldest) = self
            .accounts
            .get(&**account)
            .filter(|a| a.pending.len() >= per_account)
            .and_then(|a| a.pending.front().copied())
        {
            self.abandon(oldest, AbandonReason::Evicted(Bound::Account));
        }
        let global = self.config.max_pending.max(1);
        while self.pending.len() >= global {
            self.pending_index_refresh(account);
            let Some(largest) = self.pending_index.largest() else {
                break;
            };
            let Some(oldest) = self
                .accounts
                .get(&*largest)
                .and_then(|a| a.pending.front().copied())
            else {
                break;
            };
            self.abandon(oldest, AbandonReason::Evicted(Bound::Global));
        }
    }
}

/// Whether a notification for `target` goes to `r`.
fn reaches(target: &Target, r: &Registration) -> bool {
    r.suspended.is_none()
        && match target {
            Target::Account(_) => true,
            Target::Session(s) => r.enabled_by.as_ref() == Some(s),
        }
}

/// The notification for `trigger` under the privacy policy, with the account's counts.
fn notification(
    config: &RegistryConfig,
    messages: u32,
    subscriptions: u32,
    trigger: &Trigger,
) -> Notification {
    let mut summary = Summary::new().with_form_type(config.summary_form_type.clone());
    summary.message_count = (messages > 0).then_some(messages);
    summary.pending_subscription_count = (subscriptions > 0).then_some(subscriptions);
    let about_a_message = matches!(
        trigger.kind,
        TriggerKind::Message | TriggerKind::CallProposal
    );
    if about_a_message {
        match &config.privacy {
            Privacy::CountsOnly => {}
            Privacy::Sender => summary.last_message_sender = trigger.sender.clone(),
            Privacy::SenderAndBody => {
                summary.last_message_sender = trigger.sender.clone();
                summary.last_message_body = trigger
                    .body
                    .as_deref()
                    .filter(|b| !b.is_empty())
                    .map(|b| truncate(&xml::clean_text(b), config.max_body_chars));
            }
            Privacy::Placeholder(text) => {
                if trigger.important {
                    summary.last_message_body = Some(text.clone());
                }
            }
        }
    }
    let mut notification = Notification::new().with_summary(summary);
    notification
        .payloads
        .extend(trigger.payloads.iter().cloned());
    notification
}

/// `s` cut to at most `max` characters.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        // No more characters than octets: nothing to cut, no need to count.
        return s.to_owned();
    }
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

/// The tables a first send goes into, borrowed from the [`Registry`] apart from its accounts
/// so a notification can queue its publishes while it reads the account's registrations
/// ([`queue!`] borrows them).
struct Queue<'a> {
    pending: &'a mut SeqMap<Pending>,
    responses: &'a mut Responses,
    transmit: &'a mut VecDeque<Transmit>,
    id_prefix: &'a str,
    next_seq: u64,
    /// When the answers are due.
    deadline: Monotonic,
    first_sent: SystemTime,
}

impl Queue<'_> {
    /// Queues the first send of a publish to `node`: the iq to write, its pending entry (not
    /// yet in the account's index) and its answer deadline. Returns its sequence number.
    fn first(
        &mut self,
        batch: &Arc<Batch>,
        node: &Arc<PushNode>,
        options: Option<&Arc<Options>>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.responses.arm(self.deadline, seq, 1);
        self.transmit.push_back(Transmit::Publish(PublishIq {
            batch: Arc::clone(batch),
            node: Arc::clone(node),
            id: PublishId::new(self.id_prefix, seq, 1),
            options: options.cloned(),
        }));
        self.pending.insert(
            seq,
            Pending {
                batch: Arc::clone(batch),
                node: Arc::clone(node),
                options: options.cloned(),
                attempt: 1,
                first_sent: self.first_sent,
                timer: None,
                waiting: false,
                last_wait: None,
            },
        );
        seq
    }
}

/// Prosody's rule: with a placeholder body only an important trigger ends an extension.
fn ends_extension(privacy: &Privacy, trigger: &Trigger) -> bool {
    !matches!(privacy, Privacy::Placeholder(_)) || trigger.important
}
