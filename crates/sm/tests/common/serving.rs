//! The server side of the [`Pair`]: what a server's connection tasks and router do (read,
//! write, route stanzas through the store, notice dead connections, restart), and the
//! harness's model of where each session is, against which every answer of the streams and
//! the store is checked. The policy itself (registering, claiming, take-over, hibernation,
//! ending) is the library's: nothing of it is written here.

use minidom::Element;
use xmpp_sm::{
    HandBackReason, Incoming, Monotonic, Namespace, Refusal, Route, ServerEvent, SessionStore,
    SmId, StoreEvent,
};

use super::pair::{Pair, Task};
use super::record::{Cause, Dir};

/// Where the harness believes a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Where {
    /// Held by stream `i`.
    Live(usize),
    /// Taken off a stream for another that asked to take it over, not yet resumed there.
    Moving { handled: u32 },
    /// In the store until `due` (monotonic).
    Hibernated { due: Monotonic, handled: u32 },
    /// Ended; the store remembers its last `h`.
    Ended(u32),
}

impl Pair {
    /// The server's router sends one stanza to the client, wherever the client is, through
    /// [`SessionStore::send`]: into a managed stream's inbox (its task takes it when woken),
    /// or into the hibernated session. This router stores stanzas for an unmanaged stream
    /// offline instead: nothing is promised for a stanza written to one.
    pub(crate) fn server_send(&mut self) {
        let stanza = self.record.new_stanza(Dir::ServerToClient, self.now.wall());
        let route = self.jid.as_ref().and_then(|jid| self.store.route(jid));
        let managed = match &route {
            Some(Route::Live(handle)) => {
                let Task::Stream(i) = handle.task else {
                    panic!("a stream routed to the timer handle");
                };
                self.streams[i]
                    .server
                    .as_ref()
                    .is_some_and(|s| s.is_enabled())
            }
            Some(Route::Hibernated(id)) => {
                assert!(
                    matches!(self.sessions.get(id), Some(Where::Hibernated { .. })),
                    "routed to {id} hibernated, the model has {:?}",
                    self.sessions.get(id)
                );
                true
            }
            _ => false,
        };
        let (Some(jid), true) = (self.jid.clone(), managed) else {
            self.record
                .handed_back(Dir::ServerToClient, &stanza, Cause::Offline, None);
            return;
        };
        let sent = self.store.send(self.now, &jid, stanza);
        self.collect_wakes();
        self.drain_store();
        if let Err(refused) = sent {
            let cause = match refused.reason() {
                // Expired on the way (its deadline had passed).
                Refusal::UnknownSession => Cause::Offline,
                Refusal::QueueFull { .. } => Cause::StoreRefused,
                other => panic!("the store refused a stanza: {other:?}"),
            };
            self.record
                .handed_back(Dir::ServerToClient, &refused.into_inner(), cause, None);
        }
    }

    pub(super) fn answer_pending(&mut self, i: usize) {
        let s = &mut self.streams[i];
        if !s.pending_enable || !s.alive {
            return;
        }
        s.pending_enable = false;
        if let Some(server) = s.server.as_mut() {
            server
                .accept_enable(self.now)
                .expect("an enable request is pending");
        }
        self.drain_server(i);
    }

    pub(super) fn server_reads(&mut self, i: usize, element: Element) {
        let shown = format!("{element:?}");
        let stream_error = element.is("error", xmpp_sm::ns::STREAM);
        let previd = (element.name() == "resume")
            .then(|| element.attr("previd").and_then(|id| SmId::new(id).ok()))
            .flatten();
        let s = &mut self.streams[i];
        let Some(server) = s.server.as_mut() else {
            return;
        };
        let was_pending = server.is_resume_pending();
        match server.handle_element(self.now, element) {
            Ok(Incoming::Stanza(stanza)) => {
                let session = s.session.expect("stanzas follow <enable/>");
                self.record.delivered(Dir::ClientToServer, &stanza, session);
            }
            Ok(Incoming::Handled) => {}
            // The client ended the stream with an error (a queue overflow): so does the
            // server.
            Ok(Incoming::NotOurs(_)) if stream_error => server.close(self.now),
            Ok(other) => panic!("server {i}: unexpected {other:?}"),
            Err(e) => panic!("server {i} refused {shown}: {e:?}"),
        }
        if !was_pending
            && server.is_resume_pending()
            && let Some(previd) = previd
        {
            // The session is live on another stream, which has been woken to hand it over.
            self.claims.insert(previd, i);
        }
        self.drain_server(i);
    }

