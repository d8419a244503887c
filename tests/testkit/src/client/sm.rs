//! Running an `xmpp_sm::Client` over a [`Connection`]: the run loop a real client would
//! have, blocking and single-threaded. After every `&mut` call on the machine it drains
//! `poll_transmit` (written to the socket, in order) and then `poll_event` (kept in a log).

use std::collections::VecDeque;
use std::time::Duration;

use minidom::Element;
use xmpp_sm::{Client, ClientConfig, Event, Incoming, Namespace};

use super::{ClientError, Connection};
use crate::xml::{NS_STREAMS, StreamEvent};
use crate::{deadline_in, remaining, system_now};

/// What went wrong while driving stream management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    /// The connection failed (I/O, XML, timeout of a plumbing step).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The state machine reported a protocol error (its answer has been written).
    #[error("xmpp-sm: {0}")]
    Sm(#[from] xmpp_sm::Error),
    /// The server sent a stream error; the connection is gone.
    #[error("stream error from the server: {}", super::describe_failure(.0))]
    StreamError(Element),
    /// The connection is gone (closed, cut or failed); the machine was told.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// There is no connection attached.
    #[error("no connection attached")]
    NoConnection,
    /// The server offers no stream management dialect we speak.
    #[error("the server does not offer stream management")]
    NotOffered,
    /// The server refused `<enable/>` or `<resume/>`.
    #[error("refused: {0:?}")]
    Refused(Box<Event>),
    /// What we waited for did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
}

/// An `xmpp_sm::Client` and the connection it currently runs on.
///
/// The machine outlives connections: [`cut`](Self::cut) or a failed read detaches the
/// connection and tells the machine ([`Client::handle_disconnect`]); [`attach`](Self::attach)
/// a new one and call [`resume`](Self::resume).
#[derive(Debug)]
pub struct SmDriver {
    sm: Client,
    conn: Option<Connection>,
    stanzas: VecDeque<Element>,
    other: VecDeque<Element>,
    events: Vec<Event>,
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
    pub fn events(&self) -> &[Event] {
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

    /// Writes `<enable/>` in the best dialect `features` offer and waits for the answer.
    /// Returns the `Enabled` event.
    pub fn enable(&mut self, features: &Element, timeout: Duration) -> Result<Event, SmError> {
        let offered: Vec<Namespace> = features
            .children()
            .filter(|c| c.name() == "sm")
            .filter_map(|c| Namespace::from_uri(&c.ns()))
            .collect();
        let ns = Namespace::choose(&offered, &Namespace::ALL).ok_or(SmError::NotOffered)?;
        let enable = self.sm.enable(system_now(), ns)?;
        self.write(&enable)?;
        self.drain()?;
        self.wait_for_answer(
            timeout,
            "<enabled/>",
            |e| matches!(e, Event::Enabled { .. }),
            |e| matches!(e, Event::EnableFailed { .. }),
        )
    }

    /// Writes `<resume/>` on the attached (authenticated, unbound) connection and waits for
    /// the answer. Returns the `Resumed` event; retransmissions are already written.
    pub fn resume(&mut self, timeout: Duration) -> Result<Event, SmError> {
        let resume = self.sm.resume(system_now())?;
        self.write(&resume)?;
        self.drain()?;
        self.wait_for_answer(
            timeout,
            "<resumed/>",
            |e| matches!(e, Event::Resumed { .. }),
            |e| matches!(e, Event::ResumeFailed { .. }),
        )
    }

    fn wait_for_answer(
        &mut self,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&Event) -> bool,
        refused: impl Fn(&Event) -> bool,
    ) -> Result<Event, SmError> {
        let start = self.events.len();
        let deadline = deadline_in(timeout);
        loop {
            if let Some(e) = self.events[start..].iter().find(|e| ok(e)) {
                return Ok(e.clone());
            }
            if let Some(e) = self.events[start..].iter().find(|e| refused(e)) {
                return Err(SmError::Refused(Box::new(e.clone())));
            }
            let Some(left) = remaining(deadline) else {
                return Err(SmError::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            };
            self.pump(left)?;
        }
    }

    /// Sends a stanza through the machine.
    pub fn send(&mut self, stanza: Element) -> Result<(), SmError> {
        self.sm.send(system_now(), stanza)?;
        self.drain()
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
        self.sm.request_ack(system_now());
        self.drain()
    }

    /// Reads and handles at most one element, waiting at most `timeout` (less if a machine
    /// timer is due sooner). Returns whether something was read.
    pub fn pump(&mut self, timeout: Duration) -> Result<bool, SmError> {
        let wait = match self.sm.poll_timeout() {
            Some(at) => at
                .duration_since(system_now())
                .unwrap_or(Duration::ZERO)
                .min(timeout),
            None => timeout,
        };
        let conn = self.conn.as_mut().ok_or(SmError::NoConnection)?;
        let read = conn.recv(wait);
        let now = system_now();
        self.sm.handle_timeout(now);
        let event = match read {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                self.drain()?;
                return Ok(false);
            }
            Err(e) => {
                self.lost();
                return Err(SmError::Disconnected(e.to_string()));
            }
        };
        let el = match event {
            StreamEvent::Element(el) => el,
            StreamEvent::Header(_) => return Ok(true),
            _ => {
                self.lost();
                return Err(SmError::Disconnected("the server closed the stream".into()));
            }
        };
        if el.is("error", NS_STREAMS) {
            self.lost();
            return Err(SmError::StreamError(el));
        }
        match self.sm.handle_element(now, el) {
            Ok(Incoming::Stanza(s)) => self.stanzas.push_back(s),
            Ok(Incoming::NotOurs(o)) => self.other.push_back(o),
            Ok(_) => {}
            Err(e) => {
                if let Some(answer) = e.answer() {
                    let _ = self.write(&answer.into_element());
                }
                self.drain()?;
                return Err(e.into());
            }
        }
        self.drain()?;
        Ok(true)
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
            let Some(left) = remaining(deadline) else {
                return Err(SmError::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            };
            self.pump(left)?;
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
        self.sm.close(system_now());
        if let Some(mut conn) = self.conn.take() {
            conn.close();
        }
        self.drain_events();
        Ok(())
    }

    fn lost(&mut self) {
        self.conn = None;
        self.lossy = false;
        self.sm.handle_disconnect(system_now());
        // Whatever was waiting to be written never reached the wire. Stanzas among it stay
        // in the machine's queue and are retransmitted after `<resumed/>`; writing them on
        // the next connection as well would duplicate them, and a stale `<r/>` there would
        // come before `<resume/>`.
        while self.sm.poll_transmit().is_some() {}
        self.drain_events();
    }

    fn write(&mut self, el: &Element) -> Result<(), SmError> {
        let conn = self.conn.as_mut().ok_or(SmError::NoConnection)?;
        if self.lossy {
            return Ok(());
        }
        conn.send(el).map_err(SmError::from)
    }

    /// Writes every pending transmit, then logs every pending event. A write failure is a
    /// disconnect: the machine keeps the stanzas for resumption.
    fn drain(&mut self) -> Result<(), SmError> {
        while let Some(t) = self.sm.poll_transmit() {
            let Some(conn) = self.conn.as_mut() else {
                // Nothing can be written while disconnected; the machine queues stanzas
                // itself in that phase, so this only drops nonzas such as <r/>.
                continue;
            };
            if self.lossy {
                continue;
            }
            if let Err(e) = conn.send(&t) {
                self.lost();
                return Err(SmError::Disconnected(e.to_string()));
            }
        }
        self.drain_events();
        Ok(())
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.sm.poll_event() {
            self.events.push(e);
        }
    }
}
