//! One client connection: negotiation (in `negotiate.rs` and `sasl2.rs`), then the loop that
//! feeds the stream's `Server` and drains it, and the end of the connection.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use xmpp_tether::framing::StreamEvent;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::{Incoming, Server};
use xmpp_tether::xmpp_parsers::stream_error::{DefinedCondition, StreamError};

use crate::io::{Io, ReadError};
use crate::state::{Handle, Shared, Signal, lock};
use crate::xml::{self, CLIENT};

/// How a connection ended.
pub(crate) enum End {
    /// The TCP connection broke: hibernate a resumable session.
    Lost,
    /// The client closed the stream (or broke the protocol): the session ends.
    Closed(Option<StreamError>),
    /// The server is shutting down: hibernate, to be persisted.
    Shutdown,
    /// The stream machine closed itself (taken over, here or by another node, or a fatal
    /// error it answered).
    Done,
}

pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) io: Io,
    pub(crate) handle: Handle,
    pub(crate) signals: mpsc::UnboundedReceiver<Signal>,
    pub(crate) id: u64,
    pub(crate) sm: Option<Server<Handle>>,
}

/// Serves one connection to its end.
pub(crate) async fn serve(shared: Arc<Shared>, socket: TcpStream) {
    let id = shared.conn_id();
    let (tx, signals) = mpsc::unbounded_channel();
    lock(&shared.conns).insert(id, tx.clone());
    let trace = shared.trace.then(|| format!("c{id}"));
    let mut conn = Conn {
        io: Io::new(socket, trace),
        shared: Arc::clone(&shared),
        handle: Handle(tx),
        signals,
        id,
        sm: None,
    };
    let end = match conn.negotiate().await {
        Ok(()) => conn.run().await,
        Err(end) => end,
    };
    conn.finish(end).await;
    lock(&shared.conns).remove(&id);
}

impl Conn {
    /// The stream, once authenticated.
    pub(crate) fn sm(&mut self) -> Result<&mut Server<Handle>, End> {
        self.sm.as_mut().ok_or(End::Closed(None))
    }

    async fn run(&mut self) -> End {
        loop {
            if let Err(end) = self.step().await {
                return end;
            }
            // sm {
            if self.sm.as_ref().is_some_and(Server::is_closed) {
                return End::Done;
            }
            // sm }
        }
    }

    /// One turn: the next input (bytes, a signal, the stream's timer), then the stream's
    /// outputs. Stanzas routed here arrive through the session store with a wake-up.
    async fn step(&mut self) -> Result<(), End> {
        let sleep = self.deadline();
        tokio::select! {
            event = self.io.next() => self.on_event(event).await?,
            signal = self.signals.recv() => self.on_signal(signal)?,
            () = sleep_until(sleep) => self.on_timer()?,
        }
        self.flush().await
    }

    /// When the stream's timer is due, as a tokio instant.
    pub(crate) fn deadline(&self) -> Option<tokio::time::Instant> {
        // sm {
        let deadline = self.sm.as_ref()?.poll_timeout()?;
        // sm }
        Some(self.shared.instant(deadline))
    }

    pub(crate) fn on_timer(&mut self) -> Result<(), End> {
        let now = self.shared.now();
        // sm {
        self.sm()?.handle_timeout(now);
        // sm }
        Ok(())
    }

    async fn on_event(&mut self, event: Result<StreamEvent, ReadError>) -> Result<(), End> {
        match event {
            Ok(StreamEvent::Element(el)) => self.on_element(el).await,
            Ok(StreamEvent::End) => Err(End::Closed(None)),
            Ok(_) => Err(End::Closed(Some(stream_error(
                DefinedCondition::NotWellFormed,
            )))),
            Err(ReadError::Framing(e)) => Err(End::Closed(Some(e.stream_error()))),
            Err(ReadError::Lost(_)) => Err(End::Lost),
        }
    }

    pub(crate) fn on_signal(&mut self, signal: Option<Signal>) -> Result<(), End> {
        let now = self.shared.now();
        match signal {
            // sm {
            Some(Signal::Wake) => self.sm().map(|sm| sm.handle_wake(now)),
            // sm }
            Some(Signal::Shutdown) | None => Err(End::Shutdown),
            #[cfg(feature = "cluster")] // cluster
            Some(Signal::TakeOver) => self.sm().map(|sm| sm.hand_over_elsewhere(now)), // cluster
        }
    }

