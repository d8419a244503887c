//! The push service: an XMPP entity (an XEP-0114 component in practice) that receives
//! notifications and delivers them to Web Push endpoints (RFC 8030) over HTTP.
//!
//! [`PushService`] is the sans-IO machine: a `<message/>` with a `<notification/>` goes in
//! ([`PushService::handle_stanza`]), an `http::Request<Vec<u8>>` comes out of
//! [`PushService::poll_transmit`] for the caller's HTTP client (hyper, reqwest, ureq...),
//! and the HTTP status goes back in ([`PushService::handle_response`]); a failure becomes
//! the error reply to the user's server, which retries `wait` errors and counts the others.
//! [`web_push_request`] and [`error_for_status`] are the two halves, usable on their own.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use http::{Method, header};
pub use http::{Request, StatusCode};
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_push2_crypto::vapid::origin;
use xmpp_tether_core::{Monotonic, Now};

use crate::elements::{Notification, Priority};
use crate::error::{NotificationError, RequestError};
use crate::ns;
use crate::registry::Incoming;
use crate::xml;

/// The most octets one Web Push message body may carry (RFC 8030 section 7.2 makes push
/// services accept at least 4096; RFC 8291 sends exactly one such record).
pub const MAX_BODY_LEN: usize = 4096;

/// The Web Push request for a notification: `POST` to the endpoint in `<client/>` with
/// `TTL`, `Urgency` from the priority (RFC 8030 section 5.3), the RFC 8291 body with
/// `Content-Encoding: aes128gcm`, and `Authorization: vapid t=..., k=...` from the `<jwt/>`
/// (RFC 8292 section 3; the key re-encoded as base64url). A notify-only notification is a
/// request with an empty body and no content coding (RFC 8030 section 5: a push message
/// need not have a payload).
///
/// # Errors
/// [`RequestError::NotAnEndpoint`] when `<client/>` is not an http(s) URL,
/// [`RequestError::PayloadTooLarge`] above [`MAX_BODY_LEN`].
pub fn web_push_request(
    notification: &Notification,
    ttl: Duration,
) -> Result<Request<Vec<u8>>, RequestError> {
    let not_an_endpoint = || RequestError::NotAnEndpoint {
        client: notification.client.clone(),
    };
    origin(&notification.client).map_err(|_| not_an_endpoint())?;
    let uri = notification
        .client
        .parse::<http::Uri>()
        .map_err(|_| not_an_endpoint())?;
    let body = notification.payload.clone().unwrap_or_default();
    if body.len() > MAX_BODY_LEN {
        return Err(RequestError::PayloadTooLarge {
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("TTL", ttl.as_secs().to_string())
        .header("Urgency", notification.priority.urgency());
    if notification.payload.is_some() {
        builder = builder
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream");
    }
    if let Some(jwt) = &notification.jwt {
        builder = builder.header(header::AUTHORIZATION, jwt.authorization());
    }
    builder.body(body).map_err(|_| not_an_endpoint())
}

/// The XMPP error a push service answers the user's server with for the push resource's
/// HTTP status, or `None` for success (2xx; RFC 8030 answers 201):
///
/// | status | error |
/// |---|---|
/// | 400 | `modify` / `bad-request` |
/// | 401 | `auth` / `not-authorized` (the VAPID token was refused) |
/// | 403 | `auth` / `forbidden` (the VAPID key is not the subscription's) |
/// | 404, 410 | `cancel` / `item-not-found` (the subscription is gone, RFC 8030 §7.3) |
/// | 413 | `modify` / `not-acceptable` (payload too large) |
/// | 429 | `wait` / `resource-constraint` (rate limited) |
/// | 503 | `wait` / `service-unavailable` |
/// | 504 | `wait` / `remote-server-timeout` |
/// | other 5xx | `wait` / `internal-server-error` |
/// | other | `cancel` / `undefined-condition` |
#[must_use]
pub fn error_for_status(status: StatusCode) -> Option<StanzaError> {
    if status.is_success() {
        return None;
    }
    let (type_, condition) = match status.as_u16() {
        400 => (ErrorType::Modify, DefinedCondition::BadRequest),
        401 => (ErrorType::Auth, DefinedCondition::NotAuthorized),
        403 => (ErrorType::Auth, DefinedCondition::Forbidden),
        404 | 410 => (ErrorType::Cancel, DefinedCondition::ItemNotFound),
        413 => (ErrorType::Modify, DefinedCondition::NotAcceptable),
        429 => (ErrorType::Wait, DefinedCondition::ResourceConstraint),
        503 => (ErrorType::Wait, DefinedCondition::ServiceUnavailable),
        504 => (ErrorType::Wait, DefinedCondition::RemoteServerTimeout),
        500..=599 => (ErrorType::Wait, DefinedCondition::InternalServerError),
        _ => (ErrorType::Cancel, DefinedCondition::UndefinedCondition),
    };
    Some(StanzaError::new(
        type_,
        condition,
        "en",
        format!("the push resource answered HTTP {status}"),
    ))
}

/// The error reply to a stanza (RFC 6120 §8.3): `from` and `to` swapped, the same `id`,
/// type `error`, in `jabber:client`.
#[must_use]
pub fn error_reply(stanza: &Element, error: StanzaError) -> Element {
    let mut reply = Element::builder(stanza.name(), ns::JABBER_CLIENT)
        .append(Element::from(error))
        .build();
    xml::set(&mut reply, xml_ncname!("type"), "error");
    if let Some(to) = stanza.attr("from") {
        xml::set(&mut reply, xml_ncname!("to"), to);
    }
    if let Some(from) = stanza.attr("to") {
        xml::set(&mut reply, xml_ncname!("from"), from);
    }
    if let Some(id) = stanza.attr("id") {
        xml::set(&mut reply, xml_ncname!("id"), id);
    }
    reply
}

/// Configuration of a [`PushService`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Requests awaiting an HTTP answer (1024); beyond, notifications are refused with
    /// `wait` / `resource-constraint`, which the user's server retries.
    pub max_in_flight: usize,
    /// How long a request may go unanswered before it counts as failed with `wait` /
    /// `remote-server-timeout` (30 s; below the user's server's outcome window).
    pub request_timeout: Duration,
    /// The `TTL` of ordinary notifications (24 h): how long the push service keeps one for a
    /// device that is offline.
    pub ttl: Duration,
    /// The `TTL` of calls (60 s): a call is worth ringing only while it rings.
    pub call_ttl: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            request_timeout: Duration::from_secs(30),
            ttl: Duration::from_secs(24 * 3600),
            call_ttl: Duration::from_secs(60),
        }
    }
}

