//! Push 2.0 (`urn:xmpp:push2:0`), played out in memory.
//!
//! Juliet's phone registers with capulet.example for encrypted pushes, then its session
//! hibernates. Romeo writes; the server decides the phone should hear of it, wraps the
//! message in an envelope, encrypts it for the phone and signs a VAPID token with the phone's
//! key; the push service turns the notification into a Web Push request, and the phone,
//! woken, decrypts the message itself. Then the push resource is busy: a `wait` error comes
//! back, and the server retries after a back-off. Time is virtual; the push resource is a
//! function here.

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_tether::minidom::Element;
use xmpp_tether::push2::client::{self, ClientKeys};
use xmpp_tether::push2::service::StatusCode;
use xmpp_tether::push2::{
    Device, Enable, Event, Match, MatchProfile, Monotonic, Now, PushService, Registry,
    RegistryConfig, Routed, SendProfile, ServiceConfig, ServiceTransmit, SessionState,
    SessionStatus, Transmit,
};

use crate::story::{Result, message, say, scene, summary};

/// The virtual clock starts at 2023-11-14 22:13:20 UTC, as in the other scenes.
const START: Duration = Duration::from_secs(1_700_000_000);
const PHONE: &str = "juliet@capulet.example/phone";
const ENDPOINT: &str = "https://push.example/wpush/v2/gAAAAABlU3";

struct World {
    now: Now,
    rng: ChaCha20Rng,
    server: Registry,
    push: PushService,
    keys: ClientKeys,
    phone: Device,
}

/// The Push 2.0 scenes, in order.
pub(crate) fn run() -> Result {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut w = World {
        now: Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + START),
        server: Registry::new(RegistryConfig::default(), &mut rng),
        push: PushService::new(ServiceConfig::default()),
        keys: ClientKeys::generate(&mut rng)?,
        phone: Device::new(PHONE.parse()?),
        rng,
    };
    register(&mut w)?;
    romeo_writes(&mut w)?;
    busy(&mut w)
}

fn register(w: &mut World) -> Result {
    scene("Push 2.0: Juliet's phone registers");
    say(
        "The phone makes its keys: an RFC 8291 key pair and auth secret, whose private half \
         never leaves it, and a VAPID key the server will sign tokens with. It asks to hear of \
         important stanzas, encrypted, once its session is bound:",
    );
    let send = w.keys.send_profile(None)?;
    let enable = Enable::new("push.example".parse()?, ENDPOINT).with_match(Match::new(
        MatchProfile::Important,
        SendProfile::WebPush(send),
    ));
    let iq = enable.to_iq("push-1");
    println!("  phone ---> server   {}", redact(&iq));
    let _ = w.server.handle_iq(w.now, &w.phone, &iq)?;
    drain(w)?;
    Ok(())
}

fn romeo_writes(w: &mut World) -> Result {
    scene("Push 2.0: the phone sleeps, Romeo writes");
    say(
        "The phone's session hibernates (stream management keeps it for the phone to resume). \
         A message from Romeo is archived and queued for it; the server hands it to the \
         registry with what only the server knows: the phone's session is hibernated, and the \
         MAM id of the message.",
    );
    let msg = message(
        Some("romeo@montague.example/orchard"),
        "juliet@capulet.example",
        "Wherefore art thou?",
    )?;
    notify(w, &msg, "mam-1")?;
    say(
        "The notification leaves for push.example: the message, forwarded in a XEP-0420 \
         envelope padded to 2847 octets (so its size says nothing), encrypted for the phone, \
         with a VAPID token the push service passes on.",
    );
    deliver(w, |_| StatusCode::CREATED)?;
    Ok(())
}

fn busy(w: &mut World) -> Result {
    scene("Push 2.0: the push resource is busy");
    say("Romeo writes again; this time the push resource answers 503, Service Unavailable.");
    let msg = message(
        Some("romeo@montague.example/orchard"),
        "juliet@capulet.example",
        "Juliet?",
    )?;
    notify(w, &msg, "mam-2")?;
    deliver(w, |_| StatusCode::SERVICE_UNAVAILABLE)?;
    let at = w.server.poll_timeout().ok_or("no retry timer")?;
    let delay = at - w.now.monotonic();
    w.now = w.now.advance(delay);
    say(&format!(
        "The virtual clock jumps to the retry, {:.1} s later, and the server sends the same \
         notification again under a new id; this time the push resource takes it.",
        delay.as_secs_f64()
    ));
    w.server.handle_timeout(w.now);
    deliver(w, |_| StatusCode::CREATED)?;
    w.now = w.now.advance(Duration::from_secs(60));
    w.server.handle_timeout(w.now);
    say(
        "No error came back within the outcome window for either message: the server counts \
         both delivered.",
    );
    drain(w)
}