    /// The server notices its connection is gone: reads what is still in flight, then
    /// hands the stream to the library (hibernate, or hand everything back).
    pub(crate) fn server_notices(&mut self, i: usize) {
        if !self.streams[i].alive {
            return;
        }
        while self.streams[i].alive && self.streams[i].up.is_busy() {
            self.deliver(i, Dir::ClientToServer);
        }
        if !self.streams[i].alive {
            return;
        }
        if let Some(server) = self.streams[i].server.as_mut() {
            server.handle_disconnect(self.now);
        }
        self.drain_server(i);
        let s = &mut self.streams[i];
        s.alive = false;
        s.up.cut();
        s.down.cut();
    }

    /// Every server whose connection is broken notices (reads what is still in flight first).
    pub(crate) fn servers_notice(&mut self) {
        for i in 0..self.streams.len() {
            let s = &self.streams[i];
            let broken = self.current != Some(i) || !s.up.is_open() || !s.down.is_open();
            if s.alive && broken {
                self.server_notices(i);
            }
        }
    }

    /// A connection task is aborted: its [`xmpp_sm::Server`] is dropped without a close or a
    /// disconnect (the library hibernates the session itself). `current` picks the client's
    /// stream, otherwise the oldest other stream still running.
    pub(crate) fn drop_stream(&mut self, current: bool) {
        let target = if current {
            self.current.filter(|&i| self.streams[i].alive)
        } else {
            (0..self.streams.len()).find(|&i| self.current != Some(i) && self.streams[i].alive)
        };
        let Some(i) = target else {
            return;
        };
        self.stats.stream_drops += 1;
        let claimed = self
            .claims
            .iter()
            .find(|&(_, &c)| c == i)
            .map(|(id, _)| id.clone());
        let s = &mut self.streams[i];
        let (id, handled, max) = (s.id.take(), s.handled, s.max);
        drop(s.server.take());
        s.alive = false;
        s.up.cut();
        s.down.cut();
        if let Some(id) = id {
            let place = if self.claims.contains_key(&id) {
                Where::Moving { handled }
            } else {
                let due = self.now.monotonic() + secs(max);
                Where::Hibernated { due, handled }
            };
            self.sessions.insert(id, place);
        }
        if let Some(previd) = claimed {
            // A claimant gives up: a session already handed to it hibernates again.
            self.claims.remove(&previd);
            if let Some(Where::Moving { handled }) = self.sessions.get(&previd).cloned() {
                let max = self.grants.get(&previd).map_or(0, |&(_, max)| max);
                let due = self.now.monotonic() + secs(max);
                self.sessions
                    .insert(previd, Where::Hibernated { due, handled });
            }
        }
        self.collect_wakes();
        self.drain_store();
    }

    /// The server restarts: every stream's connection dies with it (each hibernates its
    /// session), the store is written as a snapshot (through JSON with the `serde` feature)
    /// and read back, validated, into a fresh store.
    pub(crate) fn restart(&mut self) {
        self.stats.restarts += 1;
        for i in 0..self.streams.len() {
            if !self.streams[i].alive {
                continue;
            }
            if let Some(server) = self.streams[i].server.as_mut() {
                server.handle_disconnect(self.now);
            }
            self.drain_server(i);
            let s = &mut self.streams[i];
            s.alive = false;
            s.up.cut();
            s.down.cut();
        }
        self.collect_wakes();
        let snapshot = self.store.snapshot(self.now);
        #[cfg(feature = "serde")]
        let snapshot = {
            let json = serde_json::to_string(&snapshot).expect("a snapshot serialises");
            serde_json::from_str(&json).expect("our own snapshot deserialises")
        };
        let store = SessionStore::restore(self.setup.server.clone(), snapshot, self.now)
            .expect("our own snapshot restores");
        // The old streams are closed: dropping them touches nothing.
        for s in &mut self.streams {
            drop(s.server.take());
        }
        self.claims.clear();
        self.store = store;
        self.store.set_timer_handle(self.handle(Task::Timer));
        self.drain_store();
    }

