//! A client and a server (one per stream) wired through seeded lossy links, in virtual time.
//!
//! Modelled on the `Pair` in quinn-proto's tests: the harness owns the clock and the wires,
//! drives both machines until nothing moves, and jumps the clock to the next deadline when
//! idle. It plays the server exactly as a real one would: bind before `<enable/>`, register
//! the SM-ID, hibernate on disconnect, claim on `<resume/>` (taking over a stream that is
//! still open), push stanzas for a hibernated client into the store, and bind afresh after a
//! failed resumption (that part is in `serving`). Every stanza's fate goes into a [`Record`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_sm::{
    Answer, Client, ClientConfig, Error, Event, HandBackReason, Incoming, Misuse, Namespace,
    PeerError, Server, ServerConfig, SessionStore, SmId, StoreConfig, StoreError,
};

use super::link::{Dice, Link};
use super::record::{Cause, Dir, Record};
use super::serving::{Request, Route, Where};

/// Everything that makes one run differ from another.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The client's configuration (resume is requested).
    pub(crate) client: ClientConfig,
    /// Every server stream's configuration.
    pub(crate) server: ServerConfig,
    /// The session store's configuration.
    pub(crate) store: StoreConfig,
    /// The dialect the client enables.
    pub(crate) ns: Namespace,
    /// Seed of the network dice and of the SM-ID generator.
    pub(crate) seed: u64,
    /// Chance, in thousandths, that an element is lost (cutting its direction).
    pub(crate) loss_permille: u32,
    /// Counters start here on every fresh enable: (client outbound, server outbound).
    pub(crate) shift: Option<(u32, u32)>,
    /// Whether the client application sends while `<enable/>` is unanswered (such stanzas
    /// are handed back if that stream breaks, although the server may have handled them).
    pub(crate) send_while_enabling: bool,
    /// Whether the server answers `<enable/>`/`<resume/>` later (after an asynchronous
    /// lookup, say) rather than at once: elements may arrive while the request is pending.
    pub(crate) defer_answers: bool,
}

impl Setup {
    /// Defaults everywhere, every dialect's counting the same: sm:3, no loss, no shift.
    pub(crate) fn new(seed: u64) -> Self {
        let mut server = ServerConfig::default();
        server.namespaces = Namespace::ALL.to_vec();
        Self {
            client: ClientConfig::default(),
            server,
            store: StoreConfig::default(),
            ns: Namespace::Sm3,
            seed,
            loss_permille: 0,
            shift: None,
            send_while_enabling: true,
            defer_answers: false,
        }
    }
}

/// The client as the harness believes it to be; checked against the client's getters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Off,
    Enabling,
    On,
    Disconnected,
    Resuming,
}

/// How often each path was taken (to check that the generators reach them all).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) enables: u32,
    pub(crate) resumes: u32,
    pub(crate) resume_failures: u32,
    pub(crate) takeovers: u32,
    pub(crate) expiries: u32,
    pub(crate) drops: u32,
    pub(crate) overflows: u32,
    pub(crate) ack_timeouts: u32,
    pub(crate) retransmitted: u32,
}

/// One stream: a server machine and the two directions of its connection.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) server: Server,
    pub(super) up: Link,
    pub(super) down: Link,
    /// The server has not yet noticed that the connection is gone.
    pub(super) alive: bool,
    /// The session enabled or resumed on this stream, numbered by the harness.
    pub(super) session: Option<u64>,
    /// A request the server has not answered yet (`Setup::defer_answers`).
    pub(super) pending: Option<Request>,
}

/// What the network can do next.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// Deliver the oldest element from client to server on stream `i`.
    Up(usize),
    /// Deliver the oldest element from server to client on stream `i`.
    Down(usize),
    /// The server of stream `i` answers its pending request.
    Answer(usize),
}

