//! Running an `xmpp_sm::Client` over a [`Connection`]: the run loop a real client would
//! have, blocking and single-threaded. After every `&mut` call on the machine it drains
//! `poll_transmit` (each element written at its [`Placement`], in order) and then
//! `poll_event` (kept in a log), and it waits no longer than `poll_timeout` before calling
//! `handle_timeout`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_sm::{Client, ClientConfig, ClientEvent, Incoming, Namespace, Placement, Request};

use super::sasl2::{self, Sasl2Login, Sasl2Offer, Sasl2Success};
use super::{ClientError, Connection};
use crate::xml::{NS_STREAMS, StreamEvent};
use crate::{deadline_in, now, remaining};

/// What went wrong while driving stream management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    /// The connection failed (I/O, XML, timeout of a plumbing step, authentication).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The state machine reported a protocol error by the server (its answer has been
    /// written; after a fatal one the connection is closed).
    #[error("xmpp-sm: {0}")]
    Sm(#[from] xmpp_sm::Error),
    /// A command the machine's state does not allow (a bug in the test).
    #[error("xmpp-sm: {0}")]
    Misuse(#[from] xmpp_sm::Misuse),
    /// The machine handed a stanza back instead of sending it.
    #[error("xmpp-sm refused the stanza: {0}")]
    Refused(#[from] xmpp_sm::Refused<Element>),
    /// The server sent a stream error; the connection is gone.
    #[error("stream error from the server: {}", super::describe_failure(.0))]
    StreamError(Element),
    /// The connection is gone (closed, cut or failed); the machine was told.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// There is no connection attached.
    #[error("no connection attached")]
    NoConnection,
    /// The server does not offer what was asked for.
    #[error("the server does not offer {0}")]
    NotOffered(&'static str),
    /// The server refused `<enable/>` or `<resume/>` (`<failed/>`): the event says how.
    #[error("refused: {0:?}")]
    Rejected(Box<ClientEvent>),
    /// An `<enable/>` or `<resume/>` got no answer within `ClientConfig::request_timeout`
    /// ([`ClientEvent::RequestTimedOut`]): the driver has closed the connection and told the
    /// machine. After a resume the session can be resumed on a new connection.
    #[error("no answer to {} within the request timeout", request_name(*.0))]
    RequestTimedOut(Request),
    /// An inline request where the login has no room for it (an `<enable/>` for Bind2 in a
    /// login without Bind2).
    #[error("an element placed {0:?} outside a login that carries it")]
    Misplaced(Placement),
    /// What we waited for did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
}

fn request_name(request: Request) -> &'static str {
    match request {
        Request::Enable => "<enable/>",
        Request::Resume => "<resume/>",
        _ => "a stream management request",
    }
}

/// Stream management to ask for inside a SASL2 login (XEP-0198 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InlineSm {
    /// Nothing inline: enable or resume at the top level after `<success/>`.
    #[default]
    Off,
    /// `<resume/>` inside `<authenticate/>` (XEP-0198 §9.2).
    Resume,
    /// `<enable/>` inside Bind2 `<bind/>` (XEP-0198 §9.1; the login must use Bind2).
    Enable,
    /// Both (XEP-0198 §9.2.1): resume, and enable afresh if the resumption fails.
    ResumeOrEnable,
}

impl InlineSm {
    const fn resume(self) -> bool {
        matches!(self, Self::Resume | Self::ResumeOrEnable)
    }

    const fn enable(self) -> bool {
        matches!(self, Self::Enable | Self::ResumeOrEnable)
    }
}

/// An `xmpp_sm::Client` and the connection it currently runs on.
///
/// The machine outlives connections: [`cut`](Self::cut) or a failed read detaches the
/// connection and tells the machine ([`Client::handle_disconnect`]); [`attach`](Self::attach)
/// a new one and call [`resume`](Self::resume), or log in with
/// [`login_sasl2`](Self::login_sasl2) and an inline resumption.
#[derive(Debug)]
pub struct SmDriver {
    sm: Client,
    conn: Option<Connection>,
    stanzas: VecDeque<Element>,
    other: VecDeque<Element>,
    events: Vec<ClientEvent>,
    /// Elements placed inside SASL2 `<authenticate/>` or Bind2 `<bind/>`, for the login that
    /// is being composed.
    inline: Vec<(Placement, Element)>,
    /// Set when the machine reports [`ClientEvent::RequestTimedOut`], until the driver has
    /// given the connection up.
    timed_out: Option<Request>,
    /// Set by `send_lost`: writes are discarded until the connection is cut.
    lossy: bool,
}

impl SmDriver {
    /// A driver with no connection yet.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        Self {
            sm: Client::new(config),
            conn: None,
            stanzas: VecDeque::new(),
            other: VecDeque::new(),
            events: Vec::new(),
            inline: Vec::new(),
            timed_out: None,
            lossy: false,
        }
    }

    /// The state machine (for getters such as `unacked()`).
    #[must_use]
    pub fn sm(&self) -> &Client {
        &self.sm
    }

    /// Runs `f` on the state machine, then drains its outputs.
    pub fn with_sm<T>(&mut self, f: impl FnOnce(&mut Client) -> T) -> Result<T, SmError> {
        let out = f(&mut self.sm);
        self.drain()?;
        Ok(out)
    }

    /// Uses `conn` from now on (after login, before enable/resume).
    pub fn attach(&mut self, conn: Connection) {
        self.conn = Some(conn);
    }

    /// The attached connection.
    pub fn connection(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// Every event the machine reported so far, in order.
    #[must_use]
    pub fn events(&self) -> &[ClientEvent] {
        &self.events
    }

    /// Takes the stanzas received so far (each counted as handled by the machine).
    pub fn take_stanzas(&mut self) -> Vec<Element> {
        self.stanzas.drain(..).collect()
    }

    /// Stanzas received and not yet taken.
    #[must_use]
    pub fn stanzas(&self) -> &VecDeque<Element> {
        &self.stanzas
    }

    /// Takes the non-SM, non-stanza elements received so far.
    pub fn take_other(&mut self) -> Vec<Element> {
        self.other.drain(..).collect()
    }

    /// Writes `<enable/>` at the top level in the best dialect `features` offer and waits for
    /// the answer. Returns the `Enabled` event.
    pub fn enable(
        &mut self,
        features: &Element,
        timeout: Duration,
    ) -> Result<ClientEvent, SmError> {
        let offered: Vec<Namespace> = features
            .children()
            .filter(|c| c.name() == "sm")
            .filter_map(|c| Namespace::from_uri(&c.ns()))
            .collect();
        let ns = Namespace::choose(&offered, &Namespace::ALL)
            .ok_or(SmError::NotOffered("stream management"))?;
        self.sm.enable(now(), ns, Placement::TopLevel)?;
        self.drain()?;
        self.wait_for_answer(
            timeout,
            "<enabled/>",
            |e| matches!(e, ClientEvent::Enabled { .. }),
            |e| matches!(e, ClientEvent::EnableFailed { .. }),
        )
    }

    /// Writes `<resume/>` at the top level on the attached (authenticated, unbound)
    /// connection and waits for the answer. Returns the `Resumed` event; retransmissions are
    /// already written.
    pub fn resume(&mut self, timeout: Duration) -> Result<ClientEvent, SmError> {
        self.sm.resume(now(), Placement::TopLevel)?;
        self.drain()?;
        self.wait_for_resumed(timeout)
    }

    /// Connects to `addr` and logs in with SASL2 PLAIN (and Bind2 if `login` asks for it),
    /// with the stream management requests `inline` asks for placed inside `<authenticate/>`
    /// and `<bind/>` by the machine. The `<success/>` is handed to
    /// [`Client::handle_success`], and so is everything the server writes before its next
    /// `<stream:features/>` (after an inline resumption, the retransmissions).
    ///
    /// The connection stays attached on success. When a request goes unanswered for
    /// `ClientConfig::request_timeout` (Prosody 0.12's mod_sasl2_sm advertises inline SM but
    /// never answers it), this is [`SmError::RequestTimedOut`] and the connection has been
    /// closed: log in again without inline SM and [`resume`](Self::resume) or
    /// [`enable`](Self::enable) at the top level.
    pub fn login_sasl2(
        &mut self,
        addr: SocketAddr,
        jid: &BareJid,
        password: &str,
        login: &Sasl2Login,
        inline: InlineSm,
        timeout: Duration,
    ) -> Result<Sasl2Success, SmError> {
        if inline.enable() && login.bind2.is_none() {
            // An inline <enable/> goes inside Bind2 <bind/> (XEP-0198 §9.1).
            return Err(SmError::Misplaced(Placement::Bind2));
        }
        let (conn, features) = Connection::open(addr, jid.domain().as_str(), timeout)?;
        let offer = Sasl2Offer::from_features(&features).ok_or(SmError::NotOffered("SASL2"))?;
        if !offer.has_mechanism("PLAIN") {
            return Err(SmError::NotOffered("SASL2 PLAIN"));
        }
        if login.bind2.is_some() && offer.bind2.is_none() {
            return Err(SmError::NotOffered("Bind2"));
        }
        if inline.resume() && !offer.inline_resume {
            return Err(SmError::NotOffered("inline resumption in SASL2"));
        }
        if inline.enable() && !offer.inline_enable() {
            return Err(SmError::NotOffered("inline stream management in Bind2"));
        }
        self.attach(conn);
        let start = now();
        if inline.resume() {
            self.sm.resume(start, Placement::Sasl2)?;
        }
        if inline.enable() {
            // Only urn:xmpp:sm:3 is defined inline (XEP-0198 §9).
            self.sm.enable(start, Namespace::Sm3, Placement::Bind2)?;
        }
        self.drain()?;
        let mut in_sasl2 = Vec::new();
        let mut in_bind2 = Vec::new();
        for (placement, element) in self.inline.drain(..) {
            match placement {
                Placement::Sasl2 => in_sasl2.push(element),
                _ => in_bind2.push(element),
            }
        }
        let Ok(authenticate) = login.authenticate_plain(jid, password, in_sasl2, in_bind2) else {
            self.give_up_connection();
            return Err(SmError::Misplaced(Placement::Bind2));
        };
        self.write(&authenticate)?;

        let deadline = deadline_in(timeout);
        let success = loop {
            let answer = self.take_other_where(|el| sasl2::Answer::of(el).is_some());
            match answer.as_ref().and_then(sasl2::Answer::of) {
                Some(sasl2::Answer::Success(success)) => break success,
                Some(sasl2::Answer::Failure(failure)) => {
                    // The inline requests die with this connection.
                    self.give_up_connection();
                    return Err(ClientError::AuthFailed(failure).into());
                }
                Some(sasl2::Answer::Challenge(challenge)) => {
                    self.give_up_connection();
                    return Err(ClientError::unexpected("SASL2 <success/>", &challenge).into());
                }
                None => {}
            }
            self.pump_within(deadline, timeout, "the SASL2 answer")?;
        };
        if let Err(e) = self.sm.handle_success(now(), &success) {
            self.on_machine_error(e.is_fatal())?;
            return Err(e.into());
        }
        self.drain()?;
        // XEP-0388 §2.5: no stream restart; the next features follow <success/>.
        let features = loop {
            if let Some(f) = self.take_other_where(|el| el.is("features", NS_STREAMS)) {
                break f;
            }
            self.pump_within(deadline, timeout, "features after SASL2")?;
        };
        Ok(Sasl2Success::new(success, features))
    }

    /// Waits for the answer to a top-level `<resume/>` (or one placed in a login that
    /// already succeeded).
    fn wait_for_resumed(&mut self, timeout: Duration) -> Result<ClientEvent, SmError> {
        self.wait_for_answer(
            timeout,
            "<resumed/>",
            |e| matches!(e, ClientEvent::Resumed { .. }),
            |e| matches!(e, ClientEvent::ResumeFailed { .. }),
        )
    }

    fn wait_for_answer(
        &mut self,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&ClientEvent) -> bool,
        refused: impl Fn(&ClientEvent) -> bool,
    ) -> Result<ClientEvent, SmError> {
        let start = self.events.len();
        let deadline = deadline_in(timeout);
        loop {
            if let Some(e) = self.events[start..].iter().find(|e| ok(e)) {
                return Ok(e.clone());
            }
            if let Some(e) = self.events[start..].iter().find(|e| refused(e)) {
                return Err(SmError::Rejected(Box::new(e.clone())));
            }
            self.pump_within(deadline, timeout, what)?;
        }
    }

    /// Sends a stanza through the machine.
    pub fn send(&mut self, stanza: Element) -> Result<(), SmError> {
        let sent = self.sm.send(now(), stanza);
        self.drain()?;
        Ok(sent?)
    }

    /// Sends a stanza through the machine but throws away what the machine writes for it, as
    /// if the bytes were lost on a dying link: the machine counts it as sent and keeps it
    /// for retransmission, and the peer never sees it.
    ///
    /// TCP delivers in order, so once bytes are lost nothing written after them can arrive:
    /// from now until [`Self::cut`], everything this driver writes is thrown away too.
    pub fn send_lost(&mut self, stanza: Element) -> Result<(), SmError> {
        self.lossy = true;
        self.send(stanza)
    }

    /// Asks for an ack now (unless one is outstanding).
    pub fn request_ack(&mut self) -> Result<(), SmError> {
        self.sm.request_ack(now());
        self.drain()
    }

    /// Reads and handles at most one element, waiting at most `timeout` (less if a machine
    /// timer is due sooner), then fires the machine's due timers. Returns whether something
    /// was read.
    pub fn pump(&mut self, timeout: Duration) -> Result<bool, SmError> {
        let wait = self
            .sm
            .poll_timeout()
            .map_or(timeout, |at| (at - now().monotonic()).min(timeout));
        let conn = self.conn.as_mut().ok_or(SmError::NoConnection)?;
        let read = conn.recv(wait);
        let read = match read {
            Ok(Some(StreamEvent::Element(el))) => Some(el),
            Ok(Some(StreamEvent::Header(_))) => None,
            Ok(None) => None,
            Ok(Some(_)) => {
                self.lost();
                return Err(SmError::Disconnected("the server closed the stream".into()));
            }
            Err(e) => {
                self.lost();
                return Err(SmError::Disconnected(e.to_string()));
            }
        };
        let got = read.is_some();
        if let Some(el) = read {
            self.handle(el)?;
        }
        self.sm.handle_timeout(now());
        self.drain()?;
        if let Some(request) = self.timed_out.take() {
            self.give_up_connection();
            return Err(SmError::RequestTimedOut(request));
        }
        Ok(got)
    }

    fn handle(&mut self, el: Element) -> Result<(), SmError> {
        if el.is("error", NS_STREAMS) {
            self.lost();
            return Err(SmError::StreamError(el));
        }
        match self.sm.handle_element(now(), el) {
            Ok(Incoming::Stanza(s)) => self.stanzas.push_back(s),
            Ok(Incoming::NotOurs(o)) => self.other.push_back(o),
            Ok(_) => {}
            Err(e) => {
                self.on_machine_error(e.is_fatal())?;
                return Err(e.into());
            }
        }
        self.drain()
    }

    /// The machine returned an error: its answer is queued. Write it; after a fatal one the
    /// stream is over, so close the connection too.
    fn on_machine_error(&mut self, fatal: bool) -> Result<(), SmError> {
        self.drain()?;
        if fatal {
            self.give_up_connection();
        }
        Ok(())
    }

    /// One [`pump`](Self::pump) bounded by `deadline`, or a timeout naming `what`.
    fn pump_within(
        &mut self,
        deadline: std::time::Instant,
        timeout: Duration,
        what: &str,
    ) -> Result<(), SmError> {
        let Some(left) = remaining(deadline) else {
            return Err(SmError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        };
        self.pump(left).map(drop)
    }

    /// Pumps until `done` holds, at most `timeout`.
    pub fn pump_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<(), SmError> {
        let deadline = deadline_in(timeout);
        while !done(self) {
            self.pump_within(deadline, timeout, what)?;
        }
        Ok(())
    }

    /// Pumps for `duration`, handling whatever arrives.
    pub fn pump_for(&mut self, duration: Duration) -> Result<(), SmError> {
        let deadline = deadline_in(duration);
        while let Some(left) = remaining(deadline) {
            self.pump(left)?;
        }
        Ok(())
    }

    /// Cuts the TCP connection abruptly (network loss) and tells the machine.
    pub fn cut(&mut self) {
        if let Some(conn) = &self.conn {
            conn.cut();
        }
        self.lost();
    }

    /// Gives up on the connection without closing it (a half-open TCP connection: the
    /// client thinks it is dead, the server does not know yet) and tells the machine. The
    /// connection is handed back so the caller keeps it open, and can read what the server
    /// writes on it later (say, the `conflict` error when another stream takes the session).
    pub fn abandon(&mut self) -> Option<Connection> {
        let conn = self.conn.take();
        self.lost();
        conn
    }

    /// Closes the stream politely; the machine gives the session up.
    pub fn close(&mut self) -> Result<(), SmError> {
        self.sm.close(now());
        // The machine's last <a/> goes out before the stream ends.
        let written = self.drain();
        if let Some(mut conn) = self.conn.take() {
            conn.close();
        }
        self.sm.handle_disconnect(now());
        self.drain_events();
        written
    }

    /// Closes the connection on our side (`</stream:stream>`) because the machine has no use
    /// for it any more, and tells the machine it is gone.
    fn give_up_connection(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close();
        }
        self.lost();
    }

    fn lost(&mut self) {
        self.conn = None;
        self.lossy = false;
        self.timed_out = None;
        self.inline.clear();
        // The machine drops whatever it had queued for this connection: stanzas among it stay
        // in its retransmission queue and go out after `<resumed/>`.
        self.sm.handle_disconnect(now());
        self.drain_events();
    }

    fn take_other_where(&mut self, pred: impl Fn(&Element) -> bool) -> Option<Element> {
        let at = self.other.iter().position(pred)?;
        self.other.remove(at)
    }

    fn write(&mut self, el: &Element) -> Result<(), SmError> {
        let conn = self.conn.as_mut().ok_or(SmError::NoConnection)?;
        if self.lossy {
            return Ok(());
        }
        if let Err(e) = conn.send(el) {
            self.lost();
            return Err(SmError::Disconnected(e.to_string()));
        }
        Ok(())
    }

    /// Writes every pending top-level transmit and keeps inline ones for the login being
    /// composed, then logs every pending event. A write failure is a disconnect: the machine
    /// keeps the stanzas for resumption.
    fn drain(&mut self) -> Result<(), SmError> {
        while let Some(t) = self.sm.poll_transmit() {
            match t.placement() {
                Placement::TopLevel => self.write(&t)?,
                placement => self.inline.push((placement, t.into_element())),
            }
        }
        self.drain_events();
        Ok(())
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.sm.poll_event() {
            if let ClientEvent::RequestTimedOut { request } = e {
                self.timed_out = Some(request);
            }
            self.events.push(e);
        }
    }
}
