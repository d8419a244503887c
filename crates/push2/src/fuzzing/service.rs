//! The push service target.

use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use http::StatusCode;
use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

use crate::service::{PushService, ServiceConfig, ServiceTransmit};

#[derive(Debug, Arbitrary)]
enum Op {
    Notification {
        client: u8,
        priority: u8,
        payload: Option<Vec<u8>>,
        voip: bool,
    },
    Raw(String),
    Answer(u16, u16),
    Fail(u16),
    Advance(u16),
}

const CLIENTS: [&str; 4] = [
    "https://push.example/wpush/v2/x",
    "http://127.0.0.1:8080/p",
    "not a url",
    "mailto:a@b",
];

/// Replays stanzas and answers; every notification is answered exactly once.
pub fn service(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let config = ServiceConfig {
        max_in_flight: 4,
        ..ServiceConfig::default()
    };
    let mut service = PushService::new(config);
    let mut now = Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30),
    );
    let mut requests = Vec::new();
    let (mut notifications, mut answers) = (0u64, 0u64);
    for _ in 0..128 {
        // `arbitrary` pads exhausted input with zeros: stop instead of replaying the
        // padding's operation up to the limit (every input cost the full limit).
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        match op {
            Op::Notification {
                client,
                priority,
                payload,
                voip,
            } => {
                let priorities = ["high", "normal", "low", "urgent"];
                let mut xml = format!(
                    "<message xmlns='jabber:component:accept' from='capulet.example' to='push.example' id='n{notifications}'>\
                     <notification xmlns='urn:xmpp:push2:0'><client>{}</client><priority>{}</priority>",
                    CLIENTS[usize::from(client) % CLIENTS.len()],
                    priorities[usize::from(priority) % priorities.len()],
                );
                if voip {
                    xml.push_str("<voip/>");
                }
                if let Some(p) = payload {
                    xml.push_str("<encrypted xmlns='urn:xmpp:sce:rfc8291:0'><payload>");
                    xml.push_str(&xmpp_push2_crypto::hazmat::b64::encode_std(&p));
                    xml.push_str("</payload></encrypted>");
                }
                xml.push_str("</notification></message>");
                let Ok(el) = xml.parse::<Element>() else {
                    continue;
                };
                notifications += 1;
                let _ = service.handle_stanza(now, &el);
            }
            Op::Raw(text) => {
                if let Ok(el) = text.parse::<Element>() {
                    let is_ours = service.handle_stanza(now, &el);
                    if matches!(is_ours, Ok(crate::Incoming::Handled) | Err(_)) {
                        notifications += 1;
                    }
                }
            }
            Op::Answer(i, status) => {
                if let (Some(&id), Ok(status)) = (
                    requests.get(usize::from(i) % requests.len().max(1)),
                    StatusCode::from_u16(100 + status % 500),
                ) {
                    let _ = service.handle_response(now, id, status);
                }
            }
            Op::Fail(i) => {
                if let Some(&id) = requests.get(usize::from(i) % requests.len().max(1)) {
                    let _ = service.handle_failure(now, id, "fuzz");
                }
            }
            Op::Advance(ms) => {
                now = now.advance(Duration::from_millis(u64::from(ms) * 20));
                service.handle_timeout(now);
            }
        }
        while let Some(t) = service.poll_transmit() {
            if let ServiceTransmit::Request { id, request } = t {
                assert_eq!(request.method(), http::Method::POST);
                requests.push(id);
            }
        }
        while let Some(event) = service.poll_event() {
            let _ = event;
            answers += 1;
        }
        assert!(service.in_flight() <= 4);
        // Every notification was refused, delivered, failed or is in flight.
        assert_eq!(notifications, answers + service.in_flight() as u64);
    }
}
