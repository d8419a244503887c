//! The server side of the [`Pair`]: what a real server does with `<enable/>` and `<resume/>`,
//! broken connections, fatal errors and its store, plus the harness's model of where each
//! session is (live on a stream, hibernated, ended with a remembered `h`), against which
//! every `SessionStore::claim` and `StoreEvent::Expired` is checked.

use std::time::SystemTime;

use jid::FullJid;
use minidom::Element;
use xmpp_sm::elements::Resume;
use xmpp_sm::{Claim, Event, Incoming, SmId, StoreEvent};

use super::pair::Pair;
use super::record::{Cause, Dir};

/// Where the server's router sends stanzas for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// A stream with stream management on.
    Stream(usize),
    /// A hibernated session in the store.
    Hibernated(SmId, FullJid),
    /// Nowhere: stored offline.
    Offline,
}

/// Where the harness believes a session is, to check `SessionStore::claim` against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Where {
    Live(usize),
    Hibernated { deadline: SystemTime, handled: u32 },
    Ended(u32),
}

/// A request waiting for the server's answer.
#[derive(Debug)]
pub(super) enum Request {
    Enable,
    Resume(Resume),
}

impl Pair {
    pub(super) fn answer_pending(&mut self, i: usize) {
        match self.streams[i].pending.take() {
            Some(Request::Enable) => self.accept_enable(i),
            Some(Request::Resume(request)) => self.answer_resume(i, &request),
            None => {}
        }
        self.drain_server(i);
    }

    pub(super) fn server_reads(&mut self, i: usize, element: Element) {
        let shown = format!("{element:?}");
        match self.streams[i].server.handle_element(self.now, element) {
            Ok(Incoming::Stanza(stanza)) => {
                let session = self.streams[i].session.expect("stanzas follow <enable/>");
                self.record.delivered(Dir::ClientToServer, &stanza, session);
            }
            Ok(Incoming::Handled) => {}
            Ok(Incoming::EnableRequest(_)) => {
                // Counting starts with `<enable/>`, whenever it is answered.
                self.next_number += 1;
                self.streams[i].session = Some(self.next_number);
                if self.setup.defer_answers {
                    self.streams[i].pending = Some(Request::Enable);
                } else {
                    self.accept_enable(i);
                }
            }
            Ok(Incoming::ResumeRequest(request)) if self.setup.defer_answers => {
                self.streams[i].pending = Some(Request::Resume(request));
            }
            Ok(Incoming::ResumeRequest(request)) => self.answer_resume(i, &request),
            Ok(other) => panic!("server {i}: unexpected {other:?}"),
            Err(e) => panic!("server {i} refused {shown}: {e:?}"),
        }
        self.drain_server(i);
    }

    pub(super) fn accept_enable(&mut self, i: usize) {
        let server = &mut self.streams[i].server;
        let enabled = server
            .accept_enable(self.now, &mut self.ids)
            .expect("enable request pending");
        if let Some((client_base, server_base)) = self.setup.shift {
            // Keep what was counted while the request was pending.
            let handled = client_base.wrapping_add(server.handled());
            server.__shift_counters(server_base, handled);
        }
        let number = self.streams[i].session.expect("numbered on <enable/>");
        if let Some(id) = self.streams[i].server.id().cloned() {
            self.store.register(id.clone(), self.owner.clone());
            self.numbers.insert(id.clone(), number);
            self.sessions.insert(id, Where::Live(i));
        }
        self.route = Route::Stream(i);
        self.streams[i].down.write(enabled);
    }