/// A request's handle, to report its answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// What a [`PushService`] hands out.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is a request: boxing it would allocate once more per request"
)]
#[non_exhaustive]
pub enum ServiceTransmit {
    /// An HTTP request to make; report its answer with
    /// [`handle_response`](PushService::handle_response) or
    /// [`handle_failure`](PushService::handle_failure).
    Request {
        /// Its handle.
        id: RequestId,
        /// The request.
        request: Request<Vec<u8>>,
    },
    /// A stanza to write to the user's server (an error reply).
    Stanza(Box<Element>),
}

/// What a [`PushService`] tells the application.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one event per notification, consumed at once; the error is its point"
)]
#[non_exhaustive]
pub enum ServiceEvent {
    /// The push resource accepted a notification (once per request).
    Delivered {
        /// The request.
        id: RequestId,
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: StatusCode,
    },
    /// A notification failed; the error reply went to the user's server (once per
    /// notification, refused ones included).
    Failed {
        /// The request, if one was made.
        id: Option<RequestId>,
        /// The endpoint, when the notification named one.
        endpoint: Option<String>,
        /// The HTTP status, if one came.
        status: Option<StatusCode>,
        /// The error answered.
        error: StanzaError,
    },
}

#[derive(Debug)]
struct InFlight {
    /// The notification's `<message/>` head (for the error reply).
    head: Element,
    endpoint: String,
    deadline: (Monotonic, u64),
}

/// The push service's machine: notifications in, HTTP requests out, answers in, error
/// replies out.
///
/// Methods, by kind: getters [`config`](Self::config), [`in_flight`](Self::in_flight); input
/// [`handle_stanza`](Self::handle_stanza), [`handle_response`](Self::handle_response),
/// [`handle_failure`](Self::handle_failure), [`handle_timeout`](Self::handle_timeout);
/// output [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
/// [`poll_timeout`](Self::poll_timeout).
///
/// **After every `&mut` call, drain `poll_transmit` (make each request; write each stanza),
/// then `poll_event`; then re-arm the timer from `poll_timeout`.**
#[derive(Debug, Default)]
pub struct PushService {
    config: ServiceConfig,
    next: u64,
    in_flight: HashMap<RequestId, InFlight>,
    deadlines: BTreeMap<(Monotonic, u64), RequestId>,
    transmit: VecDeque<ServiceTransmit>,
    events: VecDeque<ServiceEvent>,
}