    pub(super) fn drain_server(&mut self, i: usize) {
        let s = &mut self.streams[i];
        let Some(server) = s.server.as_mut() else {
            return;
        };
        let mut failed_h = None;
        while let Some(transmit) = server.poll_transmit() {
            let element = transmit.into_element();
            if Namespace::of(&element).is_some() {
                let number = |name| element.attr(name).and_then(|v| v.parse::<u32>().ok());
                match element.name() {
                    "enabled" => s.max = number("max").unwrap_or(0),
                    "failed" => failed_h = number("h"),
                    _ => {}
                }
            }
            s.down.write(element);
        }
        let mut timed_out = false;
        let mut events = Vec::new();
        if let Some(server) = self.streams[i].server.as_mut() {
            events.extend(std::iter::from_fn(|| server.poll_event()));
        }
        for event in events {
            match event {
                ServerEvent::HandedBack { reason, stanzas } => {
                    if reason == HandBackReason::QueueOverflow {
                        self.stats.overflows += 1;
                    }
                    for u in stanzas {
                        let cause = Cause::Machine {
                            reason,
                            failed_h: None,
                        };
                        let first_sent = Some(u.first_sent);
                        self.record
                            .handed_back(Dir::ServerToClient, &u.stanza, cause, first_sent);
                    }
                }
                ServerEvent::AckTimeout { .. } => {
                    self.stats.ack_timeouts += 1;
                    timed_out = true;
                }
                ServerEvent::EnableRequested(_) => {
                    self.next_number += 1;
                    let s = &mut self.streams[i];
                    s.session = Some(self.next_number);
                    s.pending_enable = true;
                }
                ServerEvent::Enabled { id } => self.on_enabled(i, id),
                ServerEvent::Resumed { previd, .. } => self.on_resumed(i, previd),
                ServerEvent::ResumeRefused { previd } => self.on_refused(i, &previd, failed_h),
                ServerEvent::TakenOver => {
                    let s = &mut self.streams[i];
                    if let Some(id) = s.id.take() {
                        let handled = s.handled;
                        self.sessions.insert(id, Where::Moving { handled });
                    }
                    self.stats.takeovers += 1;
                }
                ServerEvent::Hibernated { id, .. } => self.on_hibernated(i, id),
                ServerEvent::Acked { .. } => {}
                other => panic!("server {i}: unexpected event {other:?}"),
            }
        }
        self.after_drain(i);
        self.collect_wakes();
        self.drain_store();
        if timed_out {
            // An unanswered `<r/>`: the connection is dead.
            self.server_notices(i);
        }
    }

    fn on_enabled(&mut self, i: usize, id: Option<SmId>) {
        let s = &mut self.streams[i];
        if !s.pending_enable {
            self.next_number += 1;
            s.session = Some(self.next_number);
        }
        s.pending_enable = false;
        if let (Some((client_base, server_base)), Some(server)) =
            (self.setup.shift, s.server.as_mut())
        {
            // Keep what was counted while the request was pending.
            let handled = client_base.wrapping_add(server.handled());
            server.__shift_counters(server_base, handled);
        }
        if let Some(id) = id {
            let number = s.session.expect("numbered above");
            self.grants.insert(id.clone(), (number, s.max));
            self.sessions.insert(id.clone(), Where::Live(i));
            s.id = Some(id);
        }
    }

    fn on_resumed(&mut self, i: usize, previd: SmId) {
        let expected = self.sessions.get(&previd).cloned();
        match expected {
            Some(Where::Hibernated { due, .. }) => {
                assert!(
                    self.now.monotonic() < due,
                    "resumed {previd} past its deadline"
                );
            }
            Some(Where::Moving { .. }) => {}
            other => panic!("resumed {previd}, which the model has {other:?}"),
        }
        // Any other stream still waiting for this session has been superseded.
        self.claims.remove(&previd);
        self.sessions.insert(previd.clone(), Where::Live(i));
        let s = &mut self.streams[i];
        let (number, max) = *self.grants.get(&previd).expect("granted on enable");
        s.session = Some(number);
        s.max = max;
        s.id = Some(previd);
    }

    /// A `<resume/>` was answered `<failed h/>`: the model agrees there was nothing to resume,
    /// and on the `h` the store remembered.
    fn on_refused(&mut self, i: usize, previd: &SmId, h: Option<u32>) {
        if self.claims.get(previd) == Some(&i) {
            self.claims.remove(previd);
        }
        let remembers = self.setup.server.store.max_remembered > 0;
        match self.sessions.get(previd) {
            Some(Where::Ended(handled)) => assert_eq!(h, Some(*handled), "remembered h"),
            // Expired by the claim itself (the store's event is drained next).
            Some(Where::Hibernated { due, handled }) if *due <= self.now.monotonic() => {
                assert_eq!(
                    h,
                    Some(*handled).filter(|_| remembers),
                    "h of an expired one"
                );
            }
            // A take-over that timed out, or that a newer claimant superseded.
            Some(Where::Live(_) | Where::Moving { .. }) => assert_eq!(h, None),
            None => assert_eq!(h, None, "h of a forgotten session"),
            other => panic!("refused to resume {previd}, which the model has {other:?}"),
        }
    }

