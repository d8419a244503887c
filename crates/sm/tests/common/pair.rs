//! A client and the server streams it connects to, wired through seeded lossy links, in
//! virtual time.
//!
//! Modelled on the `Pair` in quinn-proto's tests: the harness owns the clock and the wires,
//! drives the machines until nothing moves, and jumps the clock to the next deadline when idle.
//! The server side is a [`SessionStore`] whose streams answer `<enable/>` and `<resume/>`
//! themselves; the harness only does what a server's connection tasks do: read and write,
//! bind a resource, notice a dead connection, and call [`Server::handle_wake`] when a stream's
//! handle was woken (wake-ups are delivered in an order the dice pick, like tasks scheduled on
//! a runtime). Every stanza's fate goes into a [`Record`]; where each session is goes into the
//! model of `serving`, against which every store answer is checked.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_sm::{
    Client, ClientConfig, ClientEvent, EnablePolicy, HandBackReason, Incoming, Monotonic,
    Namespace, Now, Placement, Refusal, Server, ServerConfig, SessionStore, SmId, StreamHandle,
};

use super::link::{Dice, Link};
use super::record::{Cause, Dir, Record};
use super::serving::Where;

/// Everything that makes one run differ from another.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The client's configuration (resume is requested).
    pub(crate) client: ClientConfig,
    /// The store's configuration, which every server stream uses.
    pub(crate) server: ServerConfig,
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
}

impl Setup {
    /// Defaults everywhere, every dialect offered: sm:3, no loss, no shift.
    pub(crate) fn new(seed: u64) -> Self {
        let mut server = ServerConfig::default();
        server.namespaces = Namespace::ALL.to_vec();
        Self {
            client: ClientConfig::default(),
            server,
            ns: Namespace::Sm3,
            seed,
            loss_permille: 0,
            shift: None,
            send_while_enabling: true,
        }
    }

    /// The server decides on each `<enable/>` later ([`EnablePolicy::Ask`], after an
    /// asynchronous lookup, say): elements may arrive while the request is pending.
    pub(crate) fn defer_enables(&mut self) {
        self.server.enable = EnablePolicy::Ask;
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
    pub(crate) evictions: u32,
    pub(crate) drops: u32,
    pub(crate) stream_drops: u32,
    pub(crate) overflows: u32,
    pub(crate) ack_timeouts: u32,
    pub(crate) request_timeouts: u32,
    pub(crate) retransmitted: u32,
    pub(crate) restarts: u32,
}

/// Which task a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Task {
    Stream(usize),
    Timer,
}

/// The harness's [`StreamHandle`]: a wake-up is written down, and the harness delivers it.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    pub(crate) task: Task,
    log: Rc<RefCell<Vec<Task>>>,
}

impl StreamHandle for Wake {
    fn wake(&self) {
        self.log.borrow_mut().push(self.task);
    }
}

/// One stream: a server machine (until its task is dropped) and both directions of its
/// connection.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) server: Option<Server<Wake>>,
    pub(super) up: Link,
    pub(super) down: Link,
    /// The server's task still reads from the connection.
    pub(super) alive: bool,
    /// The harness's number of the session on this stream (for order checks).
    pub(super) session: Option<u64>,
    /// The resumable session the stream holds.
    pub(super) id: Option<SmId>,
    /// Stanzas the server had handled, as of the last time the stream was open.
    pub(super) handled: u32,
    /// The resumption time its last `<enabled/>` granted.
    pub(super) max: u32,
    /// An `<enable/>` waits for `accept_enable` ([`EnablePolicy::Ask`]).
    pub(super) pending_enable: bool,
}

/// What the network and the scheduler can do next.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// Deliver the oldest element from client to server on stream `i`.
    Up(usize),
    /// Deliver the oldest element from server to client on stream `i`.
    Down(usize),
    /// The server of stream `i` accepts its pending `<enable/>`.
    Answer(usize),
    /// The task of stream `i` runs after its handle was woken.
    Wake(usize),
}

