//! How a server stream's session moves: claimed on `<resume/>`, handed over between streams,
//! hibernated when the connection is lost, ended when the stream closes. Every move goes
//! through the store, under its lock, so no stanza can fall between two streams.

use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};
use xmpp_tether_core::Now;

use super::{Phase, Server};
use crate::core::Counters;
use crate::elements::{Failed, Resumed, SmId};
use crate::error::PeerError;
use crate::event::{HandBackReason, ServerEvent};
use crate::session::HibernatedSession;
use crate::store::{Claim, Routed, StreamHandle};
use crate::transmit::{Placement, Unacked};

impl<H: StreamHandle> Server<H> {
    /// Looks the session up for a `<resume/>` and answers, or waits for a take-over.
    pub(super) fn claim(
        &mut self,
        now: Now,
        previd: SmId,
        h: Option<u32>,
        placement: Placement,
    ) -> Result<(), PeerError> {
        let (key, owner) = (self.key, self.owner.clone());
        let claim = self.store.with(|t| t.claim(now, key, &previd, &owner));
        match claim {
            Claim::Hibernated(session) => self.adopt(now, session, h, placement),
            Claim::Pending => {
                let deadline = now.monotonic() + self.config().handover_timeout;
                self.phase = Phase::Resuming {
                    previd,
                    h,
                    placement,
                    deadline,
                };
                Ok(())
            }
            Claim::Failed { h: last } => {
                self.refuse_resume(previd, last, placement);
                Ok(())
            }
        }
    }

    /// `<failed/>` with `item-not-found` (and the session's last `h` when the store still
    /// knew it); the client may bind a resource next.
    fn refuse_resume(&mut self, previd: SmId, h: Option<u32>, placement: Placement) {
        self.phase = Phase::Off;
        let mut failed = Failed::new(self.core.counters.ns, DefinedCondition::ItemNotFound);
        failed.h = h;
        self.core.nonza(failed, placement);
        self.core.event(ServerEvent::ResumeRefused { previd });
    }

