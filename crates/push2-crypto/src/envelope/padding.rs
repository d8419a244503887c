//! `<rpad/>` chosen within the bound the envelope will be encrypted under.

use rand_core::CryptoRng;

use super::{Envelope, MAX_RPAD_LEN, write};
use crate::error::EnvelopeWriteError;
use crate::webpush::MAX_PLAINTEXT_LEN;

/// The characters rpad is drawn from (base64url's alphabet): one octet each, none needing an
/// escape in XML, so `n` of them add exactly `n` octets.
const RPAD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// How [`Envelope::to_padded_bytes`] pads (XEP-0420 section 3.1), and the bound the padded
/// envelope must fit.
///
/// The bound is RFC 8291's [`MAX_PLAINTEXT_LEN`] (3993 octets, what one Web Push message
/// carries) unless [`Padding::within`] sets a smaller one, for a push service that accepts
/// less. Padding never takes an envelope past the bound: the length is chosen after the rest
/// of the envelope is measured, and an `<rpad/>` is left out when not even one character of it
/// fits. No `<rpad/>` is longer than [`MAX_RPAD_LEN`].
///
/// ```
/// use xmpp_push2_crypto::Padding;
/// use xmpp_push2_crypto::webpush::MAX_PLAINTEXT_LEN;
///
/// assert_eq!(Padding::fill().limit(), MAX_PLAINTEXT_LEN);
/// assert_eq!(Padding::random_up_to_fit().within(2048).limit(), 2048);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    length: Length,
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    None,
    Random { max: usize },
    Fill,
}

impl Padding {
    /// No `<rpad/>`; the envelope must still fit the bound.
    pub const NONE: Self = Self::new(Length::None);

    /// A random length, uniform over `0..=max`, and never more than fits: when less than
    /// `max` fits, uniform over what does.
    #[must_use]
    pub const fn random(max: usize) -> Self {
        Self::new(Length::Random { max })
    }

    /// A random length, uniform over everything that fits ("pad up to what fits", at random).
    #[must_use]
    pub const fn random_up_to_fit() -> Self {
        Self::random(usize::MAX)
    }

    /// Exactly what fits: every envelope comes out at the bound (or one `<rpad/>` of
    /// [`MAX_RPAD_LEN`] short of it, for bounds beyond a Web Push message), so notifications
    /// cannot be told apart by length. The choice that hides the most, at the cost of sending
    /// full-size messages.
    #[must_use]
    pub const fn fill() -> Self {
        Self::new(Length::Fill)
    }

    /// The same padding within a bound of `limit` octets instead of RFC 8291's 3993 (a push
    /// service may accept less; the push2 seed allows for it).
    #[must_use]
    pub const fn within(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The bound, in octets of serialised envelope.
    #[must_use]
    pub const fn limit(self) -> usize {
        self.limit
    }

    const fn new(length: Length) -> Self {
        Self {
            length,
            limit: MAX_PLAINTEXT_LEN,
        }
    }

    /// How many rpad characters to write when up to `room` fit.
    fn draw(self, rng: &mut impl CryptoRng, room: usize) -> usize {
        let room = room.min(MAX_RPAD_LEN);
        match self.length {
            Length::None => 0,
            Length::Fill => room,
            Length::Random { max } => {
                let max = max.min(room);
                let span = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
                // The modulo bias is below max / 2^64: negligible for padding lengths.
                usize::try_from(rng.next_u64() % span).unwrap_or(max)
            }
        }
    }
}

/// An envelope serialised once without `<rpad/>` ([`Envelope::to_unpadded`]), which can then be
/// padded any number of times ([`EnvelopeBytes::to_padded_bytes`]) without serialising the
/// envelope again: a server sending one stanza to several registrations writes its envelope
/// once and pads it per registration.
///
/// The padded octets are exactly what [`Envelope::to_padded_bytes`] writes for the same
/// `<rpad/>`: the `<rpad>...</rpad>` element is spliced in where the writer puts it, right
/// after `</content>` (rpad characters need no escaping, and the envelope's own elements
/// after `<content/>` hold no `</content>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeBytes {
    bytes: Vec<u8>,
    /// Where `<rpad/>` goes: just after the envelope's `</content>`.
    rpad_at: usize,
}

const RPAD_OPEN: &[u8] = b"<rpad>";
const RPAD_CLOSE: &[u8] = b"</rpad>";
const CONTENT_CLOSE: &[u8] = b"</content>";

