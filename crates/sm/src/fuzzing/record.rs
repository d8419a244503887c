//! The record target: bytes as what a shared store or a state file gives back, a session
//! record or a whole store snapshot (JSON), read as a node reads one.
//!
//! A record that deserialises was validated on the way in; it must then write out the same,
//! be adopted or refused whole, and resume: each queued stanza is acknowledged or
//! retransmitted, once, and a checkpoint takes an `h` beyond it. A snapshot either restores or
//! is refused with a typed error. Nothing may panic.

#[cfg(feature = "serde")]
use std::time::{Duration, UNIX_EPOCH};

#[cfg(feature = "serde")]
use xmpp_tether_core::{Monotonic, Now};

#[cfg(feature = "serde")]
use super::input::Rng;
#[cfg(feature = "serde")]
use crate::config::ServerConfig;
#[cfg(feature = "serde")]
use crate::elements::Resume;
#[cfg(feature = "serde")]
use crate::event::ServerEvent;
#[cfg(feature = "serde")]
use crate::ns::Namespace;
#[cfg(feature = "serde")]
use crate::seq;
#[cfg(feature = "serde")]
use crate::session::HibernatedSession;
#[cfg(feature = "serde")]
use crate::store::{SessionStore, StoreSnapshot};

/// Reads `data` as a session record and as a store snapshot (without the `serde` feature
/// there is nothing to read).
pub fn record(data: &[u8]) {
    #[cfg(feature = "serde")]
    {
        if let Ok(session) = serde_json::from_slice::<HibernatedSession>(data) {
            check_session(&session, None);
            if let Some(beyond) = beyond(&session) {
                check_session(&session, Some(beyond));
            }
        }
        if let Ok(snapshot) = serde_json::from_slice::<StoreSnapshot>(data) {
            // Restored, or refused with a typed error: either way no panic.
            let _ = SessionStore::<()>::restore(config(), snapshot, now());
        }
    }
    #[cfg(not(feature = "serde"))]
    let _ = data;
}

/// A node that speaks every dialect, so that a record in any of them can be resumed.
#[cfg(feature = "serde")]
fn config() -> ServerConfig {
    ServerConfig {
        namespaces: Namespace::ALL.to_vec(),
        ..ServerConfig::default()
    }
}

/// A fixed time: records name their own deadlines, before or after it.
#[cfg(feature = "serde")]
fn now() -> Now {
    Now::new(
        Monotonic::ZERO,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// For a checkpoint: an `h` past every stanza it knows were written.
#[cfg(feature = "serde")]
fn beyond(session: &HibernatedSession) -> Option<u32> {
    session
        .checkpointed
        .map(|_| session.counters.sent.wrapping_add(3))
}

/// Round trip, adoption, and a resumption with `h` (the stanzas written so far, by default).
#[cfg(feature = "serde")]
fn check_session(session: &HibernatedSession, h: Option<u32>) {
    let json = serde_json::to_string(session);
    assert!(
        json.is_ok(),
        "a record that reads back writes out: {json:?}"
    );
    let again = json
        .ok()
        .and_then(|j| serde_json::from_str::<HibernatedSession>(&j).ok());
    assert_eq!(again.as_ref(), Some(session), "and reads back the same");

    let store = SessionStore::<()>::new(config());
    let queued = session.unacked();
    let c = &session.counters;
    let h = h.unwrap_or(c.sent);
    // What `h` acknowledges: up to it, or, beyond the stanzas written, all of those (a
    // checkpoint; a hibernated record refuses such an `h` instead).
    let acked_by_h = match seq::classify_ack(c.acked, c.sent, h) {
        seq::AckPosition::New(n) => n as usize,
        _ => seq::distance(c.acked, c.sent) as usize,
    };
    let (id, owner, ns) = (
        session.id.clone(),
        session.owner.clone(),
        session.namespace(),
    );
    if let Err(refused) = store.adopt(now(), session.clone()) {
        assert_eq!(
            refused.into_inner().into_unacked().len(),
            queued,
            "refused whole"
        );
        return;
    }
    if store.hibernated_count() == 0 {
        return; // expired or evicted at once: handed back through the store's events
    }
    let mut stream = store.stream(owner, (), &mut Rng(0));
    let resumed = stream.handle_element(now(), Resume::new(ns, id, Some(h)).into());
    assert!(resumed.is_ok(), "a resumable record resumes: {resumed:?}");
    let mut acked = 0;
    let mut retransmitted = None;
    while let Some(event) = stream.poll_event() {
        match event {
            ServerEvent::Acked { stanzas, .. } => acked += stanzas.len(),
            ServerEvent::Resumed {
                retransmitted: n, ..
            } => retransmitted = Some(n),
            ServerEvent::ResumedFromCheckpoint { .. } => {
                assert!(
                    session.checkpointed.is_some(),
                    "only a checkpoint reports a gap"
                );
            }
            ServerEvent::HandedBack { .. } | ServerEvent::ResumeRefused { .. } => return,
            other => panic!("unexpected on a resumption: {other:?}"),
        }
    }
    let retransmitted = retransmitted.unwrap_or(usize::MAX);
    assert_eq!(acked + retransmitted, queued, "each queued stanza once");
    assert_eq!(acked, acked_by_h.min(queued), "what h acknowledges");
    assert_eq!(stream.unacked(), retransmitted);
    // Hibernated again, the session is a record whose counters agree with its queue.
    let id = stream.id().cloned();
    stream.handle_disconnect(now());
    let again = id.and_then(|id| store.release(now(), &id));
    if let Some(again) = again {
        let checked = again.validate(config().record_limits());
        assert!(checked.is_ok(), "resumed, then hibernated: {checked:?}");
        assert_eq!(again.unacked(), retransmitted);
    }
}