    /// Resumes `session` on this stream: `<resumed/>`, then the retransmissions.
    fn adopt(
        &mut self,
        now: Now,
        session: HibernatedSession,
        h: Option<u32>,
        placement: Placement,
    ) -> Result<(), PeerError> {
        let ns = self.core.counters.ns;
        let previd = session.id.clone();
        let checkpointed = session.checkpointed;
        self.core.counters = session.counters;
        self.core.counters.ns = ns;
        self.id = Some(session.id);
        self.max = session.max;
        self.resource = session.resource;
        self.phase = Phase::On;
        self.resumed = true;
        let key = self.key;
        let (id, jid) = (previd.clone(), self.resource.clone());
        // Stanzas for the session's JID route here from now on, under the same lock as the
        // registration: none can reach the old place after this.
        let replaced = self.store.with(|t| {
            t.register(key, id);
            jid.as_ref()
                .map(|jid| t.bind(key, jid).unwrap_or_default())
                .unwrap_or_default()
        });
        self.core.hand_back(HandBackReason::Replaced, replaced);
        // sm:1 makes `h` optional: without it nothing counts as acknowledged. A `<resume/>`
        // can be stale (sent on a connection the client abandoned before a newer one resumed
        // and acknowledged more), so an `h` below the last acknowledgement acknowledges
        // nothing instead of ending the session; an `h` above what was sent is fatal, except
        // on a checkpoint, which may lag the stream it was copied from.
        // A checkpoint may lag the stream it was copied from (`apply_ack_beyond`).
        let mut acked_beyond = 0;
        if let Some(h) = h {
            let acked = match checkpointed {
                Some(_) => self.core.apply_ack_beyond(now, h).map(|n| acked_beyond = n),
                None => self.core.apply_ack(now, h),
            };
            // On error the caller queues the answer and ends the (now adopted) session.
            match acked {
                Ok(()) | Err(PeerError::AckWentBackwards { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(checkpointed_at) = checkpointed {
            self.core.event(ServerEvent::ResumedFromCheckpoint {
                previd: previd.clone(),
                checkpointed_at,
                acked_beyond,
            });
        }
        let reply = Resumed::new(ns, previd.clone(), Some(self.core.counters.inbound));
        self.core.nonza(reply, placement);
        let retransmitted = self.core.retransmit(now);
        self.core.event(ServerEvent::Resumed {
            previd,
            jid: self.resource.clone(),
            retransmitted,
        });
        Ok(())
    }

    /// Adopts a session that was handed over (outside `handle_element`, which answers peer
    /// errors itself).
    fn adopt_handed_over(
        &mut self,
        now: Now,
        session: HibernatedSession,
        h: Option<u32>,
        placement: Placement,
    ) {
        if let Err(e) = self.adopt(now, session, h, placement) {
            self.core.answer(&e, placement);
            self.fail(HandBackReason::ProtocolError);
        }
    }

    /// The stream's task was woken through its handle: another stream wants this stream's
    /// session (it is handed over, and this stream closes with `conflict`), or the session
    /// this stream waits for has been handed over. A spurious call is a no-op.
    pub fn handle_wake(&mut self, now: Now) {
        self.last_now = Some(now);
        // Routed stanzas first: a session handed over below takes them along.
        self.take_routed(now);
        match &self.phase {
            Phase::On => {
                let Some(id) = self.id.clone() else {
                    return;
                };
                let key = self.key;
                if self.store.with(|t| t.takeover_requested(key, &id)) {
                    self.hand_over(now);
                }
            }
            Phase::Resuming {
                previd,
                h,
                placement,
                ..
            } => {
                let (previd, h, placement) = (previd.clone(), *h, *placement);
                let key = self.key;
                match self.store.with(|t| t.collect_handover(key, &previd)) {
                    Ok(Some(session)) => self.adopt_handed_over(now, session, h, placement),
                    Ok(None) => {}
                    // A newer `<resume/>` for the session came on another stream: it wins.
                    Err(()) => self.superseded(),
                }
            }
            _ => {}
        }
    }

    /// XEP-0198 §5: a new stream resumed this session while this one is still open. The
    /// session (with every unacknowledged stanza) moves to it; this stream gets `conflict`.
    fn hand_over(&mut self, now: Now) {
        // Whatever waits to be written here goes out on the new stream instead, after
        // `<resumed/>` (counted stanzas are in the queue that moves).
        self.core.abort_connection();
        let session = self.detach(now);
        self.give_up(session);
        let error = StreamError::new(
            StreamCondition::Conflict,
            "en",
            "This session was resumed on another stream.",
        );
        self.core.nonza(error, Placement::TopLevel);
        self.close_stream();
        self.core.event(ServerEvent::TakenOver);
    }

    /// A newer `<resume/>` for the same session arrived on another stream while this one
    /// waited for the take-over (the client gave up on this connection, or this request is
    /// stale). The newer one wins; this stream gets `conflict`, as a stream whose session is
    /// taken over does, so that the session stays resumable: `<failed/>` would tell the client
    /// to give it up.
    fn superseded(&mut self) {
        self.core.abort_connection();
        let error = StreamError::new(
            StreamCondition::Conflict,
            "en",
            "This session is being resumed on another stream.",
        );
        self.core.nonza(error, Placement::TopLevel);
        self.close_stream();
        self.core.event(ServerEvent::TakenOver);
    }

    /// The take-over did not come in time: refuse the resumption (the old stream keeps the
    /// session, unless it handed it over at the last moment).
    pub(super) fn handover_timed_out(&mut self, now: Now) {
        let Phase::Resuming {
            previd,
            h,
            placement,
            ..
        } = &self.phase
        else {
            return;
        };
        let (previd, h, placement) = (previd.clone(), *h, *placement);
        let key = self.key;
        match self.store.with(|t| t.abandon_takeover(key, &previd)) {
            Some(session) => self.adopt_handed_over(now, session, h, placement),
            None => self.refuse_resume(previd, None, placement),
        }
    }

    /// Takes the session off this stream, as a record due `max` seconds from `now`.
    fn detach(&mut self, now: Now) -> Option<HibernatedSession> {
        let id = self.id.take()?;
        let ns = self.core.counters.ns;
        self.core.reset_requests();
        Some(HibernatedSession {
            id,
            owner: self.owner.clone(),
            resource: self.resource.clone(),
            counters: std::mem::replace(&mut self.core.counters, Counters::new(ns)),
            max: self.max,
            deadline: HibernatedSession::deadline_from(now, self.max),
            checkpointed: None,
        })
    }

    /// Gives a detached session to the stream waiting for it, if one is; otherwise returns it.
    fn give_up(&mut self, session: Option<HibernatedSession>) -> Option<HibernatedSession> {
        let session = session?;
        let (key, limit) = (self.key, self.config().max_queue);
        // A stream holding a session has been given a time (enabling or resuming took one).
        let Some(now) = self.last_now else {
            return Some(session);
        };
        self.store.with(|t| t.detach(key, session, now, limit))
    }

    /// The connection is gone. A resumable session hibernates in the store until its
    /// deadline (or goes straight to a stream that is taking it over); otherwise every
    /// unacknowledged stanza is handed back in [`ServerEvent::HandedBack`]. The stream is
    /// closed. On a stream that is already closed it does nothing.
    pub fn handle_disconnect(&mut self, now: Now) {
        self.last_now = Some(now);
        if self.phase == Phase::Closed {
            return;
        }
        self.core.abort_connection();
        match &self.phase {
            Phase::On if self.id.is_some() => {
                let session = self.detach(now);
                match self.give_up(session) {
                    Some(session) => self.hibernate(now, session),
                    None => self.core.event(ServerEvent::TakenOver),
                }
            }
            Phase::Resuming { previd, .. } => {
                // The client gave up during the take-over: a session already handed over
                // hibernates again, so nothing it holds is lost.
                let (key, previd) = (self.key, previd.clone());
                if let Some(session) = self.store.with(|t| t.abandon_takeover(key, &previd)) {
                    self.hibernate(now, session);
                }
            }
            _ => self.core.hand_back_all(HandBackReason::StreamClosed),
        }
        self.close_stream();
    }

    /// Another server resumes this stream's session: a cluster node that got the client's
    /// `<resume/>` and asked this one to hand the session over (XEP-0198 §5 across nodes).
    /// The session hibernates as if the connection were lost ([`ServerEvent::Hibernated`]:
    /// move it to the shared store, where that node claims it), the `conflict` stream error
    /// is queued after what the stream still had to write, and the stream closes. A stream
    /// without a resumable session just closes, as for a lost connection. On a closed stream
    /// it does nothing.
    pub fn hand_over_elsewhere(&mut self, now: Now) {
        if self.phase == Phase::Closed {
            return;
        }
        self.handle_disconnect(now);
        let error = StreamError::new(
            StreamCondition::Conflict,
            "en",
            "This session was resumed on another server.",
        );
        self.core.nonza(error, Placement::TopLevel);
    }

    /// Hibernates `session` for its granted time from `now`, when its last stream was lost.
    /// The deadline is set here, not when the session left a stream: a session handed over to
    /// a stream that then lost its connection was in memory all along, and a wall-clock step
    /// in between must not shorten (or stretch) its life.
    fn hibernate(&mut self, now: Now, mut session: HibernatedSession) {
        session.deadline = HibernatedSession::deadline_from(now, session.max);
        let (id, jid) = (session.id.clone(), session.resource.clone());
        let due = now.monotonic_for(session.deadline);
        match self.store.with(|t| t.hibernate(session, due)) {
            Ok(()) => self.core.event(ServerEvent::Hibernated { id, jid }),
            // Only a replayed record could collide; nothing is lost either way.
            Err(session) => self
                .core
                .hand_back(HandBackReason::StreamClosed, session.into_unacked()),
        }
    }

    /// Ends the stream cleanly (the client closed it, or the server ends it without
    /// hibernating): every unacknowledged stanza is handed back and the session's last `h`
    /// is remembered for a late `<resume/>`. A session another stream is taking over goes
    /// there instead. On a stream that is already closed it does nothing.
    pub fn close(&mut self, now: Now) {
        self.last_now = Some(now);
        if self.phase == Phase::Closed {
            return;
        }
        self.end(now, HandBackReason::StreamClosed);
    }

    /// A fatal error (the answer is already queued): the session ends.
    pub(super) fn fail(&mut self, reason: HandBackReason) {
        let now = self.last_now;
        match now {
            Some(now) => self.end(now, reason),
            None => {
                self.core.hand_back_all(reason);
                self.close_stream();
            }
        }
    }

    fn end(&mut self, now: Now, reason: HandBackReason) {
        match &self.phase {
            Phase::Resuming { previd, .. } => {
                let (key, previd) = (self.key, previd.clone());
                if let Some(session) = self.store.with(|t| t.abandon_takeover(key, &previd)) {
                    self.hibernate(now, session);
                }
            }
            Phase::On if self.id.is_some() => {
                // Counted stanzas not yet written are in the queue that is handed back or
                // moves to the stream taking the session over.
                self.core.unsend_counted();
                let session = self.detach(now);
                match self.give_up(session) {
                    Some(session) => {
                        let stanzas = self.store.with(|t| t.end_session(session));
                        self.core.hand_back(reason, stanzas);
                    }
                    // A stream waiting to take the session over got it, with every stanza.
                    None => self.core.event(ServerEvent::TakenOver),
                }
            }
            _ => self.core.hand_back_all(reason),
        }
        self.close_stream();
    }

    /// The stream leaves the store's indexes; nothing more goes in or out.
    fn close_stream(&mut self) {
        self.phase = Phase::Closed;
        self.core.reset_requests();
        let (key, limit, now) = (self.key, self.config().max_queue, self.last_now);
        // A stream never given a time was never bound, so nothing was routed to it.
        let stranded = self.store.with(|t| t.close(now, key, limit));
        // Routed here, but with nowhere to go now (the session ended): handed back.
        let _ = now;
        self.core.hand_back(HandBackReason::StreamClosed, stranded);
    }

    /// Takes the stanzas [`SessionStore::send`](crate::SessionStore::send) routed here, as
    /// if given to [`send`](Self::send). One the stream refuses (its queue overflowed and it
    /// closed) is routed again, or handed back.
    fn take_routed(&mut self, now: Now) {
        let key = self.key;
        let routed = self.store.with(|t| t.take_inbox(key));
        let limit = self.config().max_queue;
        for u in routed {
            // Stamped with the time the stanza was routed, not the time it is taken.
            let Err(refused) = self.send_at(now, u.stanza, u.first_sent) else {
                continue;
            };
            let stanza = refused.into_inner();
            let again = match self.resource.clone() {
                Some(jid) => {
                    match self
                        .store
                        .with(|t| t.route_stanza(now, &jid, stanza, u.first_sent, limit))
                    {
                        Routed::Refused(refused) => Some(refused.into_inner()),
                        Routed::Inbox | Routed::Hibernated => None,
                    }
                }
                None => Some(stanza),
            };
            if let Some(stanza) = again {
                let stanza = Unacked::new(stanza, u.first_sent);
                self.core
                    .hand_back(HandBackReason::StreamClosed, vec![stanza]);
            }
        }
    }
}

impl<H: StreamHandle> Drop for Server<H> {
    /// A stream dropped without [`close`](Server::close) or
    /// [`handle_disconnect`](Server::handle_disconnect) (an aborted task, a panic elsewhere)
    /// counts as a lost connection at the last time it was given: its session hibernates, and
    /// what it cannot keep goes to the store's events. No live entry stays behind.
    fn drop(&mut self) {
        if self.phase != Phase::Closed {
            match self.last_now {
                Some(now) => self.handle_disconnect(now),
                None => self.close_stream(),
            }
        }
        // Stanzas handed back but never drained must not vanish with the stream.
        let (owner, jid) = (self.owner.clone(), self.resource.clone());
        while let Some(event) = self.core.poll_event() {
            if let ServerEvent::HandedBack { stanzas, .. } = event {
                let (owner, jid) = (owner.clone(), jid.clone());
                self.store.with(|t| t.orphaned(None, owner, jid, stanzas));
            }
        }
    }
}
