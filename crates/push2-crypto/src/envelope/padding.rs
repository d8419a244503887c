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

impl Envelope {
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
        let limit = padding.limit;
        let unpadded = || -> Result<Vec<u8>, EnvelopeWriteError> {
            let bytes = write(&self.element(None))?;
            if bytes.len() > limit {
                return Err(EnvelopeWriteError::DoesNotFit {
                    len: bytes.len(),
                    limit,
                });
            }
            Ok(bytes)
        };
        if padding.length == Length::None {
            return unpadded();
        }
        // Measure with a one-character rpad: with `n` characters the envelope is exactly
        // `measured - 1 + n` octets long (RPAD_ALPHABET needs no escaping).
        let measured = write(&self.element(Some("A".into())))?.len();
        let room = limit.saturating_add(1).saturating_sub(measured);
        let n = padding.draw(rng, room);
        if n == 0 {
            return unpadded();
        }
        let mut random = vec![0u8; n];
        rng.fill_bytes(&mut random);
        let rpad = random
            .iter()
            .map(|b| char::from(RPAD_ALPHABET[usize::from(b & 63)]))
            .collect();
        let bytes = write(&self.element(Some(rpad)))?;
        // Exactly `measured - 1 + n <= limit` octets (the tests check it); should a writer
        // ever disagree, the bound still holds.
        if bytes.len() > limit {
            return unpadded();
        }
        Ok(bytes)
    }
}
