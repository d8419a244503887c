//! Notifications in flight: sending, outcomes (error bounces, reported outcomes, silence),
//! `wait` retries with back-off, and the failure clock that disables a registration.

use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use rand_core::CryptoRng;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_tether_core::Now;

use super::event::{
    Bound, Delivery, DisableReason, DiscardReason, Event, Incoming, NotificationId,
    OutgoingNotification, Transmit,
};
use super::table::{Pending, Timer};
use super::{CustomProfiles, Registry};
use crate::elements::Notification;
use crate::stanza::RegistrationKey;
use crate::xml;

impl<P: CustomProfiles> Registry<P> {
    /// Handles a stanza that may answer one of our notifications: a `<message type='error'/>`
    /// from the push service a notification was sent to, with its id (what an XMPP server
    /// or the push service bounces). Anything else is [`Incoming::NotOurs`]. The RNG draws
    /// the jitter of a retry.
    pub fn handle_stanza(
        &mut self,
        now: Now,
        rng: &mut impl CryptoRng,
        stanza: &Element,
    ) -> Incoming {
        if !xml::is_stanza(stanza, "message") || stanza.attr("type") != Some("error") {
            return Incoming::NotOurs;
        }
        let Some(seq) = stanza.attr("id").and_then(|id| self.in_flight(id)) else {
            return Incoming::NotOurs;
        };
        let from = stanza.attr("from").and_then(|f| f.parse::<Jid>().ok());
        if self.pending.get(&seq).map(|p| &p.service) != from.as_ref() {
            return Incoming::NotOurs;
        }
        let error = xml::stanza_error(stanza).unwrap_or_else(|| {
            StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::UndefinedCondition,
                "en",
                "the push service's error did not parse",
            )
        });
        self.on_error(now, rng, seq, error);
        Incoming::Handled
    }

    /// Reports the outcome of the send `id` learned some other way than a bounce (the route
    /// to the push service is down: `wait` / `remote-server-timeout`; the push service's own
    /// acknowledgement). An id this registry no longer holds, or an earlier send of a
    /// notification sent again since, is [`Incoming::NotOurs`].
    pub fn handle_delivery(
        &mut self,
        now: Now,
        rng: &mut impl CryptoRng,
        id: &NotificationId,
        delivery: Delivery,
    ) -> Incoming {
        let Some(seq) = self.in_flight(id.as_str()) else {
            return Incoming::NotOurs;
        };
        match delivery {
            Delivery::Delivered => self.on_delivered(now, seq, true),
            Delivery::Failed(error) => self.on_error(now, rng, seq, *error),
        }
        Incoming::Handled
    }

    /// Queues the first send of a notification, making room within both bounds first.
    #[expect(clippy::too_many_arguments, reason = "the parts of one notification")]
    pub(super) fn send_new(
        &mut self,
        now: Now,
        account: &BareJid,
        key: RegistrationKey,
        generation: u64,
        from: Jid,
        service: Jid,
        notification: Arc<Notification>,
    ) {
        self.make_pending_room(account);
        let seq = self.next_seq();
        let timer = self.timers.arm(
            now.monotonic() + self.config.outcome_window,
            Timer::Silence(seq),
        );
        let Some(a) = self.accounts.get_mut(account) else {
            return;
        };
        a.pending.insert(seq);
        let jid = Arc::clone(&a.jid);
        let pending = Pending {
            account: jid,
            key,
            generation,
            from,
            service,
            notification,
            attempt: 1,
            first_sent: now.wall(),
            timer,
            waiting: false,
            last_error: None,
        };
        self.transmit.push_back(self.transmit_of(seq, &pending));
        self.pending.insert(seq, pending);
        self.reindex(account);
    }

    fn transmit_of(&self, seq: u64, p: &Pending) -> Transmit {
        Transmit::Notification(OutgoingNotification {
            id: self.notification_id(seq, p.attempt),
            account: (*p.account).clone(),
            key: p.key.clone(),
            from: p.from.clone(),
            to: p.service.clone(),
            attempt: p.attempt,
            notification: Arc::clone(&p.notification),
        })
    }

    /// Discards the oldest pending notifications of this account, or of the account
    /// holding the most, until one more fits within both bounds.
    fn make_pending_room(&mut self, account: &BareJid) {
        let per_account = self.config.max_pending_per_account.max(1);
        while let Some(oldest) = self
            .accounts
            .get(account)
            .filter(|a| a.pending.len() >= per_account)
            .and_then(|a| a.pending.first().copied())
        {
            self.discard(oldest, DiscardReason::Evicted(Bound::Account));
        }
        let global = self.config.max_pending.max(1);
        while self.pending.len() >= global {
            let Some(oldest) = self
                .pending_index
                .largest()
                .and_then(|largest| self.accounts.get(&*largest))
                .and_then(|a| a.pending.first().copied())
            else {
                break;
            };
            self.discard(oldest, DiscardReason::Evicted(Bound::Global));
        }
    }

    fn notification_id(&self, seq: u64, attempt: u32) -> NotificationId {
        NotificationId(format!("{}{seq:x}.{attempt:x}", self.id_prefix))
    }

    /// The pending notification whose current send is `id` (not one waiting for a retry).
    fn in_flight(&self, id: &str) -> Option<u64> {
        let rest = id.strip_prefix(self.id_prefix.as_str())?;
        let (seq, attempt) = rest.split_once('.')?;
        let seq = u64::from_str_radix(seq, 16).ok()?;
        let attempt = u32::from_str_radix(attempt, 16).ok()?;
        let p = self.pending.get(&seq)?;
        (p.attempt == attempt && !p.waiting).then_some(seq)
    }

    /// Removes a pending notification from every table.
    fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.timers.disarm(p.timer);
        let account = Arc::clone(&p.account);
        if let Some(a) = self.accounts.get_mut(&*account) {
            a.pending.remove(&seq);
        }
        self.reindex(&account);
        self.gc(&account);
        Some(p)
    }

    /// Gives a pending notification up, reported.
    pub(super) fn discard(&mut self, seq: u64, reason: DiscardReason) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let id = self.notification_id(seq, p.attempt);
        self.emit(Event::Discarded {
            account: (*p.account).clone(),
            key: p.key,
            id,
            reason,
            attempts: p.attempt,
            first_sent: p.first_sent,
        });
    }

    pub(super) fn on_silence(&mut self, now: Now, seq: u64) {
        if self.pending.get(&seq).is_some_and(|p| !p.waiting) {
            self.on_delivered(now, seq, false);
        }
    }

    fn on_delivered(&mut self, _now: Now, seq: u64, acknowledged: bool) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let id = self.notification_id(seq, p.attempt);
        let recovered = self
            .find(&p.account, &p.key, p.generation)
            .and_then(|i| {
                self.accounts
                    .get_mut(&*p.account)
                    .map(|a| a.registrations[i].failing_since.take().is_some())
            })
            .unwrap_or(false);
        self.emit(Event::Delivered {
            account: (*p.account).clone(),
            key: p.key,
            id,
            attempts: p.attempt,
            acknowledged,
            first_sent: p.first_sent,
        });
        if recovered {
            self.changed(&p.account);
        }
    }

    /// An error for the current send of `seq`: a `wait` error is retried until the attempts
    /// run out; any other is final.
    fn on_error(&mut self, now: Now, rng: &mut impl CryptoRng, seq: u64, error: StanzaError) {
        let attempts = self.config.retry.attempts.max(1);
        let Some(p) = self.pending.get(&seq) else {
            return;
        };
        if error.type_ == ErrorType::Wait && p.attempt < attempts {
            let attempt = p.attempt;
            let delay = self.config.retry.delay(rng, attempt);
            let old = p.timer;
            self.timers.disarm(old);
            let timer = self.timers.arm(now.monotonic() + delay, Timer::Retry(seq));
            let id = self.notification_id(seq, attempt);
            let Some(p) = self.pending.get_mut(&seq) else {
                return;
            };
            p.timer = timer;
            p.waiting = true;
            p.last_error = Some(error.clone());
            let (account, key) = ((*p.account).clone(), p.key.clone());
            self.emit(Event::Retrying {
                account,
                key,
                id,
                error,
                attempt,
                delay,
            });
            return;
        }
        let (account, key, generation) = (Arc::clone(&p.account), p.key.clone(), p.generation);
        let reason = if error.type_ == ErrorType::Wait {
            DiscardReason::RetriesExhausted(error.clone())
        } else {
            DiscardReason::Error(error.clone())
        };
        self.discard(seq, reason);
        self.count_failure(now, &account, &key, generation, error);
    }

    /// A notification failed for good: the registration is disabled if the push service
    /// says it is gone, or if it has been failing for long enough; otherwise its failure
    /// clock starts.
    fn count_failure(
        &mut self,
        now: Now,
        account: &BareJid,
        key: &RegistrationKey,
        generation: u64,
        error: StanzaError,
    ) {
        let Some(index) = self.find(account, key, generation) else {
            return;
        };
        if self.config.disable_on_gone && is_gone(&error) {
            self.remove_registration(now, account, index, DisableReason::Gone { error });
            return;
        }
        let disable_after = self.config.disable_after;
        let Some(r) = self
            .accounts
            .get_mut(account)
            .map(|a| &mut a.registrations[index])
        else {
            return;
        };
        match r.failing_since {
            None => {
                r.failing_since = Some(now.wall());
                self.changed(account);
            }
            Some(since) => {
                let failing_for = now.wall().duration_since(since).unwrap_or_default();
                if failing_for >= disable_after {
                    let reason = DisableReason::Failing { since, error };
                    self.remove_registration(now, account, index, reason);
                }
            }
        }
    }

    pub(super) fn on_retry_due(&mut self, now: Now, seq: u64) {
        let Some(p) = self.pending.get(&seq) else {
            return;
        };
        if self.find(&p.account, &p.key, p.generation).is_none() {
            self.discard(seq, DiscardReason::Disabled);
            return;
        }
        let timer = self.timers.arm(
            now.monotonic() + self.config.outcome_window,
            Timer::Silence(seq),
        );
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        p.attempt += 1;
        p.waiting = false;
        p.timer = timer;
        let transmit = match self.pending.get(&seq) {
            Some(p) => self.transmit_of(seq, p),
            None => return,
        };
        self.transmit.push_back(transmit);
    }
}

/// Whether the push service says the subscription is gone for good (RFC 8030 §7.3: 404 or
/// 410, which a push service maps to these).
fn is_gone(error: &StanzaError) -> bool {
    error.type_ == ErrorType::Cancel
        && matches!(
            error.defined_condition,
            DefinedCondition::ItemNotFound | DefinedCondition::Gone { .. }
        )
}
