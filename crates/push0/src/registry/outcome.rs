//! Publishes: building and sending them, their answers, timeouts and retries (XEP-0357 §7,
//! §7.1).

use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_tether_core::Now;

use super::Registry;
use super::config::Privacy;
use super::event::{AbandonReason, Bound, DisableReason, Event, Incoming, PushNode};
use super::table::{Pending, Suspension, Timer};
use super::transmit::{Body, Options, PublishId, PublishIq, Transmit};
use super::trigger::{Trigger, TriggerKind};
use crate::elements::{Notification, Summary};
use crate::xml;

impl Registry {
    /// The notification for `trigger`, under the privacy policy, with the account's counts.
    pub(super) fn body(&self, account: &BareJid, trigger: &Trigger) -> Body {
        let (messages, subscriptions) = self
            .accounts
            .get(account)
            .map_or((0, 0), |a| (a.messages, a.subscriptions));
        let mut summary = Summary::new().with_form_type(self.config.summary_form_type.clone());
        summary.message_count = (messages > 0).then_some(messages);
        summary.pending_subscription_count = (subscriptions > 0).then_some(subscriptions);
        let about_a_message = matches!(
            trigger.kind,
            TriggerKind::Message | TriggerKind::CallProposal
        );
        if about_a_message {
            match &self.config.privacy {
                Privacy::CountsOnly => {}
                Privacy::Sender => summary.last_message_sender = trigger.sender.clone(),
                Privacy::SenderAndBody => {
                    summary.last_message_sender = trigger.sender.clone();
                    summary.last_message_body = trigger
                        .body
                        .as_deref()
                        .filter(|b| !b.is_empty())
                        .map(|b| truncate(&xml::clean_text(b), self.config.max_body_chars));
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
        Body::new(notification)
    }

    /// Queues first sends of a publish to each `(node, options)`, making room within the
    /// bounds first.
    pub(super) fn send_new(
        &mut self,
        now: Now,
        account: &Arc<BareJid>,
        targets: Vec<(Arc<PushNode>, Option<Arc<Options>>)>,
        from: &Arc<Jid>,
        body: &Arc<Body>,
    ) {
        let count = targets.len();
        self.pending.reserve(count);
        self.transmit.reserve(count);
        let fits = |r: &Self| {
            r.accounts
                .get(&**account)
                .is_some_and(|a| a.pending.len() + count <= r.config.max_pending_per_account.max(1))
                && r.pending.len() + count <= r.config.max_pending.max(1)
        };
        if fits(self) {
            // Room for all of them: no eviction, so the account's index is updated once.
            let first = self.next_seq;
            for (node, options) in targets {
                self.queue_new(now, account, node, from, body, options);
            }
            let last = self.next_seq;
            if let Some(a) = self.accounts.get_mut(&**account) {
                a.pending.extend(first..last);
            }
            return;
        }
        for (node, options) in targets {
            self.make_pending_room(account);
            let seq = self.queue_new(now, account, node, from, body, options);
            if let Some(a) = self.accounts.get_mut(&**account) {
                a.pending.insert(seq);
            }
        }
    }

    /// Queues a first send and its pending entry (not yet in the account's index); returns
    /// its sequence number.
    fn queue_new(
        &mut self,
        now: Now,
        account: &Arc<BareJid>,
        node: Arc<PushNode>,
        from: &Arc<Jid>,
        body: &Arc<Body>,
        options: Option<Arc<Options>>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let timer = self.timers.arm(
            now.monotonic() + self.config.response_timeout,
            Timer::Response(seq),
        );
        let id = self.publish_id(seq, 1);
        self.transmit.push_back(Transmit::Publish(PublishIq {
            account: Arc::clone(account),
            from: Arc::clone(from),
            node: Arc::clone(&node),
            id,
            body: Arc::clone(body),
            options: options.clone(),
        }));
        self.pending.insert(
            seq,
            Pending {
                account: Arc::clone(account),
                node,
                from: Arc::clone(from),
                body: Arc::clone(body),
                options,
                attempt: 1,
                first_sent: now.wall(),
                timer,
                waiting: false,
                last_wait: None,
            },
        );
        seq
    }

    /// Abandons the oldest pending publishes of this account, or of the account holding the
    /// most, until one more fits within both bounds.
    fn make_pending_room(&mut self, account: &Arc<BareJid>) {
        let per_account = self.config.max_pending_per_account.max(1);
        while let Some(oldest) = self
            .accounts
            .get(&**account)
            .filter(|a| a.pending.len() >= per_account)
            .and_then(|a| a.pending.first().copied())
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
                .and_then(|a| a.pending.first().copied())
            else {
                break;
            };
            self.abandon(oldest, AbandonReason::Evicted(Bound::Global));
        }
    }

    /// Brings the global size index up to date for `account`'s pending publishes.
    pub(super) fn pending_index_refresh(&mut self, account: &BareJid) {
        let Some(a) = self.accounts.get_mut(account) else {
            return;
        };
        let (old, new) = (a.pending_indexed, a.pending.len());
        a.pending_indexed = new;
        let jid = Arc::clone(&a.jid);
        self.pending_index.update(&jid, old, new);
    }

    fn publish_id(&self, seq: u64, attempt: u32) -> PublishId {
        PublishId::new(&self.id_prefix, seq, attempt)
    }

    /// The (sequence, attempt) an id of ours names.
    fn parse_id(&self, id: &str) -> Option<(u64, u32)> {
        let rest = id.strip_prefix(self.id_prefix.as_str())?;
        let (seq, attempt) = rest.split_once('.')?;
        Some((
            u64::from_str_radix(seq, 16).ok()?,
            u32::from_str_radix(attempt, 16).ok()?,
        ))
    }

    /// Removes a pending publish from every table.
    fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.timers.disarm(p.timer);
        let account = Arc::clone(&p.account);
        if let Some(a) = self.accounts.get_mut(&*account) {
            a.pending.remove(&seq);
        }
        self.pending_index_refresh(&account);
        self.gc(&account);
        Some(p)
    }

    /// Gives a pending publish up, reported.
    pub(super) fn abandon(&mut self, seq: u64, reason: AbandonReason) {
        if let Some(p) = self.take_pending(seq) {
            self.emit(Event::Abandoned {
                account: (*p.account).clone(),
                node: (*p.node).clone(),
                reason,
                attempts: p.attempt,
                first_sent: p.first_sent,
            });
        }
    }

    /// An iq result or error: ours if its id is one of our publishes in flight and it comes
    /// from the service we sent that publish to.
    pub(super) fn on_answer(&mut self, now: Now, iq: &Element) -> Incoming {
        let Some((seq, attempt)) = iq.attr("id").and_then(|id| self.parse_id(id)) else {
            return Incoming::NotOurs;
        };
        let from = iq.attr("from").and_then(|f| f.parse::<Jid>().ok());
        let matches = self.pending.get(&seq).is_some_and(|p| {
            p.attempt == attempt && !p.waiting && from.as_ref() == Some(&p.node.service)
        });
        if !matches {
            return Incoming::NotOurs;
        }
        if iq.attr("type") == Some("result") {
            self.on_delivered(seq);
            return Incoming::Handled;
        }
        let error = xml::stanza_error(iq).unwrap_or_else(|| {
            StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::UndefinedCondition,
                "en",
                "the push service's error did not parse",
            )
        });
        if error.type_ == ErrorType::Wait {
            self.retry_or_abandon(now, seq, Some(error));
        } else {
            self.on_failed(now, seq, error);
        }
        Incoming::Handled
    }

