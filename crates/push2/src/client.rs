//! The client's side: keys, the send profile that carries them, the Bind2 answer, and
//! opening a notification back into the message it was about.
//!
//! ```
//! use rand_core::SeedableRng;
//! use xmpp_push2::client::ClientKeys;
//! use xmpp_push2::{Enable, Match, MatchProfile, SendProfile};
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // an OS-seeded CSPRNG in real use
//! let keys = ClientKeys::generate(&mut rng)?;
//! let send = keys.send_profile(Some("https://push.example.com"))?;
//! let enable = Enable::new("push.example.com".parse()?, "https://push.example.com/wpush/1")
//!     .with_match(Match::new(MatchProfile::Important, SendProfile::WebPush(send)));
//! let iq = enable.to_iq("push-1"); // send it after binding; keep `keys` to open notifications
//! # assert_eq!(iq.attr("type"), Some("set"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use minidom::Element;
use rand_core::CryptoRng;
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_push2_crypto::error::KeyError;
use xmpp_push2_crypto::{Envelope, UaKeys, VapidKey};

use crate::elements::{Notification, WebPushSend};
use crate::error::OpenError;
use crate::ns;
use crate::xml;

/// What a client keeps to receive encrypted notifications: its RFC 8291 keys (the private
/// half never leaves it) and the VAPID key it hands the server to sign tokens with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientKeys {
    /// The user agent's key pair and auth secret.
    pub ua: UaKeys,
    /// The VAPID signing key given to the server in `<jwt-key/>`.
    pub vapid: VapidKey,
}

impl ClientKeys {
    /// Fresh keys from the caller's RNG.
    ///
    /// # Errors
    /// Only with a broken RNG.
    pub fn generate(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        Ok(Self {
            ua: UaKeys::generate(rng)?,
            vapid: VapidKey::generate(rng)?,
        })
    }

    /// The `sce+rfc8291+rfc8292` send profile for these keys, asking for ES256 tokens; with
    /// `aud`, a `<jwt-claim name='aud'/>` (the push service's origin; without one the server
    /// derives it from the endpoint).
    ///
    /// # Errors
    /// Only if the VAPID key cannot be exported (a backend failure).
    pub fn send_profile(&self, aud: Option<&str>) -> Result<WebPushSend, KeyError> {
        let send = WebPushSend::new(&self.ua).with_vapid(&self.vapid)?;
        Ok(match aud {
            Some(aud) => send.with_claim("aud", aud),
            None => send,
        })
    }
}

/// Opens a notification received over XMPP (a push service that relays the `<notification/>`
/// itself): decrypts its payload and parses the envelope; the forwarded message is
/// `envelope.forwarded.message`.
///
/// # Errors
/// [`OpenError::NoPayload`] for a notify-only notification, else as [`open_body`].
pub fn open(keys: &UaKeys, notification: &Notification) -> Result<Envelope, OpenError> {
    let body = notification.payload.as_ref().ok_or(OpenError::NoPayload)?;
    open_body(keys, body)
}

/// Opens a Web Push message body (what the device's push channel delivers).
///
/// # Errors
/// [`OpenError::Decrypt`] or [`OpenError::Envelope`].
pub fn open_body(keys: &UaKeys, body: &[u8]) -> Result<Envelope, OpenError> {
    let plaintext = xmpp_push2_crypto::decrypt(keys, body)?;
    Ok(Envelope::from_bytes(&plaintext)?)
}

/// The server's answer to an `<enable/>` the client put inside Bind2 `<bind/>`, found in the
/// `<bound/>` it got: `Some(Ok(()))` for `<enabled/>`, `Some(Err(error))` for `<failed/>`,
/// `None` when the server did not answer it (it does not inline Push 2.0: enable with an iq).
#[must_use]
pub fn bind2_answer(bound: &Element) -> Option<Result<(), StanzaError>> {
    if !bound.is("bound", ns::BIND2) {
        return None;
    }
    if bound.has_child("enabled", ns::PUSH2) {
        return Some(Ok(()));
    }
    let failed = bound.get_child("failed", ns::PUSH2)?;
    let mut error = Element::bare("error", ns::JABBER_CLIENT);
    xml::copy_attrs(failed, &mut error);
    for child in failed.children() {
        error.append_child(child.clone());
    }
    Some(Err(StanzaError::try_from(error).unwrap_or_else(|_| {
        StanzaError::new(
            xmpp_parsers::stanza_error::ErrorType::Cancel,
            xmpp_parsers::stanza_error::DefinedCondition::UndefinedCondition,
            "en",
            "the server's <failed/> did not parse",
        )
    })))
}