/// The harness. See the module docs.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) now: Now,
    pub(crate) client: Client,
    pub(crate) store: SessionStore<Wake>,
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
    /// The full JID the client bound last: where the server routes stanzas for it.
    pub(super) jid: Option<FullJid>,
    /// Where the harness believes each session is.
    pub(super) sessions: HashMap<SmId, Where>,
    pub(super) remembered: VecDeque<SmId>,
    /// Each resumable session's harness number and granted resumption time.
    pub(super) grants: HashMap<SmId, (u64, u32)>,
    pub(super) next_number: u64,
    /// Streams waiting for a take-over, by the SM-ID they asked for.
    pub(super) claims: HashMap<SmId, usize>,
    /// Wake-ups written by the handles, not yet delivered.
    log: Rc<RefCell<Vec<Task>>>,
    woken: BTreeSet<usize>,
    failed_h: Option<u32>,
    /// Client bookkeeping: stanzas given to `send` = acknowledged + handed back + held.
    given: u64,
    acked: u64,
    handed: u64,
}

/// Deliveries in one `drive` before the harness calls it a livelock.
const MAX_STEPS: usize = 100_000;

fn t0() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

impl Pair {
    /// A client on a fresh stream, `<enable/>` in flight (nothing delivered yet).
    pub(crate) fn new(setup: Setup) -> Self {
        let log = Rc::default();
        let store = SessionStore::new(setup.server.clone());
        let mut pair = Self {
            now: t0(),
            client: Client::new(setup.client.clone()),
            store,
            streams: Vec::new(),
            current: None,
            record: Record::default(),
            stats: Stats::default(),
            phase: Phase::Off,
            dice: Dice::new(setup.seed, setup.loss_permille),
            ids: ChaCha20Rng::seed_from_u64(setup.seed ^ 0x5eed),
            owner: "juliet@example.com".parse().expect("valid jid"),
            jid: None,
            sessions: HashMap::new(),
            remembered: VecDeque::new(),
            grants: HashMap::new(),
            next_number: 0,
            claims: HashMap::new(),
            log,
            woken: BTreeSet::new(),
            failed_h: None,
            given: 0,
            acked: 0,
            handed: 0,
            setup,
        };
        pair.store.set_timer_handle(pair.handle(Task::Timer));
        pair.connect();
        pair
    }

    pub(super) fn handle(&self, task: Task) -> Wake {
        Wake {
            task,
            log: Rc::clone(&self.log),
        }
    }

    /// The server of the client's stream.
    pub(crate) fn server(&self) -> &Server<Wake> {
        let i = self.current.expect("attached to a stream");
        self.streams[i].server.as_ref().expect("not dropped")
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
        let stanza = self.record.new_stanza(Dir::ClientToServer, self.now.wall());
        self.given += 1;
        match self.client.send(self.now, stanza) {
            Ok(()) => self.drain_client(),
            Err(refused) => {
                assert!(
                    matches!(refused.reason(), Refusal::QueueFull { .. }),
                    "client send: {refused:?}"
                );
                // The stanza comes back in `Refused`, every held one in `HandedBack`, and the
                // `resource-constraint` stream error is queued: the stream is over.
                self.stats.overflows += 1;
                self.handed += 1;
                let stanza = refused.into_inner();
                self.record
                    .handed_back(Dir::ClientToServer, &stanza, Cause::Refused, None);
                self.phase = Phase::Off;
                self.drain_client();
                if self.current.is_some() {
                    self.client_disconnects(true, true);
                }
            }
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
            if let Some(server) = self.streams[i].server.as_mut() {
                server.request_ack(self.now);
            }
            self.drain_server(i);
        }
    }

    // ----- the network and the scheduler -----