    fn on_delivered(&mut self, seq: u64) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let reset = self.accounts.get_mut(&*p.account).is_some_and(|a| {
            a.registrations
                .iter_mut()
                .find(|r| r.node == p.node)
                .filter(|r| r.errors > 0 && r.suspended.is_none())
                .is_some_and(|r| {
                    r.errors = 0;
                    true
                })
        });
        self.emit(Event::Delivered {
            account: (*p.account).clone(),
            node: (*p.node).clone(),
            attempts: p.attempt,
            first_sent: p.first_sent,
        });
        if reset {
            self.changed(&p.account);
        }
    }

    /// A `wait` error (`Some`) or no answer (`None`): send again after the back-off, or give
    /// up after the last attempt.
    fn retry_or_abandon(&mut self, now: Now, seq: u64, wait: Option<StanzaError>) {
        let attempts = self.config.retry.attempts.max(1);
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        if p.attempt >= attempts {
            let reason = wait.map_or(AbandonReason::TimedOut, |e| {
                AbandonReason::Wait(Box::new(e))
            });
            self.abandon(seq, reason);
            return;
        }
        let delay = self.config.retry.delay(p.attempt);
        let old = p.timer;
        p.waiting = true;
        p.last_wait = wait.map(Box::new);
        self.timers.disarm(old);
        let timer = self.timers.arm(now.monotonic() + delay, Timer::Retry(seq));
        if let Some(p) = self.pending.get_mut(&seq) {
            p.timer = timer;
        }
    }

    pub(super) fn on_response_timeout(&mut self, now: Now, seq: u64) {
        if self.pending.get(&seq).is_some_and(|p| !p.waiting) {
            self.retry_or_abandon(now, seq, None);
        }
    }

    pub(super) fn on_retry_due(&mut self, now: Now, seq: u64) {
        let Some(p) = self.pending.get(&seq) else {
            return;
        };
        let active = self.accounts.get(&*p.account).is_some_and(|a| {
            a.registrations
                .iter()
                .any(|r| r.node == p.node && r.suspended.is_none())
        });
        if !active {
            self.abandon(seq, AbandonReason::Disabled);
            return;
        }
        let attempt = p.attempt + 1;
        let id = self.publish_id(seq, attempt);
        let timer = self.timers.arm(
            now.monotonic() + self.config.response_timeout,
            Timer::Response(seq),
        );
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        p.attempt = attempt;
        p.waiting = false;
        p.timer = timer;
        let transmit = Transmit::Publish(PublishIq {
            account: Arc::clone(&p.account),
            from: Arc::clone(&p.from),
            node: Arc::clone(&p.node),
            id,
            body: Arc::clone(&p.body),
            options: p.options.clone(),
        });
        self.transmit.push_back(transmit);
    }

    /// An error whose type is not `wait`: counted against the registration, which the policy
    /// may then disable.
    fn on_failed(&mut self, now: Now, seq: u64, error: StanzaError) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let limit = self.config.errors.limit();
        let counted = self.accounts.get_mut(&*p.account).and_then(|a| {
            let i = a
                .registrations
                .iter()
                .position(|r| r.node == p.node && r.suspended.is_none())?;
            let r = &mut a.registrations[i];
            r.errors = r.errors.saturating_add(1);
            Some((i, r.errors))
        });
        self.emit(Event::PublishFailed {
            account: (*p.account).clone(),
            node: (*p.node).clone(),
            error: error.clone(),
            consecutive: counted.map_or(0, |(_, n)| n),
        });
        let Some((index, count)) = counted else {
            return;
        };
        if count >= limit {
            self.disable_by_errors(now, &p.account, index, error, count);
        } else {
            self.changed(&p.account);
        }
    }

    /// Suspends (when retries of disabled registrations are configured) or removes a
    /// registration after errors.
    fn disable_by_errors(
        &mut self,
        now: Now,
        account: &Arc<BareJid>,
        index: usize,
        error: StanzaError,
        count: u32,
    ) {
        let Some(after) = self.config.retry_disabled_after else {
            let reason = DisableReason::Errors {
                error,
                count,
                retry_at: None,
            };
            self.remove_registration(now, account, index, reason);
            return;
        };
        let retry_at = now.wall() + after;
        let Some(node) = self
            .accounts
            .get(&**account)
            .and_then(|a| a.registrations.get(index))
            .map(|r| Arc::clone(&r.node))
        else {
            return;
        };
        let timer = self.timers.arm(
            now.monotonic() + after,
            Timer::Reenable(Arc::clone(account), Arc::clone(&node)),
        );
        if let Some(r) = self
            .accounts
            .get_mut(&**account)
            .and_then(|a| a.registrations.get_mut(index))
        {
            r.suspended = Some(Suspension {
                since: now.wall(),
                retry_at,
                timer,
            });
        }
        self.emit(Event::Disabled {
            account: (**account).clone(),
            node: (*node).clone(),
            reason: DisableReason::Errors {
                error,
                count,
                retry_at: Some(retry_at),
            },
        });
        self.changed(account);
        self.recheck_extensions(now, account);
    }

    pub(super) fn on_reenable_due(&mut self, _now: Now, account: &BareJid, node: &PushNode) {
        let probation = self.config.errors.limit().saturating_sub(1);
        let Some(r) = self.accounts.get_mut(account).and_then(|a| {
            a.registrations
                .iter_mut()
                .find(|r| *r.node == *node && r.suspended.is_some())
        }) else {
            return;
        };
        r.suspended = None;
        r.errors = probation;
        self.emit(Event::Reenabled {
            account: account.clone(),
            node: node.clone(),
        });
        self.changed(account);
    }
}

/// `s` cut to at most `max` characters.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_truncate() {
        assert_eq!(PublishId::new("p0a.", 0x1f, 0).as_str(), "p0a.1f.0");
        let longest = PublishId::new("p0123456789ab.", u64::MAX, u32::MAX);
        assert_eq!(longest.as_str(), "p0123456789ab.ffffffffffffffff.ffffffff");
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
