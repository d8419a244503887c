//! What became of every stanza: sent, delivered to the peer's application, handed back.
//!
//! Stanzas carry `id='c17'` (client to server) or `id='s17'` (server to client); the number
//! is the stanza's place in its direction's send order, so "delivered in send order" is
//! "delivered numbers increase".

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use minidom::Element;
use xmpp_sm::HandBackReason;

/// A direction of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client application to server application.
    ClientToServer,
    /// Server application (routing) to client application.
    ServerToClient,
}

impl Dir {
    const fn prefix(self) -> char {
        match self {
            Self::ClientToServer => 'c',
            Self::ServerToClient => 's',
        }
    }
}

/// Why a stanza came back to its sender's application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// `HandedBack` from the sending state machine. `failed_h` is the `h` of the
    /// `<failed/>` that preceded a `ResumeFailed` hand-back.
    Machine {
        /// The reason given.
        reason: HandBackReason,
        /// The `h` the server's `<failed/>` carried (client, `ResumeFailed` only).
        failed_h: Option<u32>,
    },
    /// `StoreEvent::HandedBack` from the session store: the hibernated session expired or
    /// was evicted, or a dropped stream could not keep the stanza.
    Store(HandBackReason),
    /// The server had no managed stream or session for the client: stored offline, never
    /// sent.
    Offline,
    /// `SessionStore::push` refused it (queue full).
    StoreRefused,
    /// `send` handed it back in `Refused` (queue full): never written.
    Refused,
}

impl Cause {
    /// Whether the hand-back promises that the peer's application never got the stanza.
    ///
    /// Offline, refused and closed stanzas never reached a wire; a failed resumption with `h`
    /// removed what the server handled before handing the rest back (XEP-0198 §5). Every
    /// other hand-back happens when the sender cannot know what the peer handled (its acks
    /// were lost), so the stanza may also have been delivered: XEP-0198 accepts that
    /// duplicate, the application decides whether to resend.
    pub(crate) const fn promises_undelivered(self) -> bool {
        match self {
            Self::Offline | Self::StoreRefused | Self::Refused => true,
            Self::Machine {
                reason: HandBackReason::ResumeFailed,
                failed_h,
            } => failed_h.is_some(),
            Self::Machine { .. } | Self::Store(_) => false,
        }
    }
}

/// One direction's history.
#[derive(Debug, Default, Clone)]
pub(crate) struct Log {
    sent: u64,
    /// When each was sent, by number - 1.
    sent_at: Vec<SystemTime>,
    /// Problems seen as they happened (a wrong `first_sent`).
    problems: Vec<String>,
    /// (number, session) in delivery order.
    delivered: Vec<(u64, u64)>,
    handed_back: Vec<(u64, Cause)>,
}

impl Log {
    /// How many stanzas the application sent.
    pub(crate) const fn sent(&self) -> u64 {
        self.sent
    }

    /// Numbers delivered to the peer's application, in delivery order.
    pub(crate) fn delivered(&self) -> Vec<u64> {
        self.delivered.iter().map(|&(n, _)| n).collect()
    }

    /// Numbers handed back, with why, in hand-back order.
    pub(crate) fn handed_back(&self) -> &[(u64, Cause)] {
        &self.handed_back
    }
}

/// Both directions' histories.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    /// Client to server.
    pub(crate) up: Log,
    /// Server to client.
    pub(crate) down: Log,
}

impl Record {
    fn log(&mut self, dir: Dir) -> &mut Log {
        match dir {
            Dir::ClientToServer => &mut self.up,
            Dir::ServerToClient => &mut self.down,
        }
    }

    /// A new uniquely numbered stanza for `dir`, recorded as sent. Kinds rotate through
    /// message, presence and iq: all three count (XEP-0198 §4).
    pub(crate) fn new_stanza(&mut self, dir: Dir, now: SystemTime) -> Element {
        let log = self.log(dir);
        log.sent += 1;
        log.sent_at.push(now);
        let n = log.sent;
        let id = format!("{}{n}", dir.prefix());
        let (from, to) = match dir {
            Dir::ClientToServer => ("juliet@example.com/balcony", "romeo@example.net"),
            Dir::ServerToClient => ("romeo@example.net/orchard", "juliet@example.com/balcony"),
        };
        let xml = match n % 3 {
            0 => format!(
                "<message xmlns='jabber:client' id='{id}' from='{from}' to='{to}' \
                 type='chat'><body>{id}</body></message>"
            ),
            1 => format!("<presence xmlns='jabber:client' id='{id}' from='{from}' to='{to}'/>"),
            _ => format!(
                "<iq xmlns='jabber:client' id='{id}' from='{from}' to='{to}' type='get'>\
                 <ping xmlns='urn:xmpp:ping'/></iq>"
            ),
        };
        xml.parse().expect("well-formed test stanza")
    }