fn notify(w: &mut World, msg: &Element, mam: &str) -> Result {
    let juliet = w.phone.jid.to_bare();
    let sessions = [SessionState::new(w.phone.key(), SessionStatus::Hibernated)];
    let routed = Routed::new(&juliet, msg)
        .with_archive_id(mam)
        .with_sessions(&sessions);
    println!("  Romeo ---> server   {}", summary(msg));
    let sent = w.server.handle_routed(w.now, &mut w.rng, &routed);
    say(&format!("  [server] {sent} registration selected"));
    Ok(())
}

/// Moves what the server sends to the push service, what the push service asks of the push
/// resource (answered by `resource`), and the push service's answers back to the server.
fn deliver(w: &mut World, resource: impl Fn(&str) -> StatusCode) -> Result {
    while let Some(t) = w.server.poll_transmit() {
        let element = t.into_element();
        println!("  server ---> push    {}", redact(&element));
        let _ = w.push.handle_stanza(w.now, &element)?;
        while let Some(out) = w.push.poll_transmit() {
            match out {
                ServiceTransmit::Request { id, request } => {
                    let auth = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    println!(
                        "  push ---> resource  POST {} (Urgency: {}, TTL: {}, {} octets, {}...)",
                        request.uri(),
                        header(&request, "urgency"),
                        header(&request, "ttl"),
                        request.body().len(),
                        auth.get(..20).unwrap_or(auth),
                    );
                    let status = resource(&request.uri().to_string());
                    println!("  push <--- resource  {status}");
                    if status.is_success() {
                        let envelope = client::open_body(&w.keys.ua, request.body())?;
                        let m = &envelope.forwarded.message;
                        say(&format!(
                            "  [phone] woken by its push channel, decrypts: a message from {}: {:?}",
                            m.from.as_ref().map(ToString::to_string).unwrap_or_default(),
                            m.bodies.get("").map(String::as_str).unwrap_or_default(),
                        ));
                    }
                    let _ = w.push.handle_response(w.now, id, status);
                }
                ServiceTransmit::Stanza(reply) => {
                    println!("  push ---> server    {}", String::from(&*reply));
                    let _ = w.server.handle_stanza(w.now, &mut w.rng, &reply);
                }
                _ => {}
            }
        }
        while w.push.poll_event().is_some() {}
    }
    drain(w)
}

fn header<'a>(request: &'a xmpp_tether::push2::service::Request<Vec<u8>>, name: &str) -> &'a str {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// The server's replies and events, narrated.
fn drain(w: &mut World) -> Result {
    while let Some(t) = w.server.poll_transmit() {
        if let Transmit::Reply { element, .. } = t {
            println!("  server ---> phone   {}", String::from(&*element));
        }
    }
    while let Some(event) = w.server.poll_event() {
        match event {
            Event::Enabled { key, service, .. } => {
                say(&format!(
                    "  [server] registered {key} for pushes through {service}"
                ));
            }
            Event::Retrying {
                error,
                attempt,
                delay,
                ..
            } => say(&format!(
                "  [server] send {attempt} failed with a {} error ({:?}): retrying in {:.1} s \
                 (exponential back-off with jitter from the server's RNG)",
                error.type_,
                error.defined_condition,
                delay.as_secs_f64()
            )),
            Event::Delivered { attempts, .. } => {
                say(&format!("  [server] delivered, after {attempts} send(s)"));
            }
            Event::Changed { .. } => say("  [server] the account's record changed: persist it"),
            other => say(&format!("  [server] {other:?}")),
        }
    }
    Ok(())
}

/// The element's XML with long text (keys, payloads, tokens) shortened for the page.
fn redact(element: &Element) -> String {
    let mut out = String::new();
    let xml = String::from(element);
    let mut rest = xml.as_str();
    while let Some(start) = rest.find('>') {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        let end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..end];
        if text.chars().count() > 40 {
            let head: String = text.chars().take(12).collect();
            out.push_str(&format!("{head}...({} chars)", text.chars().count()));
        } else {
            out.push_str(text);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