    /// Looks the session up as a server would, checking the store against the model.
    pub(super) fn answer_resume(&mut self, i: usize, request: &Resume) {
        let expected = self.sessions.get(&request.previd).cloned();
        let claim = self.store.claim(self.now, &request.previd, &self.owner);
        let session = match (claim, expected) {
            (Claim::Hibernated(session), Some(Where::Hibernated { deadline, handled })) => {
                assert_eq!(
                    (session.deadline(), session.handled()),
                    (deadline, handled),
                    "claimed session differs from the one hibernated"
                );
                assert!(self.now < deadline, "claimed a session past its deadline");
                if let Some(jid) = session.resource() {
                    assert_ne!(
                        self.store.find(jid),
                        Some(&request.previd),
                        "found once claimed"
                    );
                }
                session
            }
            (Claim::Live, Some(Where::Live(j))) => {
                let (session, conflict) = self.streams[j]
                    .server
                    .take_over(self.now)
                    .expect("live stream is resumable");
                self.stats.takeovers += 1;
                self.drain_server(j);
                // The old stream ends with `conflict`; a client still reading it sees that
                // after whatever was already in flight.
                let s = &mut self.streams[j];
                s.alive = false;
                s.up.cut();
                s.down.write(conflict.into());
                s.down.close();
                session
            }
            (Claim::Failed { h }, expected) => {
                let known = match expected {
                    Some(Where::Ended(h)) => Some(h),
                    None => None,
                    other => panic!("store failed a resume the model holds: {other:?}"),
                };
                assert_eq!(h, known, "remembered h differs from the model's");
                let failed = self.streams[i]
                    .server
                    .reject_resume(self.now, h)
                    .expect("resume request pending");
                self.streams[i].down.write(failed);
                return;
            }
            (claim, expected) => panic!("store answered {claim:?}, model expected {expected:?}"),
        };
        let resumed = self.streams[i].server.accept_resume(self.now, session);
        self.sessions.insert(request.previd.clone(), Where::Live(i));
        self.streams[i].session = self.numbers.get(&request.previd).copied();
        self.route = Route::Stream(i);
        // The client's `h` never exceeds what was sent; a stale request's `h` may be behind
        // the session's last acknowledgement, which acknowledges nothing.
        let resumed = resumed.unwrap_or_else(|e| panic!("accept_resume: {e:?}"));
        self.streams[i].down.write(resumed);
    }

    /// The server notices its connection is gone: reads what is still in flight, then
    /// hibernates the session (or hands everything back when it is not resumable).
    pub(super) fn server_notices(&mut self, i: usize) {
        if !self.streams[i].alive {
            return;
        }
        while self.streams[i].up.is_busy() {
            self.deliver(i, Dir::ClientToServer);
        }
        if !self.streams[i].alive {
            return; // taken over meanwhile (cannot happen: no `<resume/>` on this stream)
        }
        let s = &mut self.streams[i];
        s.alive = false;
        s.up.cut();
        s.down.cut();
        match s.server.handle_disconnect(self.now) {
            Some(session) => {
                let id = session.id().clone();
                let (deadline, handled) = (session.deadline(), session.handled());
                self.sessions
                    .insert(id.clone(), Where::Hibernated { deadline, handled });
                if self.route == Route::Stream(i) {
                    let jid = session.resource().cloned().expect("bound before enable");
                    self.route = Route::Hibernated(id.clone(), jid);
                }
                self.store.hibernate(self.now, session);
                self.drain_server(i);
                self.drain_store(Some(&id));
            }
            None => {
                if self.route == Route::Stream(i) {
                    self.route = Route::Offline;
                }
                self.drain_server(i);
            }
        }
    }

    /// The server closed stream `i` for good (fatal error, or a clean close without `error`):
    /// the session ends and its `h` is remembered; the client, if attached, reads the
    /// stream error after what was in flight (or notices at once on a clean close).
    pub(super) fn server_fails(&mut self, i: usize, error: Option<Element>) {
        let s = &mut self.streams[i];
        s.alive = false;
        s.up.cut();
        let clean = error.is_none();
        if let Some(error) = error {
            s.down.write(error);
        }
        s.down.close();
        if let Some(id) = s.server.id().cloned() {
            let handled = s.server.handled();
            self.store.end(&id, handled);
            if self.sessions.get(&id) == Some(&Where::Live(i)) {
                self.remember(id, handled);
            }
        }
        if self.route == Route::Stream(i) {
            self.route = Route::Offline;
        }
        if clean && self.current == Some(i) {
            self.client_disconnects(false, false);
        }
    }