impl PushService {
    /// A push service with nothing in flight.
    #[must_use]
    pub fn new(config: ServiceConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Requests awaiting an answer.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Handles a stanza from the user's server: a `<message/>` (not of type `error`) with a
    /// `<notification xmlns='urn:xmpp:push2:0'/>` becomes a request; anything else is
    /// [`Incoming::NotOurs`].
    ///
    /// # Errors
    /// [`NotificationError`] when the notification was refused (its error reply is queued).
    pub fn handle_stanza(
        &mut self,
        now: Now,
        stanza: &Element,
    ) -> Result<Incoming, NotificationError> {
        if !xml::is_stanza(stanza, "message") || stanza.attr("type") == Some("error") {
            return Ok(Incoming::NotOurs);
        }
        let Some(child) = stanza.get_child("notification", ns::PUSH2) else {
            return Ok(Incoming::NotOurs);
        };
        let outcome = Notification::try_from(child)
            .map_err(NotificationError::from)
            .and_then(|n| {
                if self.in_flight.len() >= self.config.max_in_flight.max(1) {
                    return Err(NotificationError::Busy {
                        limit: self.config.max_in_flight.max(1),
                    });
                }
                let ttl = if n.voip || n.priority == Priority::High {
                    self.config.call_ttl
                } else {
                    self.config.ttl
                };
                Ok((web_push_request(&n, ttl)?, n.client))
            });
        match outcome {
            Ok((request, endpoint)) => {
                let id = RequestId(self.next);
                self.next += 1;
                let deadline = (now.monotonic() + self.config.request_timeout, id.0);
                self.deadlines.insert(deadline, id);
                self.in_flight.insert(
                    id,
                    InFlight {
                        head: head(stanza),
                        endpoint,
                        deadline,
                    },
                );
                self.transmit
                    .push_back(ServiceTransmit::Request { id, request });
                Ok(Incoming::Handled)
            }
            Err(error) => {
                let stanza_error = error.to_stanza_error();
                self.transmit
                    .push_back(ServiceTransmit::Stanza(Box::new(error_reply(
                        stanza,
                        stanza_error.clone(),
                    ))));
                let endpoint = Notification::try_from(child).ok().map(|n| n.client);
                self.events.push_back(ServiceEvent::Failed {
                    id: None,
                    endpoint,
                    status: None,
                    error: stanza_error,
                });
                Err(error)
            }
        }
    }

    /// Reports the HTTP status of request `id`: a success is reported, a failure answered
    /// ([`error_for_status`]). An unknown id (already answered, timed out) is
    /// [`Incoming::NotOurs`].
    pub fn handle_response(&mut self, _now: Now, id: RequestId, status: StatusCode) -> Incoming {
        let Some(request) = self.take(id) else {
            return Incoming::NotOurs;
        };
        match error_for_status(status) {
            None => self.events.push_back(ServiceEvent::Delivered {
                id,
                endpoint: request.endpoint,
                status,
            }),
            Some(error) => self.fail(id, request, Some(status), error),
        }
        Incoming::Handled
    }

    /// Reports that request `id` got no HTTP answer (connection refused, TLS failure, a
    /// timeout of the HTTP client): answered `wait` / `remote-server-timeout`, which the
    /// user's server retries.
    pub fn handle_failure(&mut self, _now: Now, id: RequestId, reason: &str) -> Incoming {
        let Some(request) = self.take(id) else {
            return Incoming::NotOurs;
        };
        let error = StanzaError::new(
            ErrorType::Wait,
            DefinedCondition::RemoteServerTimeout,
            "en",
            format!("the push resource could not be reached: {reason}"),
        );
        self.fail(id, request, None, error);
        Incoming::Handled
    }

    /// Handles the timer: requests unanswered for
    /// [`ServiceConfig::request_timeout`] fail as [`handle_failure`](Self::handle_failure)
    /// would. A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some((&(at, seq), &id)) = self.deadlines.first_key_value() {
            if at > now.monotonic() {
                break;
            }
            self.deadlines.remove(&(at, seq));
            let _ = self.handle_failure(now, id, "no answer in time");
        }
    }

    /// The next request to make or stanza to write.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<ServiceTransmit> {
        self.transmit.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        self.deadlines.first_key_value().map(|((at, _), _)| *at)
    }

    fn take(&mut self, id: RequestId) -> Option<InFlight> {
        let request = self.in_flight.remove(&id)?;
        self.deadlines.remove(&request.deadline);
        Some(request)
    }

    fn fail(
        &mut self,
        id: RequestId,
        request: InFlight,
        status: Option<StatusCode>,
        error: StanzaError,
    ) {
        self.transmit
            .push_back(ServiceTransmit::Stanza(Box::new(error_reply(
                &request.head,
                error.clone(),
            ))));
        self.events.push_back(ServiceEvent::Failed {
            id: Some(id),
            endpoint: Some(request.endpoint),
            status,
            error,
        });
    }
}

/// The attributes of `stanza` without its children: all an error reply needs.
fn head(stanza: &Element) -> Element {
    let mut out = Element::bare(stanza.name(), ns::JABBER_CLIENT);
    for name in ["from", "to", "id"] {
        if let Some(value) = stanza.attr(name) {
            let name = match name {
                "from" => xml_ncname!("from"),
                "to" => xml_ncname!("to"),
                _ => xml_ncname!("id"),
            };
            xml::set(&mut out, name, value);
        }
    }
    out
}
