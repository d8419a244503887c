//! The Push 2.0 side of the push service: each `<notification xmlns='urn:xmpp:push2:0'/>` a
//! user's server sends becomes a Web Push request (RFC 8030) to the endpoint in its
//! `<client/>`, made over real HTTPS with `ureq` on tokio's blocking pool; a delivery that
//! fails is answered to the user's server with the XMPP error `xmpp-push2` maps the HTTP
//! status to (404/410 `cancel`/`item-not-found`, 429 and 5xx `wait`, 413 `modify`/
//! `not-acceptable`, no answer `wait`/`remote-server-timeout`), which its registry retries or
//! counts. Success is silent, as the protocol has no positive acknowledgement. Each outcome is
//! printed as one JSON line.
//!
//! The protocol is `xmpp_push2::PushService`'s; this module owns the HTTP client and the
//! tasks.

use std::time::Duration;

use tokio::sync::mpsc;
use xmpp_tether::minidom::Element;
use xmpp_tether::push2::service::{RequestId, StatusCode};
use xmpp_tether::push2::{
    Incoming, Now, PushService, ServiceConfig, ServiceEvent, ServiceTransmit,
};

use crate::Clock;

/// How long one HTTPS request may take (below `ServiceConfig::request_timeout`, so the
/// client's own timeout is what normally ends a stuck request).
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// What [`Service::next`] woke up for.
pub(crate) enum Wake {
    /// A request finished.
    Done(Done),
    /// The machine's deadline passed (a request went unanswered too long).
    Deadline,
}

/// A request that finished: its status, or why it got none.
pub(crate) struct Done {
    id: RequestId,
    outcome: Result<StatusCode, String>,
}

pub(crate) struct Service {
    machine: PushService,
    agent: ureq::Agent,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
}

impl Service {
    pub(crate) fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .build()
            .into();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            machine: PushService::new(ServiceConfig::default()),
            agent,
            done_tx,
            done_rx,
        }
    }

    /// Handles one stanza; returns the stanzas to write now, or `None` when it is not Push
    /// 2.0 business.
    pub(crate) fn handle(&mut self, now: Now, stanza: &Element) -> Option<Vec<Element>> {
        match self.machine.handle_stanza(now, stanza) {
            Ok(Incoming::NotOurs) => return None,
            Ok(_) => {}
            Err(e) => eprintln!(
                "push2: refused a notification from {:?}: {e}",
                stanza.attr("from")
            ),
        }
        Some(self.drain())
    }

    /// Waits for the next thing to do: a request that finished, or the machine's deadline
    /// (pending while neither can come).
    pub(crate) async fn next(&mut self, clock: &Clock) -> Wake {
        let deadline = self
            .machine
            .poll_timeout()
            .and_then(|at| at.to_instant(clock.epoch));
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // This service holds a sender, so the channel never closes.
            Some(done) = self.done_rx.recv() => Wake::Done(done),
            () = expiry => Wake::Deadline,
        }
    }

    /// Acts on what [`next`](Self::next) returned; returns the error replies to write.
    pub(crate) fn wake(&mut self, now: Now, wake: Wake) -> Vec<Element> {
        match wake {
            Wake::Done(Done {
                id,
                outcome: Ok(status),
            }) => {
                let _ = self.machine.handle_response(now, id, status);
            }
            Wake::Done(Done {
                id,
                outcome: Err(reason),
            }) => {
                let _ = self.machine.handle_failure(now, id, &reason);
            }
            Wake::Deadline => self.machine.handle_timeout(now),
        }
        self.drain()
    }

    /// Starts every queued request on the blocking pool, collects the stanzas to write, and
    /// prints the events.
    fn drain(&mut self) -> Vec<Element> {
        let mut out = Vec::new();
        while let Some(t) = self.machine.poll_transmit() {
            match t {
                ServiceTransmit::Request { id, request } => {
                    let agent = self.agent.clone();
                    let tx = self.done_tx.clone();
                    drop(tokio::task::spawn_blocking(move || {
                        let outcome = agent
                            .run(request)
                            .map(|response| response.status())
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Done { id, outcome });
                    }));
                }
                ServiceTransmit::Stanza(reply) => out.push(*reply),
                _ => {}
            }
        }
        while let Some(event) = self.machine.poll_event() {
            let line = match event {
                ServiceEvent::Delivered {
                    endpoint, status, ..
                } => serde_json::json!({
                    "push2": "delivered",
                    "endpoint": endpoint,
                    "status": status.as_u16(),
                }),
                ServiceEvent::Failed {
                    endpoint,
                    status,
                    error,
                    ..
                } => serde_json::json!({
                    "push2": "failed",
                    "endpoint": endpoint,
                    "status": status.map(|s| s.as_u16()),
                    "error": format!("{} {:?}", error.type_, error.defined_condition),
                }),
                _ => continue,
            };
            println!("{line}");
        }
        out
    }
}