/// The harness. See the module docs.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) now: SystemTime,
    pub(crate) client: Client,
    pub(crate) store: SessionStore,
    pub(crate) streams: Vec<Stream>,
    /// The stream the client is attached to.
    pub(crate) current: Option<usize>,
    pub(crate) record: Record,
    pub(crate) stats: Stats,
    pub(crate) phase: Phase,
    pub(super) setup: Setup,
    pub(super) dice: Dice,
    pub(super) ids: ChaCha20Rng,
    pub(super) owner: BareJid,
    pub(super) route: Route,
    pub(super) sessions: HashMap<SmId, Where>,
    pub(super) remembered: VecDeque<SmId>,
    pub(super) failed_h: Option<u32>,
    /// Harness numbers of resumable sessions, by SM-ID.
    pub(super) numbers: HashMap<SmId, u64>,
    pub(super) next_number: u64,
    /// Client bookkeeping: stanzas given to `send` = acknowledged + handed back + held.
    given: u64,
    acked: u64,
    handed: u64,
}

/// Deliveries in one `drive` before the harness calls it a livelock.
const MAX_STEPS: usize = 100_000;

impl Pair {
    /// A client on a fresh stream, `<enable/>` in flight (nothing delivered yet).
    pub(crate) fn new(setup: Setup) -> Self {
        let mut pair = Self {
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            client: Client::new(setup.client.clone()),
            store: SessionStore::new(setup.store.clone()),
            streams: Vec::new(),
            current: None,
            record: Record::default(),
            stats: Stats::default(),
            phase: Phase::Off,
            dice: Dice::new(setup.seed, setup.loss_permille),
            ids: ChaCha20Rng::seed_from_u64(setup.seed ^ 0x5eed),
            owner: "juliet@example.com".parse().expect("valid jid"),
            route: Route::Offline,
            sessions: HashMap::new(),
            remembered: VecDeque::new(),
            failed_h: None,
            numbers: HashMap::new(),
            next_number: 0,
            given: 0,
            acked: 0,
            handed: 0,
            setup,
        };
        pair.connect();
        pair
    }

    /// The server of the client's stream.
    pub(crate) fn server(&self) -> &Server {
        let i = self.current.expect("attached to a stream");
        &self.streams[i].server
    }

    // ----- the applications -----

    /// The client application sends one stanza (skipped while stream management is off,
    /// where stanzas are not managed, or while enabling when the setup says so).
    pub(crate) fn client_send(&mut self) {
        let allowed = match self.phase {
            Phase::Off => false,
            Phase::Enabling => self.setup.send_while_enabling,
            Phase::On | Phase::Disconnected | Phase::Resuming => true,
        };
        if !allowed {
            return;
        }
        let stanza = self.record.new_stanza(Dir::ClientToServer, self.now);
        self.given += 1;
        match self.client.send(self.now, stanza) {
            Ok(()) => self.drain_client(),
            Err(Error::Peer(PeerError::QueueOverflow { .. })) => {
                // Fatal: every held stanza was handed back; the client closes the stream with
                // a stream error, which the server reads before the connection ends.
                self.stats.overflows += 1;
                self.phase = Phase::Off;
                self.drain_client();
                if let Some(i) = self.current.take() {
                    self.streams[i].up.close();
                    self.streams[i].down.cut();
                    self.server_notices(i);
                }
            }
            Err(e) => panic!("client send: {e:?}"),
        }
    }

    /// The server's router sends one stanza to the client, wherever the client is.
    pub(crate) fn server_send(&mut self) {
        let stanza = self.record.new_stanza(Dir::ServerToClient, self.now);
        if let Route::Hibernated(id, jid) = &self.route {
            // How a router finds the session of a client that is away.
            assert_eq!(self.store.find(jid), Some(id), "store.find({jid})");
        }
        match self.route.clone() {
            Route::Offline => {
                let cause = Cause::Offline;
                self.record
                    .handed_back(Dir::ServerToClient, &stanza, cause, None);
            }
            Route::Hibernated(id, _) => match self.store.push(self.now, &id, stanza) {
                Ok(()) => {}
                Err(StoreError::QueueFull(full)) => {
                    let cause = Cause::StoreRefused;
                    self.record
                        .handed_back(Dir::ServerToClient, &full.stanza, cause, None);
                }
                Err(e) => panic!("push to hibernated session {id}, which the model holds: {e:?}"),
            },
            Route::Stream(i) => match self.streams[i].server.send(self.now, stanza) {
                Ok(()) => self.drain_server(i),
                Err(Error::Misuse(Misuse::Closed(stanza))) => {
                    self.record
                        .handed_back(Dir::ServerToClient, &stanza, Cause::Closed, None);
                }
                Err(e @ Error::Peer(PeerError::QueueOverflow { .. })) => {
                    self.stats.overflows += 1;
                    self.drain_server(i);
                    let error = e.answer().map(Answer::into_element);
                    self.server_fails(i, error);
                }
                Err(e) => panic!("server send: {e:?}"),
            },
        }
    }

