//! Shared test plumbing: clocks, RNGs, devices, keys, and draining a registry.

#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use jid::BareJid;
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_push2::client::ClientKeys;
use xmpp_push2::{
    Device, Enable, Event, Match, MatchProfile, Monotonic, Now, OutgoingNotification, Registry,
    RegistryConfig, SendProfile, Transmit,
};

pub const T0: u64 = 1_800_000_000;

pub fn t0() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(100)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
    )
}

pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

pub fn juliet() -> BareJid {
    "juliet@capulet.example".parse().unwrap()
}

pub fn device(resource: &str) -> Device {
    Device::new(
        format!("juliet@capulet.example/{resource}")
            .parse()
            .unwrap(),
    )
}

/// Two sets of client keys, made once (key generation is slow in debug builds).
pub fn keys(i: usize) -> &'static ClientKeys {
    static KEYS: OnceLock<Vec<ClientKeys>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        (0..2)
            .map(|_| ClientKeys::generate(&mut rng).unwrap())
            .collect()
    })[i]
}

pub fn endpoint(i: usize) -> String {
    format!("https://push.example/wpush/v2/{i}")
}

pub fn notify_only(profile: MatchProfile) -> Enable {
    Enable::new("push.example".parse().unwrap(), endpoint(0))
        .with_match(Match::new(profile, SendProfile::NotifyOnly))
}

pub fn encrypted(profile: MatchProfile, key: usize) -> Enable {
    let send = keys(key).send_profile(None).unwrap();
    Enable::new("push.example".parse().unwrap(), endpoint(key))
        .with_match(Match::new(profile, SendProfile::WebPush(send)))
}

pub fn message(body: &str) -> Element {
    format!(
        "<message xmlns='jabber:client' type='chat' id='m1' from='romeo@montague.example/garden' \
         to='juliet@capulet.example'><body>{body}</body></message>"
    )
    .parse()
    .unwrap()
}

pub fn stanza(xml: &str) -> Element {
    xml.parse().unwrap()
}

/// What one drain of a registry produced.
#[derive(Debug, Default)]
pub struct Drained {
    pub replies: Vec<Element>,
    pub bind2: Vec<Element>,
    pub notifications: Vec<OutgoingNotification>,
    pub events: Vec<Event>,
}

pub fn drain<P: xmpp_push2::CustomProfiles>(registry: &mut Registry<P>) -> Drained {
    let mut d = Drained::default();
    while let Some(t) = registry.poll_transmit() {
        match t {
            Transmit::Reply { element, .. } => d.replies.push(*element),
            Transmit::Bind2 { element, .. } => d.bind2.push(*element),
            Transmit::Notification(n) => d.notifications.push(n),
            other => panic!("unexpected {other:?}"),
        }
    }
    while let Some(e) = registry.poll_event() {
        d.events.push(e);
    }
    d
}

/// A registry with `enables` registered by devices `r0`, `r1`, ... (drained).
pub fn registry_with(config: RegistryConfig, enables: Vec<Enable>) -> Registry {
    let mut rng = rng();
    let mut registry = Registry::new(config, &mut rng);
    for (i, enable) in enables.into_iter().enumerate() {
        registry
            .enable(t0(), &device(&format!("r{i}")), enable)
            .unwrap();
    }
    let _ = drain(&mut registry);
    registry
}