    /// Mirrors the store's bounded memory of ended sessions.
    pub(super) fn remember(&mut self, id: SmId, handled: u32) {
        self.sessions.remove(&id);
        if self.setup.store.max_remembered == 0 {
            return;
        }
        while self.remembered.len() >= self.setup.store.max_remembered {
            if let Some(old) = self.remembered.pop_front() {
                self.sessions.remove(&old);
            }
        }
        self.sessions.insert(id.clone(), Where::Ended(handled));
        self.remembered.push_back(id);
    }

    pub(super) fn drain_server(&mut self, i: usize) {
        let s = &mut self.streams[i];
        while let Some(transmit) = s.server.poll_transmit() {
            s.down.write(transmit.into_element());
        }
        let mut timed_out = false;
        while let Some(event) = self.streams[i].server.poll_event() {
            match event {
                Event::HandedBack { reason, stanzas } => {
                    for u in stanzas {
                        let cause = Cause::Machine {
                            reason,
                            failed_h: None,
                        };
                        self.record.handed_back(
                            Dir::ServerToClient,
                            &u.stanza,
                            cause,
                            Some(u.first_sent),
                        );
                    }
                }
                Event::AckTimeout { .. } => {
                    self.stats.ack_timeouts += 1;
                    timed_out = true;
                }
                Event::SessionEnded { id, handled } => {
                    // As a real server does: remember the ended session's h for late resumes.
                    self.store.end(&id, handled);
                    if self.sessions.get(&id) == Some(&Where::Live(i)) {
                        self.remember(id, handled);
                    }
                }
                Event::Acked { .. } | Event::Resumed { .. } => {}
                other => panic!("server {i}: unexpected event {other:?}"),
            }
        }
        if timed_out {
            self.server_notices(i);
        }
    }

    /// Hands expired sessions' stanzas back. `hibernated` is the session just hibernated,
    /// when that may have evicted one before its deadline ([`xmpp_sm::StoreConfig`]
    /// `max_hibernated`: the one closest to its deadline goes first).
    pub(super) fn drain_store(&mut self, hibernated: Option<&SmId>) {
        while let Some(event) = self.store.poll_event() {
            match event {
                StoreEvent::Expired { id, stanzas, .. } => {
                    self.stats.expiries += 1;
                    let Some(Where::Hibernated { deadline, handled }) =
                        self.sessions.get(&id).cloned()
                    else {
                        panic!("store expired {id}, which the model does not hold hibernated");
                    };
                    if deadline > self.now {
                        assert!(hibernated.is_some(), "{id} expired before its deadline");
                        self.check_eviction(&id, deadline, hibernated);
                    }
                    for u in stanzas {
                        let first_sent = Some(u.first_sent);
                        let cause = Cause::Expired;
                        self.record
                            .handed_back(Dir::ServerToClient, &u.stanza, cause, first_sent);
                    }
                    self.remember(id.clone(), handled);
                    if matches!(&self.route, Route::Hibernated(routed, _) if *routed == id) {
                        self.route = Route::Offline;
                    }
                }
                other => panic!("store: unexpected event {other:?}"),
            }
        }
        let modelled = self
            .sessions
            .values()
            .filter(|w| matches!(w, Where::Hibernated { .. }))
            .count();
        assert_eq!(self.store.hibernated(), modelled, "hibernated sessions");
    }

    /// An eviction took the session closest to its deadline (or, with no room at all, the
    /// one just hibernated).
    fn check_eviction(&self, id: &SmId, deadline: SystemTime, hibernated: Option<&SmId>) {
        let max = self.setup.store.max_hibernated;
        if hibernated == Some(id) {
            assert_eq!(
                max, 0,
                "{id} evicted as it was hibernated, with room for {max}"
            );
            return;
        }
        let earlier = self.sessions.iter().find(|(other, w)| {
            matches!(w, Where::Hibernated { deadline: d, .. } if *d < deadline)
                && *other != id
                && Some(*other) != hibernated
        });
        assert!(
            earlier.is_none(),
            "evicted {id}, not the earlier {earlier:?}"
        );
    }
}