    /// The peer's application received `stanza` on a stream of `session` (a number the
    /// harness gives each enabled session; resumptions keep it).
    pub(crate) fn delivered(&mut self, dir: Dir, stanza: &Element, session: u64) {
        let n = number(dir, stanza);
        self.log(dir).delivered.push((n, session));
    }

    /// `stanza` came back to its sender's application, stamped `first_sent` if it had been
    /// given to a state machine (which must be when the application sent it).
    pub(crate) fn handed_back(
        &mut self,
        dir: Dir,
        stanza: &Element,
        cause: Cause,
        first_sent: Option<SystemTime>,
    ) {
        let n = number(dir, stanza);
        let log = self.log(dir);
        let sent_at = usize::try_from(n - 1).ok().and_then(|i| log.sent_at.get(i));
        if let (Some(stamp), Some(&sent_at)) = (first_sent, sent_at)
            && stamp != sent_at
        {
            let p = format!("#{n} handed back with first_sent {stamp:?}, sent at {sent_at:?}");
            log.problems.push(p);
        }
        log.handed_back.push((n, cause));
    }

    /// The invariants that hold for every run, once every machine has given up or
    /// delivered everything it held:
    /// (a) every stanza sent was delivered or handed back;
    /// (b) none was delivered twice (the harness never resends), none handed back twice, and
    ///     a stanza both delivered and handed back came back for a reason that could not know;
    /// (c) each session delivers in send order. (Across sessions order is not promised: a
    ///     stanza still in flight on an abandoned stream may arrive after one sent later on
    ///     a fresh session; it was handed back as undecided.)
    ///
    /// # Errors
    /// What went wrong, with both histories.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.check_with(false)
    }

    /// [`check`](Self::check), and also exactly once and in order across sessions: nothing
    /// both delivered and handed back, and nothing handed back except stanzas that never
    /// reached the client (offline, or in a session whose `<enabled/>` was lost and that
    /// therefore expired).
    ///
    /// # Errors
    /// What went wrong, with both histories.
    pub(crate) fn check_exactly_once(&self) -> Result<(), String> {
        self.check_with(true)
    }

    fn check_with(&self, exactly_once: bool) -> Result<(), String> {
        let mut problems = String::new();
        for (name, log) in [("client->server", &self.up), ("server->client", &self.down)] {
            check_log(log, exactly_once, &mut |p| {
                let _ = writeln!(problems, "{name}: {p}");
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{problems}history: {self:#?}"))
        }
    }
}

fn check_log(log: &Log, exactly_once: bool, problem: &mut impl FnMut(String)) {
    for p in &log.problems {
        problem(p.clone());
    }
    let mut delivered: HashMap<u64, usize> = HashMap::new();
    for &(n, _) in &log.delivered {
        *delivered.entry(n).or_default() += 1;
    }
    let mut handed_back: HashMap<u64, Vec<Cause>> = HashMap::new();
    for &(n, cause) in &log.handed_back {
        handed_back.entry(n).or_default().push(cause);
    }
    for n in delivered.keys().chain(handed_back.keys()) {
        if *n == 0 || *n > log.sent {
            problem(format!("#{n} was never sent"));
        }
    }
    for (&n, &times) in &delivered {
        if times > 1 {
            problem(format!("(b) #{n} delivered {times} times"));
        }
    }
    for (&n, causes) in &handed_back {
        if causes.len() > 1 {
            problem(format!(
                "(b) #{n} handed back {} times: {causes:?}",
                causes.len()
            ));
        }
        if delivered.contains_key(&n) {
            if exactly_once {
                problem(format!("#{n} delivered and handed back ({causes:?})"));
            } else if let Some(c) = causes.iter().find(|c| c.promises_undelivered()) {
                problem(format!(
                    "(b) #{n} delivered, yet handed back as never delivered: {c:?}"
                ));
            }
        }
        if exactly_once
            && let Some(c) = causes
                .iter()
                .find(|c| !matches!(c, Cause::Offline | Cause::Store(HandBackReason::Expired)))
        {
            problem(format!("#{n} handed back although nothing was lost: {c:?}"));
        }
    }
    for n in 1..=log.sent {
        if !delivered.contains_key(&n) && !handed_back.contains_key(&n) {
            problem(format!("(a) #{n} lost: neither delivered nor handed back"));
        }
    }
    let mut last: HashMap<u64, u64> = HashMap::new();
    for &(n, session) in &log.delivered {
        if let Some(before) = last.insert(session, n).filter(|&before| before >= n) {
            problem(format!(
                "(c) session {session} delivered #{before} then #{n}"
            ));
        }
    }
    if exactly_once && let Some(w) = log.delivered.windows(2).find(|w| w[0].0 >= w[1].0) {
        problem(format!(
            "delivered out of send order: {:?} then {:?}",
            w[0], w[1]
        ));
    }
}

/// The send number in a stanza's id.
fn number(dir: Dir, stanza: &Element) -> u64 {
    stanza
        .attr("id")
        .and_then(|id| id.strip_prefix(dir.prefix()))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{dir:?} stanza without a test id: {stanza:?}"))
}