    /// Delivers up to `n` elements or wake-ups, each picked by the dice.
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
            self.deliver_on(i, Dir::ClientToServer);
        }
    }

    /// Delivers the next element in flight on stream `i` in direction `dir` (for scenarios;
    /// a server reads only while its task runs, the client only its stream).
    pub(crate) fn deliver_on(&mut self, i: usize, dir: Dir) {
        let reads = match dir {
            Dir::ClientToServer => self.streams[i].alive,
            Dir::ServerToClient => self.current == Some(i),
        };
        if reads {
            self.deliver(i, dir);
        }
    }

    /// The client's server accepts its pending `<enable/>` now (for scenarios).
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
        let target = self.now.monotonic() + duration;
        for _ in 0..10_000 {
            self.drive();
            match self.next_deadline() {
                Some(t) if t <= target => {
                    self.advance_to(t);
                    self.fire_timers();
                }
                _ => {
                    self.advance_to(target);
                    self.drive();
                    return;
                }
            }
        }
        panic!("deadlines do not advance: {:?}", self.next_deadline());
    }

    /// The wall clock is stepped (NTP, a suspended VM): the monotonic clock does not move.
    pub(crate) fn step_wall_clock(&mut self, secs: i32) {
        let step = Duration::from_secs(u64::from(secs.unsigned_abs()));
        let wall = if secs < 0 {
            self.now.wall().checked_sub(step)
        } else {
            self.now.wall().checked_add(step)
        };
        self.now = self.now.with_wall(wall.unwrap_or(self.now.wall()));
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

    /// The client opens a new stream (dropping its current one, if any) and resumes, or binds
    /// and enables when it has nothing to resume.
    pub(crate) fn reconnect(&mut self, server_notices: bool, flush: bool) {
        self.client_disconnects(server_notices, flush);
        self.connect();
    }

    /// XEP-0198 §5 take-over: the client resumes on a new connection while the server still
    /// holds the old one open (it has not noticed the client left).
    pub(crate) fn take_over(&mut self) {
        self.reconnect(false, false);
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
        let server = self.streams[i].server.as_ref().map_or(0, Server::unacked);
        let client = self.client.unacked();
        if client != 0 || server != 0 {
            return Err(format!(
                "(d) queues after acks: client {client}, server {server}"
            ));
        }
        self.client.close(self.now);
        self.phase = Phase::Off;
        self.drain_client();
        self.current = None;
        if let Some(server) = self.streams[i].server.as_mut() {
            server.close(self.now);
        }
        self.drain_server(i);
        self.servers_notice();
        let longest = Duration::from_secs(u64::from(self.setup.server.max_resume) + 1);
        self.wait(longest);
        match self.store.hibernated_count() {
            0 => Ok(()),
            n => Err(format!(
                "{n} sessions still hibernated after every deadline"
            )),
        }
    }

    // ----- internals -----

    fn advance_to(&mut self, t: Monotonic) {
        let by = t - self.now.monotonic();
        self.now = self.now.advance(by);
    }

    fn is_healthy(&self) -> bool {
        self.current.is_some_and(|i| {
            let s = &self.streams[i];
            s.alive && s.up.is_open() && s.down.is_open()
        }) && self.phase == Phase::On
    }

    /// A new stream for the client: `<resume/>` or bind + `<enable/>` in flight.
    fn connect(&mut self) {
        let i = self.streams.len();
        let handle = self.handle(Task::Stream(i));
        let server = self.store.stream(self.owner.clone(), handle, &mut self.ids);
        self.streams.push(Stream {
            server: Some(server),
            up: Link::default(),
            down: Link::default(),
            alive: true,
            session: None,
            id: None,
            handled: 0,
            max: 0,
            pending_enable: false,
        });
        self.current = Some(i);
        if self.client.can_resume() {
            self.client
                .resume(self.now, Placement::TopLevel)
                .expect("can_resume");
            self.phase = Phase::Resuming;
            self.drain_client();
        } else {
            self.enable_afresh(i);
        }
    }

    /// Binds a resource (the round trip is not modelled) and sends `<enable/>`.
    fn enable_afresh(&mut self, i: usize) {
        let jid: FullJid = format!("{}/r{i}", self.owner).parse().expect("valid jid");
        let server = self.streams[i].server.as_mut().expect("a live stream");
        server
            .handle_bind(self.now, jid.clone())
            .expect("a fresh or failed-resume stream can bind");
        self.jid = Some(jid);
        self.client
            .enable(self.now, self.setup.ns, Placement::TopLevel)
            .expect("client is off");
        if let Some((client_base, server_base)) = self.setup.shift {
            self.client.__shift_counters(client_base, server_base);
        }
        self.phase = Phase::Enabling;
        self.drain_client();
    }

    fn step_one(&mut self) -> bool {
        self.collect_wakes();
        let mut moves = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            if s.alive && s.up.is_busy() {
                moves.push(Move::Up(i));
            }
            if s.alive && s.pending_enable {
                moves.push(Move::Answer(i));
            }
            if self.current == Some(i) && s.down.is_busy() {
                moves.push(Move::Down(i));
            }
        }
        moves.extend(self.woken.iter().map(|&i| Move::Wake(i)));
        if moves.is_empty() {
            return false;
        }
        match moves[self.dice.pick(moves.len())] {
            Move::Up(i) => self.deliver(i, Dir::ClientToServer),
            Move::Down(i) => self.deliver(i, Dir::ServerToClient),
            Move::Answer(i) => self.answer_pending(i),
            Move::Wake(i) => self.run_woken(i),
        }
        true
    }

    /// Moves wake-ups from the handles' log to the set to deliver; the store's timer task
    /// drains the store at once.
    pub(super) fn collect_wakes(&mut self) {
        let woken: Vec<Task> = std::mem::take(&mut *self.log.borrow_mut());
        let mut timer = false;
        for task in woken {
            match task {
                Task::Stream(i) => {
                    self.woken.insert(i);
                }
                Task::Timer => timer = true,
            }
        }
        if timer {
            self.drain_store();
        }
    }

    fn run_woken(&mut self, i: usize) {
        self.woken.remove(&i);
        if !self.streams[i].alive {
            return;
        }
        if let Some(server) = self.streams[i].server.as_mut() {
            server.handle_wake(self.now);
        }
        self.drain_server(i);
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
            // A stream error (`conflict` after a take-over, or a fatal error): the stream is
            // over; the server already knows.
            Ok(Incoming::NotOurs(e)) if e.is("error", xmpp_sm::ns::STREAM) => {
                self.drain_client();
                self.client_disconnects(false, false);
                return;
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
            if !self.streams[i].alive {
                continue;
            }
            if let Some(server) = self.streams[i].server.as_mut() {
                server.handle_timeout(self.now);
            }
            self.drain_server(i);
        }
        self.store.handle_timeout(self.now);
        self.drain_store();
    }

    fn next_deadline(&self) -> Option<Monotonic> {
        let servers = self
            .streams
            .iter()
            .filter(|s| s.alive)
            .filter_map(|s| s.server.as_ref()?.poll_timeout());
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
                ClientEvent::Enabled { .. } => {
                    self.phase = Phase::On;
                    self.stats.enables += 1;
                }
                ClientEvent::Resumed { retransmitted, .. } => {
                    assert_eq!(retransmitted, self.client.unacked(), "retransmitted count");
                    self.phase = Phase::On;
                    self.stats.resumes += 1;
                    self.stats.retransmitted += u32::try_from(retransmitted).unwrap_or(u32::MAX);
                }
                ClientEvent::ResumeFailed { h, .. } => {
                    self.phase = Phase::Off;
                    self.failed_h = h;
                    self.stats.resume_failures += 1;
                    afresh = true;
                }
                ClientEvent::HandedBack { reason, stanzas } => {
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
                ClientEvent::AckTimeout { .. } => {
                    self.stats.ack_timeouts += 1;
                    timed_out = true;
                }
                ClientEvent::RequestTimedOut { .. } => {
                    // Enable: stanzas handed back, the stream failed; resume: the session
                    // waits for a new stream. Either way this connection is given up.
                    self.stats.request_timeouts += 1;
                    self.phase = if self.client.can_resume() {
                        Phase::Disconnected
                    } else {
                        Phase::Off
                    };
                    timed_out = true;
                }
                ClientEvent::Acked { stanzas, .. } => {
                    assert!(!stanzas.is_empty(), "an Acked event acknowledges something");
                    self.acked += stanzas.len() as u64;
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
        if timed_out && self.current.is_some() {
            // An unanswered request: the stream is dead; the server may not know yet.
            let server_notices = self.dice.chance(500);
            self.client_disconnects(server_notices, false);
        }
    }
}