impl EnvelopeBytes {
    fn new(bytes: Vec<u8>) -> Self {
        // The envelope's `</content>` is the last one: text is escaped (`&lt;`), and only
        // attribute-only affixes follow it. Without one (no writer produces that), rpad goes
        // before the root's end tag, still inside the envelope.
        let rpad_at = bytes
            .windows(CONTENT_CLOSE.len())
            .rposition(|w| w == CONTENT_CLOSE)
            .map_or_else(
                || {
                    bytes
                        .iter()
                        .rposition(|&b| b == b'<')
                        .unwrap_or(bytes.len())
                },
                |at| at + CONTENT_CLOSE.len(),
            );
        Self { bytes, rpad_at }
    }

    /// The serialised envelope, without `<rpad/>`.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its length in octets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty (never, for a written envelope).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The octets with an `<rpad/>` chosen by `padding` within its bound, as
    /// [`Envelope::to_padded_bytes`] (whose output it equals for the same draw from `rng`).
    ///
    /// # Errors
    /// [`EnvelopeWriteError::DoesNotFit`] when the envelope exceeds the bound even without
    /// padding.
    pub fn to_padded_bytes(
        &self,
        rng: &mut impl CryptoRng,
        padding: Padding,
    ) -> Result<Vec<u8>, EnvelopeWriteError> {
        let limit = padding.limit;
        let len = self.bytes.len();
        if len > limit {
            return Err(EnvelopeWriteError::DoesNotFit { len, limit });
        }
        if padding.length == Length::None {
            return Ok(self.bytes.clone());
        }
        // With `n` characters the envelope is exactly `len + 13 + n` octets long.
        let tags = RPAD_OPEN.len() + RPAD_CLOSE.len();
        let room = limit.saturating_sub(len.saturating_add(tags));
        let n = padding.draw(rng, room);
        if n == 0 {
            return Ok(self.bytes.clone());
        }
        let mut out = Vec::with_capacity(len + tags + n);
        out.extend_from_slice(&self.bytes[..self.rpad_at]);
        out.extend_from_slice(RPAD_OPEN);
        let start = out.len();
        out.resize(start + n, 0);
        rng.fill_bytes(&mut out[start..]);
        for b in &mut out[start..] {
            *b = RPAD_ALPHABET[usize::from(*b & 63)];
        }
        out.extend_from_slice(RPAD_CLOSE);
        out.extend_from_slice(&self.bytes[self.rpad_at..]);
        Ok(out)
    }
}

impl Envelope {
    /// Serialises without `<rpad/>` (any [`Envelope::rpad`] set is left out), once, for
    /// padding later: [`EnvelopeBytes::to_padded_bytes`].
    ///
    /// # Errors
    /// As [`Envelope::to_bytes`].
    pub fn to_unpadded(&self) -> Result<EnvelopeBytes, EnvelopeWriteError> {
        Ok(EnvelopeBytes::new(write(&self.element(None))?))
    }

    /// Serialises with an `<rpad/>` chosen by `padding` within its bound: the octets to hand
    /// to [`crate::encrypt`], which they always fit under the default bound. Any
    /// [`Envelope::rpad`] already set is replaced.
    ///
    /// ```
    /// # use xmpp_parsers::{forwarding::Forwarded, message::Message};
    /// use xmpp_push2_crypto::{Envelope, Padding};
    ///
    /// let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
    /// let envelope = Envelope::new(Forwarded { delay: None, message: Message::new(None) });
    /// let full = envelope.to_padded_bytes(&mut rng, Padding::fill())?;
    /// assert_eq!(full.len(), xmpp_push2_crypto::webpush::MAX_PLAINTEXT_LEN);
    /// let short = envelope.to_padded_bytes(&mut rng, Padding::random(100))?;
    /// assert!(short.len() <= envelope.to_bytes()?.len() + "<rpad></rpad>".len() + 100);
    /// # Ok::<(), xmpp_push2_crypto::error::EnvelopeWriteError>(())
    /// ```
    ///
    /// # Errors
    /// [`EnvelopeWriteError::DoesNotFit`] when the envelope exceeds the bound even without
    /// padding; otherwise as [`Envelope::to_bytes`].
    pub fn to_padded_bytes(
        &self,
        rng: &mut impl CryptoRng,
        padding: Padding,
    ) -> Result<Vec<u8>, EnvelopeWriteError> {
        self.to_unpadded()?.to_padded_bytes(rng, padding)
    }
}