    /// The client asks for an ack.
    pub(crate) fn client_request_ack(&mut self) {
        self.client.request_ack(self.now);
        self.drain_client();
    }

    /// The client's server asks for an ack.
    pub(crate) fn server_request_ack(&mut self) {
        if let Some(i) = self.current.filter(|&i| self.streams[i].alive) {
            self.streams[i].server.request_ack(self.now);
            self.drain_server(i);
        }
    }

    // ----- the network -----

    /// Delivers up to `n` elements, each from a link picked by the dice.
    pub(crate) fn step(&mut self, n: usize) {
        for _ in 0..n {
            if !self.step_one() {
                break;
            }
        }
    }

    /// Delivers the next element from the client on its stream (for scenarios).
    pub(crate) fn deliver_to_server(&mut self) {
        if let Some(i) = self.current {
            self.deliver(i, Dir::ClientToServer);
        }
    }

    /// Delivers the next element in flight on stream `i` in direction `dir` (for scenarios;
    /// the server side reads only while it has not noticed, the client only its stream).
    pub(crate) fn deliver_on(&mut self, i: usize, dir: Dir) {
        let reads = match dir {
            Dir::ClientToServer => self.streams[i].alive,
            Dir::ServerToClient => self.current == Some(i),
        };
        if reads {
            self.deliver(i, dir);
        }
    }

    /// The client's server answers its pending request now (for scenarios).
    pub(crate) fn answer(&mut self) {
        if let Some(i) = self.current {
            self.answer_pending(i);
        }
    }

    /// Fires due timers and delivers until nothing is in flight. No time passes.
    pub(crate) fn drive(&mut self) {
        self.fire_timers();
        for _ in 0..MAX_STEPS {
            if !self.step_one() {
                return;
            }
        }
        panic!("no quiescence after {MAX_STEPS} deliveries");
    }