    fn on_hibernated(&mut self, i: usize, id: SmId) {
        let s = &mut self.streams[i];
        let handled = if s.id.as_ref() == Some(&id) {
            s.id = None;
            s.handled
        } else {
            // A claimant gave up after the session was handed to it.
            match self.sessions.get(&id) {
                Some(Where::Moving { handled }) => *handled,
                other => panic!("{id} hibernated from stream {i}, the model has {other:?}"),
            }
        };
        let max = self.grants.get(&id).map_or(0, |&(_, max)| max);
        let due = self.now.monotonic() + secs(max);
        self.sessions.insert(id, Where::Hibernated { due, handled });
    }

    /// After every call on stream `i`: note what it handled, and whether it closed itself
    /// (take-over, fatal error, overflow, close).
    fn after_drain(&mut self, i: usize) {
        let Some(server) = self.streams[i].server.as_ref() else {
            return;
        };
        let closed = server.is_closed();
        let handled = server.handled();
        let s = &mut self.streams[i];
        if !closed {
            s.handled = handled;
            return;
        }
        if s.alive {
            // What the server wrote last (a stream error) still reaches a client reading.
            s.alive = false;
            s.up.cut();
            s.down.close();
        }
        if let Some(id) = s.id.take() {
            // Closed without hibernating or handing over: the session ended.
            let handled = s.handled;
            if self.sessions.get(&id) == Some(&Where::Live(i)) {
                self.remember(id, handled);
            }
        }
        if let Some(previd) = self
            .claims
            .iter()
            .find(|&(_, &c)| c == i)
            .map(|(id, _)| id.clone())
        {
            self.claims.remove(&previd);
        }
    }

    /// Mirrors the store's bounded memory of ended sessions.
    pub(super) fn remember(&mut self, id: SmId, handled: u32) {
        self.sessions.remove(&id);
        let limit = self.setup.server.store.max_remembered;
        if limit == 0 {
            return;
        }
        while self.remembered.len() >= limit {
            if let Some(old) = self.remembered.pop_front() {
                self.sessions.remove(&old);
            }
        }
        self.sessions.insert(id.clone(), Where::Ended(handled));
        self.remembered.push_back(id);
    }

    /// Hands back what the store gives up (expired, evicted, or held by a dropped stream),
    /// checking each against the model.
    pub(super) fn drain_store(&mut self) {
        while let Some(event) = self.store.poll_event() {
            let StoreEvent::HandedBack {
                reason,
                id,
                stanzas,
                ..
            } = event
            else {
                panic!("store: unexpected event {event:?}");
            };
            if let Some(id) = id
                .as_ref()
                .filter(|_| reason != HandBackReason::StreamClosed)
            {
                let Some(Where::Hibernated { due, handled }) = self.sessions.get(id).cloned()
                else {
                    panic!(
                        "store ended {id} ({reason:?}), the model has {:?}",
                        self.sessions.get(id)
                    );
                };
                match reason {
                    HandBackReason::Expired => {
                        self.stats.expiries += 1;
                        assert!(
                            due <= self.now.monotonic(),
                            "{id} expired before its deadline"
                        );
                    }
                    HandBackReason::Evicted => {
                        self.stats.evictions += 1;
                        self.check_eviction(id, due);
                    }
                    other => panic!("store ended {id} for {other:?}"),
                }
                self.remember(id.clone(), handled);
            }
            for u in stanzas {
                let first_sent = Some(u.first_sent);
                self.record.handed_back(
                    Dir::ServerToClient,
                    &u.stanza,
                    Cause::Store(reason),
                    first_sent,
                );
            }
        }
        let modelled = self
            .sessions
            .values()
            .filter(|w| matches!(w, Where::Hibernated { .. }))
            .count();
        assert_eq!(
            self.store.hibernated_count(),
            modelled,
            "hibernated sessions"
        );
    }

    /// An eviction took the session closest to its deadline (one account here, so its oldest
    /// is the store's): no other hibernated session is due earlier.
    fn check_eviction(&self, id: &SmId, due: Monotonic) {
        let earlier = self.sessions.iter().find(|(other, w)| {
            matches!(w, Where::Hibernated { due: d, .. } if *d < due) && *other != id
        });
        assert!(
            earlier.is_none(),
            "evicted {id}, not the earlier {earlier:?}"
        );
    }
}

fn secs(s: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(s))
}
