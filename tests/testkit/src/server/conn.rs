//! One client connection of the [`TestServer`](super::TestServer), on its own thread.

mod auth;

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_sm::{Claim, Event, HibernatedSession, Incoming, Server};

use super::{Command, Hub, Live, POLL, ServerEvent, Shared, route};
use crate::client::{NS_BIND, name};
use crate::system_now;
use crate::xml::{NS_CLIENT, StreamEvent, StreamReader, StreamWriter};

/// Authentication must finish within this.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a resuming stream waits for the old stream to hand its session over.
const TAKE_OVER: Duration = Duration::from_secs(5);

/// How a connection ended.
#[derive(Debug)]
enum End {
    /// The TCP connection broke or was cut: hibernate if resumable.
    Lost(String),
    /// The client closed the stream, or we closed it after an error: the session ends.
    Closed(String),
    /// Our session moved to another stream.
    TakenOver,
    /// The server is shutting down.
    Stopping,
}

impl End {
    fn describe(&self) -> String {
        match self {
            Self::Lost(why) => format!("connection lost: {why}"),
            Self::Closed(why) => format!("closed: {why}"),
            Self::TakenOver => "taken over by a resumption".into(),
            Self::Stopping => "server stopping".into(),
        }
    }
}

struct Conn<'a> {
    id: u64,
    shared: &'a Shared,
    socket: TcpStream,
    reader: StreamReader<TcpStream>,
    writer: StreamWriter<TcpStream>,
    tx: Sender<Command>,
    rx: Receiver<Command>,
    owner: Option<BareJid>,
    jid: Option<FullJid>,
    sm: Option<Server>,
    /// Set by [`Command::Pause`]: the socket is no longer read.
    paused: bool,
}

/// Serves one connection until it ends, then settles its session.
pub(super) fn run(id: u64, socket: TcpStream, shared: &Shared) {
    let setup = || -> std::io::Result<Conn<'_>> {
        socket.set_nonblocking(false)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(POLL))?;
        socket.set_write_timeout(Some(Duration::from_secs(5)))?;
        let (tx, rx) = mpsc::channel();
        Ok(Conn {
            id,
            shared,
            reader: StreamReader::new(socket.try_clone()?),
            writer: StreamWriter::new(socket.try_clone()?),
            socket: socket.try_clone()?,
            tx,
            rx,
            owner: None,
            jid: None,
            sm: None,
            paused: false,
        })
    };
    let Ok(mut conn) = setup() else {
        return;
    };
    let end = conn.serve();
    conn.settle(end);
}