    /// Lets `duration` pass, jumping from deadline to deadline and driving at each.
    pub(crate) fn wait(&mut self, duration: Duration) {
        let target = self.now + duration;
        for _ in 0..10_000 {
            self.drive();
            match self.next_deadline() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.fire_timers();
                }
                _ => {
                    self.now = target;
                    self.drive();
                    return;
                }
            }
        }
        panic!("deadlines do not advance: {:?}", self.next_deadline());
    }

    /// The server restarts: its session store goes through serde and back (`serde` feature:
    /// hibernated sessions, their stanzas and remembered `h` survive).
    pub(crate) fn persist_store(&mut self) {
        let json = serde_json::to_string(&self.store).expect("store serialises");
        self.store = serde_json::from_str(&json).expect("store deserialises");
    }

    /// Cuts directions of the client's connection. Nobody notices yet.
    pub(crate) fn cut(&mut self, up: bool, down: bool) {
        if let Some(i) = self.current {
            if up {
                self.streams[i].up.cut();
            }
            if down {
                self.streams[i].down.cut();
            }
        }
    }

    /// The client notices its connection is gone and closes its end. With `flush` what it
    /// wrote is still in flight to the server; the server notices now or (a zombie) later.
    /// A flushed `<resume/>` is stale by the time it arrives if the client resumed again
    /// elsewhere: it takes the session over with an older `h`.
    pub(crate) fn client_disconnects(&mut self, server_notices: bool, flush: bool) {
        let Some(i) = self.current.take() else {
            return;
        };
        if flush {
            self.streams[i].up.close();
        } else {
            self.streams[i].up.cut();
        }
        self.streams[i].down.cut();
        self.client.handle_disconnect(self.now);
        self.phase = if self.client.can_resume() {
            Phase::Disconnected
        } else {
            Phase::Off
        };
        self.drain_client();
        if server_notices {
            self.server_notices(i);
        }
    }

    /// Every server whose connection is broken notices (reads what is still in flight
    /// first).
    pub(crate) fn servers_notice(&mut self) {
        for i in 0..self.streams.len() {
            let s = &self.streams[i];
            let broken = self.current != Some(i) || !s.up.is_open() || !s.down.is_open();
            if s.alive && broken {
                self.server_notices(i);
            }
        }
    }

    /// The client opens a new stream (dropping its current one, if any) and resumes, or binds
    /// and enables when it has nothing to resume.
    pub(crate) fn reconnect(&mut self, server_notices: bool, flush: bool) {
        self.client_disconnects(server_notices, flush);
        self.connect();
    }

    /// Brings every stanza to its fate and checks invariant (d): over a healthy link, after a
    /// resumption (or a fresh enable) and an exchange of acks, both queues are empty. Then
    /// closes everything and lets every hibernated session expire.
    ///
    /// # Errors
    /// Which expectation failed.
    pub(crate) fn settle(&mut self) -> Result<(), String> {
        self.dice.loss_permille = 0;
        self.drive();
        if !self.is_healthy() {
            let server_notices = self.dice.chance(500);
            self.reconnect(server_notices, false);
            self.drive();
        }
        let i = self
            .current
            .filter(|_| self.client.is_enabled())
            .ok_or_else(|| format!("no managed stream over a healthy link: {:?}", self.phase))?;
        self.client_request_ack();
        self.server_request_ack();
        self.drive();
        let (client, server) = (self.client.unacked(), self.streams[i].server.unacked());
        if client != 0 || server != 0 {
            return Err(format!(
                "(d) queues after acks: client {client}, server {server}"
            ));
        }
        self.client.close(self.now);
        self.phase = Phase::Off;
        self.drain_client();
        self.current = None;
        self.streams[i].server.close(self.now);
        self.drain_server(i);
        self.server_fails(i, None);
        self.servers_notice();
        let longest = Duration::from_secs(u64::from(self.setup.server.max_resume) + 1);
        self.wait(longest);
        match self.store.hibernated() {
            0 => Ok(()),
            n => Err(format!(
                "{n} sessions still hibernated after every deadline"
            )),
        }
    }

    // ----- internals -----

    fn is_healthy(&self) -> bool {
        self.current.is_some_and(|i| {
            let s = &self.streams[i];
            s.alive && s.up.is_open() && s.down.is_open()
        }) && self.phase == Phase::On
    }

    /// A new stream for the client: `<resume/>` or bind + `<enable/>` in flight.
    fn connect(&mut self) {
        let server = Server::new(self.setup.server.clone(), self.owner.clone());
        self.streams.push(Stream {
            server,
            up: Link::default(),
            down: Link::default(),
            alive: true,
            session: None,
            pending: None,
        });
        let i = self.streams.len() - 1;
        self.current = Some(i);
        if self.client.can_resume() {
            let resume = self.client.resume(self.now).expect("can_resume");
            self.phase = Phase::Resuming;
            self.streams[i].up.write(resume);
        } else {
            self.enable_afresh(i);
        }
    }

    /// Binds a resource (the round trip is not modelled) and sends `<enable/>`.
    fn enable_afresh(&mut self, i: usize) {
        let jid: FullJid = format!("{}/r{}", self.owner, self.streams.len())
            .parse()
            .expect("valid jid");
        self.streams[i]
            .server
            .bound(self.now, jid)
            .expect("a fresh or failed-resume stream can bind");
        let enable = self
            .client
            .enable(self.now, self.setup.ns)
            .expect("client is off");
        if let Some((client_base, server_base)) = self.setup.shift {
            self.client.__shift_counters(client_base, server_base);
        }
        self.phase = Phase::Enabling;
        self.streams[i].up.write(enable);
    }

    fn step_one(&mut self) -> bool {
        let mut moves = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            if s.alive && s.up.is_busy() {
                moves.push(Move::Up(i));
            }
            if s.alive && s.pending.is_some() {
                moves.push(Move::Answer(i));
            }
            if self.current == Some(i) && s.down.is_busy() {
                moves.push(Move::Down(i));
            }
        }
        if moves.is_empty() {
            return false;
        }
        match moves[self.dice.pick(moves.len())] {
            Move::Up(i) => self.deliver(i, Dir::ClientToServer),
            Move::Down(i) => self.deliver(i, Dir::ServerToClient),
            Move::Answer(i) => self.answer_pending(i),
        }
        true
    }

    pub(super) fn deliver(&mut self, i: usize, dir: Dir) {
        let link = match dir {
            Dir::ClientToServer => &mut self.streams[i].up,
            Dir::ServerToClient => &mut self.streams[i].down,
        };
        let Some(element) = link.pop() else {
            return;
        };
        if self.dice.drops() {
            link.cut();
            self.stats.drops += 1;
            return;
        }
        match dir {
            Dir::ClientToServer => self.server_reads(i, element),
            Dir::ServerToClient => self.client_reads(element),
        }
    }

    fn client_reads(&mut self, element: Element) {
        let shown = format!("{element:?}");
        match self.client.handle_element(self.now, element) {
            Ok(Incoming::Stanza(stanza)) => {
                let i = self.current.expect("delivered on the client's stream");
                let session = self.streams[i].session.expect("stanzas follow <enabled/>");
                self.record.delivered(Dir::ServerToClient, &stanza, session);
            }
            Ok(Incoming::Handled) => {}
            // A stream error (`conflict` after a takeover, or a fatal error): the stream is
            // over; the server already knows.
            Ok(Incoming::NotOurs(e)) if e.is("error", xmpp_sm::ns::STREAM) => {
                self.client_disconnects(false, false);
            }
            Ok(other) => panic!("client: unexpected {other:?}"),
            Err(e) => panic!("client refused {shown}: {e:?}"),
        }
        self.drain_client();
    }

    fn fire_timers(&mut self) {
        // Called whether due or not: a spurious `handle_timeout` must be a no-op.
        self.client.handle_timeout(self.now);
        self.drain_client();
        for i in 0..self.streams.len() {
            if self.streams[i].alive {
                self.streams[i].server.handle_timeout(self.now);
                self.drain_server(i);
            }
        }
        self.store.handle_timeout(self.now);
        self.drain_store(None);
    }

    fn next_deadline(&self) -> Option<SystemTime> {
        let servers = self
            .streams
            .iter()
            .filter(|s| s.alive)
            .filter_map(|s| s.server.poll_timeout());
        [self.client.poll_timeout(), self.store.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(servers)
            .min()
    }

    fn drain_client(&mut self) {
        while let Some(transmit) = self.client.poll_transmit() {
            let i = self
                .current
                .unwrap_or_else(|| panic!("client transmits while detached: {transmit:?}"));
            self.streams[i].up.write(transmit.into_element());
        }
        let (mut afresh, mut timed_out) = (false, false);
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Enabled { .. } => {
                    self.phase = Phase::On;
                    self.stats.enables += 1;
                }
                Event::Resumed { retransmitted, .. } => {
                    assert_eq!(retransmitted, self.client.unacked(), "retransmitted count");
                    self.phase = Phase::On;
                    self.stats.resumes += 1;
                    self.stats.retransmitted += u32::try_from(retransmitted).unwrap_or(u32::MAX);
                }
                Event::ResumeFailed { h, .. } => {
                    self.phase = Phase::Off;
                    self.failed_h = h;
                    self.stats.resume_failures += 1;
                    afresh = true;
                }
                Event::HandedBack { reason, stanzas } => {
                    let failed_h = self
                        .failed_h
                        .filter(|_| reason == HandBackReason::ResumeFailed);
                    self.handed += stanzas.len() as u64;
                    for u in stanzas {
                        let cause = Cause::Machine { reason, failed_h };
                        self.record.handed_back(
                            Dir::ClientToServer,
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
                Event::Acked { count, .. } => {
                    assert!(count > 0, "an Acked event acknowledges something");
                    self.acked += u64::from(count);
                }
                other => panic!("client: unexpected event {other:?}"),
            }
        }
        assert_eq!(
            self.given,
            self.acked + self.handed + self.client.unacked() as u64,
            "client stanzas given = acknowledged + handed back + held"
        );
        assert_eq!(
            (self.client.is_enabled(), self.client.can_resume()),
            (self.phase == Phase::On, self.phase == Phase::Disconnected),
            "client getters disagree with the phase the harness tracked ({:?})",
            self.phase
        );
        if afresh {
            let i = self.current.expect("a resumption fails on a stream");
            self.enable_afresh(i);
        }
        if timed_out {
            // An unanswered `<r/>`: the stream is dead; the server may not know yet.
            let server_notices = self.dice.chance(500);
            self.client_disconnects(server_notices, false);
        }
    }
}