    async fn on_element(&mut self, el: Element) -> Result<(), End> {
        let now = self.shared.now();
        // Stream management's own elements are answered through `flush`; CSI and other
        // nonzas this server does not speak are ignored.
        #[cfg(feature = "cluster")] // cluster
        self.shared.cluster_resume(now, self.owner(), &el).await; // cluster
        // sm {
        let incoming = self.sm()?.handle_element(now, el);
        // sm }
        match incoming {
            Ok(Incoming::Stanza(stanza)) => self.on_stanza(stanza).await,
            _ => Ok(()),
        }
    }

    async fn on_stanza(&mut self, mut stanza: Element) -> Result<(), End> {
        let Some(from) = self.jid() else {
            // Before a resource is bound only the bind request is served (RFC 6120 §7.1).
            return self.bind_request(&stanza).await;
        };
        if !matches!(stanza.name(), "message" | "presence" | "iq") || !stanza.has_ns(CLIENT) {
            return Ok(());
        }
        // RFC 6120 §8.1.2.1: the server stamps the sender's full JID.
        xml::set(&mut stanza, "from", from.to_string());
        self.shared.route(self.shared.now(), &from, stanza);
        Ok(())
    }

    /// Writes everything the stream queued, then hands back what it gave up.
    pub(crate) async fn flush(&mut self) -> Result<(), End> {
        let (now, from, shared) = (self.shared.now(), self.jid(), Arc::clone(&self.shared));
        let Some(sm) = self.sm.as_mut() else {
            return Ok(());
        };
        let mut written = Ok(());
        #[cfg(feature = "cluster")] // cluster
        shared.cluster_checkpoint(now, sm, self.id); // cluster
        // sm {
        while let Some(t) = sm.poll_transmit() {
            written = written.and(self.io.send(&t).await.map_err(|_| End::Lost));
        }
        while let Some(event) = sm.poll_event() {
            shared.push0_session(now, from.as_ref(), &event); // push0
            shared.psa_session(now, &event); // psa
            #[cfg(feature = "cluster")] // cluster
            shared.cluster_session(now, &event, sm.owner(), (self.id, &self.handle.0)); // cluster
            shared.hand_back(now, from.as_ref(), event.into_handed_back());
        }
        // sm }
        written
    }

    /// The connection is over: settle the session (stanzas routed here but not taken yet go
    /// wherever it goes), and tell the contacts if the resource is gone.
    async fn finish(mut self, end: End) {
        let (now, jid) = (self.shared.now(), self.jid());
        // A lost connection (or a shutdown) hibernates a resumable session; a closed one ends
        // it. Either is a no-op on a stream that closed itself.
        // sm {
        match self.sm.as_mut() {
            Some(sm) if matches!(end, End::Closed(_)) => sm.close(now),
            Some(sm) => sm.handle_disconnect(now),
            None => {}
        }
        // sm }
        if let End::Closed(Some(error)) = &end {
            let _ = self.io.send(&error.clone().into()).await;
        }
        let _ = self.flush().await;
        #[cfg(feature = "cluster")] // cluster
        self.shared.cluster_closed(jid.as_ref(), self.id); // cluster
        if !matches!(end, End::Lost) {
            self.io.end().await;
        }
        // Still routed means the session lives on: hibernated, or taken over elsewhere.
        // sm {
        let gone = jid.filter(|j| self.shared.sessions.route(j).is_none());
        // sm }
        #[cfg(feature = "cluster")] // cluster
        let gone = gone.filter(|j| !self.shared.cluster_holds(j)); // cluster
        if let Some(jid) = gone {
            self.shared.push0_gone(now, Some(&jid)); // push0
            self.shared.push2_gone(Some(&jid)); // push2
            self.shared.session_ended(now, &jid);
        }
    }

    /// The bound full JID (bound here, or restored by a resumption).
    pub(crate) fn jid(&self) -> Option<FullJid> {
        // sm {
        self.sm.as_ref()?.resource().cloned()
        // sm }
    }

    pub(crate) fn owner(&self) -> Option<BareJid> {
        self.sm.as_ref().map(|sm| sm.owner().clone())
    }
}

pub(crate) fn stream_error(condition: DefinedCondition) -> StreamError {
    StreamError {
        condition,
        texts: std::collections::BTreeMap::new(),
        application_specific: Vec::new(),
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