impl Conn<'_> {
    fn serve(&mut self) -> End {
        if let Err(end) = self.handshake() {
            return end;
        }
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return End::Stopping;
            }
            if let Err(end) = self.serve_commands() {
                return end;
            }
            if let Err(end) = self.fire_timers() {
                return end;
            }
            if self.paused {
                std::thread::sleep(POLL);
                continue;
            }
            match self.reader.next_event() {
                Ok(StreamEvent::Element(el)) => {
                    self.trace("C", &el);
                    if let Err(end) = self.on_element(el) {
                        return end;
                    }
                }
                Ok(StreamEvent::End) => {
                    let _ = self.writer.write_close();
                    return End::Closed("the client closed the stream".into());
                }
                Ok(_) => {}
                Err(crate::xml::XmlError::Timeout) => {}
                Err(e) => return End::Lost(e.to_string()),
            }
        }
    }

    fn serve_commands(&mut self) -> Result<(), End> {
        loop {
            match self.rx.try_recv() {
                Ok(Command::Deliver(stanza)) => self.deliver(stanza)?,
                Ok(Command::Cut) => {
                    let _ = self.socket.shutdown(Shutdown::Both);
                    return Err(End::Lost("cut by the test".into()));
                }
                Ok(Command::Pause(done)) => {
                    self.paused = true;
                    let _ = done.send(());
                }
                Ok(Command::TakeOver(done)) => {
                    if self.take_over() {
                        let _ = done.send(());
                        return Err(End::TakenOver);
                    }
                    let _ = done.send(());
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(()),
            }
        }
    }

    fn fire_timers(&mut self) -> Result<(), End> {
        let now = system_now();
        let Some(sm) = self.sm.as_mut() else {
            return Ok(());
        };
        if sm.poll_timeout().is_some_and(|at| at <= now) {
            sm.handle_timeout(now);
            self.drain()?;
        }
        Ok(())
    }

    fn sm(&mut self) -> Result<&mut Server, End> {
        self.sm
            .as_mut()
            .ok_or_else(|| End::Closed("no stream management state before authentication".into()))
    }

    fn on_element(&mut self, el: Element) -> Result<(), End> {
        let now = system_now();
        let result = self.sm()?.handle_element(now, el);
        match result {
            Ok(Incoming::Stanza(stanza)) => {
                self.drain()?;
                self.on_stanza(stanza)
            }
            Ok(Incoming::EnableRequest(_)) => self.on_enable(),
            Ok(Incoming::ResumeRequest(req)) => self.on_resume(&req.previd),
            Ok(_) => self.drain(),
            Err(e) => {
                let answer = e.answer().map(xmpp_sm::Answer::into_element);
                let mut hub = self.shared.lock();
                let log = ServerEvent::PeerError {
                    conn: self.id,
                    error: e.to_string(),
                    answer: answer
                        .as_ref()
                        .and_then(|a| crate::xml::element_to_string(a).ok()),
                };
                self.shared.log(&mut hub, log);
                drop(hub);
                self.drain()?;
                if let Some(answer) = answer {
                    self.write(&answer)?;
                }
                if e.is_fatal() {
                    let _ = self.writer.write_close();
                    let _ = self.socket.shutdown(Shutdown::Write);
                    return Err(End::Closed(format!("stream error: {e}")));
                }
                Ok(())
            }
        }
    }

    fn on_stanza(&mut self, stanza: Element) -> Result<(), End> {
        let Some(from) = self.jid.clone() else {
            return self.on_unbound(&stanza);
        };
        let to = stanza.attr("to").map(str::to_owned);
        let for_server = to.as_deref().is_none_or(|t| t == self.shared.config.domain);
        if stanza.is("iq", NS_CLIENT) && for_server {
            return self.answer_iq(&stanza);
        }
        let Some(to) = to.filter(|_| !for_server) else {
            // Presence broadcast and messages to the server are out of scope: dropped.
            return Ok(());
        };
        // RFC 6120 §8.1.2.1: the server stamps the sender's full JID.
        let stamped = stamp_from(stanza, &from);
        let mut hub = self.shared.lock();
        route(self.shared, &mut hub, &from, &to, stamped);
        Ok(())
    }

    /// Before binding only the bind request is served (RFC 6120 §7.1).
    fn on_unbound(&mut self, stanza: &Element) -> Result<(), End> {
        let bind = stanza.get_child("bind", NS_BIND);
        let (Some(bind), Some(owner), true) = (
            bind,
            self.owner.clone(),
            stanza.is("iq", NS_CLIENT) && stanza.attr("type") == Some("set"),
        ) else {
            return Ok(());
        };
        let wanted = bind
            .get_child("resource", NS_BIND)
            .map(Element::text)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| format!("r{}", self.id));
        let mut hub = self.shared.lock();
        let mut full = owner.with_resource_str(&wanted);
        if full.as_ref().is_ok_and(|f| hub.live.contains_key(f)) {
            // Resource in use: the server may pick another (RFC 6120 §7.7.2.2).
            full = owner.with_resource_str(&format!("{wanted}-{}", self.id));
        }
        let Ok(full) = full else {
            drop(hub);
            return self.reply_error(stanza, "bad-request");
        };
        hub.live.insert(
            full.clone(),
            Live {
                conn: self.id,
                tx: self.tx.clone(),
                sm_id: None,
            },
        );
        let log = ServerEvent::Bound {
            conn: self.id,
            jid: full.clone(),
        };
        self.shared.log(&mut hub, log);
        drop(hub);
        self.jid = Some(full.clone());
        if let Err(e) = self.sm()?.bound(system_now(), full.clone()) {
            return Err(End::Closed(format!("bound refused: {e}")));
        }
        let result = Element::builder("iq", NS_CLIENT)
            .attr(name("type"), "result")
            .attr(name("id"), stanza.attr("id").unwrap_or_default())
            .append(
                Element::builder("bind", NS_BIND)
                    .append(
                        Element::builder("jid", NS_BIND)
                            .append(full.to_string())
                            .build(),
                    )
                    .build(),
            )
            .build();
        self.send(result)
    }

    /// The server itself answers pings (XEP-0199) and nothing else.
    fn answer_iq(&mut self, iq: &Element) -> Result<(), End> {
        match iq.attr("type") {
            Some("get") if iq.has_child("ping", "urn:xmpp:ping") => {
                let result = Element::builder("iq", NS_CLIENT)
                    .attr(name("type"), "result")
                    .attr(name("id"), iq.attr("id").unwrap_or_default())
                    .build();
                self.send(result)
            }
            Some("get" | "set") => self.reply_error(iq, "service-unavailable"),
            _ => Ok(()),
        }
    }

    fn reply_error(&mut self, iq: &Element, condition: &str) -> Result<(), End> {
        const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
        let error = Element::builder("error", NS_CLIENT)
            .attr(name("type"), "cancel")
            .append(Element::bare(condition, NS_STANZAS))
            .build();
        let reply = Element::builder("iq", NS_CLIENT)
            .attr(name("type"), "error")
            .attr(name("id"), iq.attr("id").unwrap_or_default())
            .append(error)
            .build();
        self.send(reply)
    }

    fn on_enable(&mut self) -> Result<(), End> {
        let now = system_now();
        let mut hub = self.shared.lock();
        let Some(sm) = self.sm.as_mut() else {
            return Ok(());
        };
        let enabled = sm.accept_enable(now, &mut hub.rng);
        let id = sm.id().cloned();
        if let (Some(id), Some(owner)) = (&id, &self.owner) {
            hub.store.register(id.clone(), owner.clone());
        }
        if let Some(live) = self.jid.as_ref().and_then(|j| hub.live.get_mut(j)) {
            live.sm_id.clone_from(&id);
        }
        let log = ServerEvent::Enabled { conn: self.id, id };
        self.shared.log(&mut hub, log);
        drop(hub);
        match enabled {
            Ok(el) => self.write(&el)?,
            Err(e) => return Err(End::Closed(format!("accept_enable: {e}"))),
        }
        self.drain()
    }

    /// XEP-0198 §5: claim the session from the store (taking it over from a stream that is
    /// still open if need be), then resume it, or refuse.
    fn on_resume(&mut self, previd: &xmpp_sm::SmId) -> Result<(), End> {
        let Some(owner) = self.owner.clone() else {
            return Ok(());
        };
        let mut claim = self.shared.lock().store.claim(system_now(), previd, &owner);
        if claim == Claim::Live {
            // The old stream has not noticed its connection is gone: it hands the session
            // over by hibernating it, and we claim again.
            let old = {
                let hub = self.shared.lock();
                hub.live
                    .values()
                    .find(|l| l.sm_id.as_ref() == Some(previd) && l.conn != self.id)
                    .map(|l| l.tx.clone())
            };
            let (done_tx, done_rx) = mpsc::channel();
            if let Some(old) = old
                && old.send(Command::TakeOver(done_tx)).is_ok()
            {
                let _ = done_rx.recv_timeout(TAKE_OVER);
            }
            claim = self.shared.lock().store.claim(system_now(), previd, &owner);
        }
        let now = system_now();
        let mut hub = self.shared.lock();
        let reply = match claim {
            Claim::Hibernated(session) => {
                hub.hibernated.remove(session.id());
                self.accept_resume(&mut hub, session)
            }
            Claim::Failed { h } => {
                let log = ServerEvent::ResumeRefused { conn: self.id, h };
                self.shared.log(&mut hub, log);
                self.sm()?
                    .reject_resume(now, h)
                    .map_err(|e| End::Closed(format!("reject_resume: {e}")))
            }
            _ => {
                let log = ServerEvent::ResumeRefused {
                    conn: self.id,
                    h: None,
                };
                self.shared.log(&mut hub, log);
                self.sm()?
                    .reject_resume(now, None)
                    .map_err(|e| End::Closed(format!("reject_resume: {e}")))
            }
        };
        drop(hub);
        match reply {
            Ok(el) => {
                self.write(&el)?;
                self.drain()
            }
            Err(end) => {
                self.drain()?;
                Err(end)
            }
        }
    }

    /// Under the hub lock, so that stanzas routed from now on reach this stream's channel
    /// and go out after the retransmissions.
    fn accept_resume(&mut self, hub: &mut Hub, session: HibernatedSession) -> Result<Element, End> {
        let now = system_now();
        let id = session.id().clone();
        let sm = self.sm()?;
        let reply = match sm.accept_resume(now, session) {
            Ok(reply) => reply,
            Err(e) => {
                let answer = e.answer().map(xmpp_sm::Answer::into_element);
                let log = ServerEvent::PeerError {
                    conn: self.id,
                    error: e.to_string(),
                    answer: answer
                        .as_ref()
                        .and_then(|a| crate::xml::element_to_string(a).ok()),
                };
                self.shared.log(hub, log);
                return match answer {
                    Some(answer) => Ok(answer),
                    None => Err(End::Closed(format!("accept_resume: {e}"))),
                };
            }
        };
        let jid = sm.resource().cloned();
        let retransmitted = sm.unacked();
        if let Some(owner) = &self.owner {
            hub.store.register(id.clone(), owner.clone());
        }
        if let Some(jid) = &jid {
            hub.live.insert(
                jid.clone(),
                Live {
                    conn: self.id,
                    tx: self.tx.clone(),
                    sm_id: Some(id),
                },
            );
        }
        self.jid.clone_from(&jid);
        let log = ServerEvent::Resumed {
            conn: self.id,
            jid,
            retransmitted,
        };
        self.shared.log(hub, log);
        Ok(reply)
    }

    /// Hands this stream's session to a resuming stream via the store. Returns whether it
    /// did (false: not resumable, the request is ignored).
    fn take_over(&mut self) -> bool {
        let now = system_now();
        let mut hub = self.shared.lock();
        let Some(sm) = self.sm.as_mut() else {
            return false;
        };
        let Ok((mut session, error)) = sm.take_over(now) else {
            return false;
        };
        self.queue_pending(&mut hub, &mut session);
        self.unregister(&mut hub);
        self.hibernate(&mut hub, session);
        let log = ServerEvent::TakenOver { conn: self.id };
        self.shared.log(&mut hub, log);
        drop(hub);
        let error: Element = error.into();
        let _ = self.write(&error);
        let _ = self.writer.write_close();
        let _ = self.socket.shutdown(Shutdown::Both);
        true
    }

    /// Delivers a routed stanza through the state machine.
    fn deliver(&mut self, stanza: Element) -> Result<(), End> {
        let now = system_now();
        let sm = self.sm()?;
        match sm.send(now, stanza) {
            Ok(()) => self.drain(),
            Err(e) => {
                let mut hub = self.shared.lock();
                if let xmpp_sm::Error::Misuse(
                    xmpp_sm::Misuse::Closed(s) | xmpp_sm::Misuse::NotAStanza(s),
                ) = e
                {
                    hub.undeliverable.push(*s);
                }
                drop(hub);
                self.drain()?;
                Ok(())
            }
        }
    }

    fn send(&mut self, stanza: Element) -> Result<(), End> {
        let now = system_now();
        self.sm()?
            .send(now, stanza)
            .map_err(|e| End::Closed(format!("send: {e}")))?;
        self.drain()
    }

    /// Writes every pending transmit, then handles every pending event.
    fn drain(&mut self) -> Result<(), End> {
        let Some(sm) = self.sm.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        while let Some(t) = sm.poll_transmit() {
            out.push(t.into_element());
        }
        let mut handed_back = Vec::new();
        let mut ended = Vec::new();
        while let Some(event) = sm.poll_event() {
            match event {
                Event::HandedBack { reason, stanzas } => handed_back.push((reason, stanzas)),
                Event::SessionEnded { id, handled } => ended.push((id, handled)),
                _ => {}
            }
        }
        if !handed_back.is_empty() || !ended.is_empty() {
            let mut hub = self.shared.lock();
            // A session that ended for good: remember its h for a late <resume/>.
            for (id, handled) in ended {
                hub.store.end(&id, handled);
            }
            for (reason, stanzas) in handed_back {
                let log = ServerEvent::HandedBack {
                    conn: self.id,
                    reason: Some(reason),
                    count: stanzas.len(),
                };
                hub.undeliverable
                    .extend(stanzas.into_iter().map(|u| u.stanza));
                self.shared.log(&mut hub, log);
            }
        }
        for el in &out {
            self.write(el)?;
        }
        Ok(())
    }

    fn write(&mut self, el: &Element) -> Result<(), End> {
        self.trace("S", el);
        self.writer
            .write_element(el)
            .map_err(|e| End::Lost(format!("write failed: {e}")))
    }

    fn trace(&self, dir: &str, el: &Element) {
        if self.shared.config.trace {
            eprintln!(
                "[server conn {}] {dir}: {}",
                self.id,
                crate::xml::element_to_string(el).unwrap_or_default()
            );
        }
    }

    /// Settles the session once the connection is over: hibernate it when the connection
    /// was lost and it is resumable, end it otherwise; stanzas that were on their way to
    /// this stream go into the hibernated session or are kept as undeliverable.
    fn settle(&mut self, end: End) {
        let now = system_now();
        let _ = self.socket.shutdown(Shutdown::Both);
        let mut hub = self.shared.lock();
        self.unregister(&mut hub);
        let why = end.describe();
        let session = match (&end, self.sm.as_mut()) {
            (End::TakenOver, _) | (_, None) => None,
            (End::Lost(_) | End::Stopping, Some(sm)) => sm.handle_disconnect(now),
            // Ends the session: its Event::SessionEnded reaches the store in `drain`.
            (End::Closed(_), Some(sm)) => {
                sm.close(now);
                None
            }
        };
        drop(hub);
        // Hand-backs from handle_disconnect/close; writes fail harmlessly on the dead socket.
        let _ = self.drain();
        let mut hub = self.shared.lock();
        match session {
            Some(mut session) => {
                self.queue_pending(&mut hub, &mut session);
                self.hibernate(&mut hub, session);
            }
            None => {
                while let Ok(cmd) = self.rx.try_recv() {
                    match cmd {
                        Command::Deliver(s) => hub.undeliverable.push(s),
                        Command::TakeOver(done) => {
                            let _ = done.send(());
                        }
                        Command::Cut | Command::Pause(_) => {}
                    }
                }
            }
        }
        let log = ServerEvent::Closed { conn: self.id, why };
        self.shared.log(&mut hub, log);
    }

    /// Moves stanzas still waiting in this stream's channel into its session.
    fn queue_pending(&self, hub: &mut Hub, session: &mut HibernatedSession) {
        let now = system_now();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Deliver(s) => {
                    if let Err(refused) = session.push(now, s) {
                        hub.undeliverable.push(refused.into_element());
                    }
                }
                Command::TakeOver(done) => {
                    let _ = done.send(());
                }
                Command::Cut | Command::Pause(_) => {}
            }
        }
    }

    fn unregister(&self, hub: &mut Hub) {
        if let Some(jid) = &self.jid
            && hub.live.get(jid).is_some_and(|l| l.conn == self.id)
        {
            hub.live.remove(jid);
        }
    }

    fn hibernate(&self, hub: &mut Hub, session: HibernatedSession) {
        let now = system_now();
        let (id, unacked) = (session.id().clone(), session.unacked());
        hub.hibernated.insert(id.clone(), session.owner().clone());
        hub.store.hibernate(now, session);
        let log = ServerEvent::Hibernated {
            conn: self.id,
            id,
            unacked,
        };
        self.shared.log(hub, log);
    }
}

/// The stanza with `from` set to `from`.
fn stamp_from(mut stanza: Element, from: &FullJid) -> Element {
    stanza.set_attr(
        minidom::rxml::Namespace::none().clone(),
        name("from"),
        from.to_string(),
    );
    stanza
}
