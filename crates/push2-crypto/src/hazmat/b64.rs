//! Base64 as the push2 fields need it.
//!
//! Decoding is lenient, because the fields arrive from several worlds: XMPP fields use standard
//! padded base64 (XEP-0420 / the push2 seed), browsers hand out subscription keys as unpadded
//! base64url (RFC 8291 section 3.2, the W3C Push API), and operators paste PEM bodies with line
//! breaks. [`decode`] accepts either alphabet, padded or not, and ignores ASCII whitespace.
//! Encoding is strict: [`encode_std`] (standard, padded) for XMPP fields, [`encode_url`]
//! (base64url, unpadded) for JWTs and the `vapid` header (RFC 7515 section 2, RFC 8292).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use zeroize::Zeroizing;

use crate::error::Base64Error;

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes standard or URL-safe base64, padded or not, ignoring ASCII whitespace.
///
/// # Errors
/// [`Base64Error::MixedAlphabets`] when `+`/`/` and `-`/`_` both occur, otherwise
/// [`Base64Error::Invalid`] for anything that is not base64.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = text.as_bytes();
    // The text may encode a secret (a PEM body, an auth secret): the copy is wiped on drop.
    let stripped: Zeroizing<Vec<u8>>;
    let input = if bytes.iter().any(u8::is_ascii_whitespace) {
        stripped = Zeroizing::new(
            bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        );
        &stripped[..]
    } else {
        bytes
    };
    let standard = input.iter().any(|&b| b == b'+' || b == b'/');
    let url = input.iter().any(|&b| b == b'-' || b == b'_');
    let engine = match (standard, url) {
        (true, true) => return Err(Base64Error::MixedAlphabets),
        (true, false) => &STANDARD_LENIENT,
        (false, _) => &URL_SAFE_LENIENT,
    };
    engine.decode(input).map_err(|_| Base64Error::Invalid)
}

/// Decodes like [`decode`] into exactly `N` octets; `field` names the field in the error.
///
/// # Errors
/// As [`decode`], plus [`Base64Error::WrongLength`].
pub fn decode_array<const N: usize>(
    text: &str,
    field: &'static str,
) -> Result<[u8; N], Base64Error> {
    // Wiped on drop: the field may be a secret (the auth secret), and the array is a copy.
    let bytes = Zeroizing::new(decode(text)?);
    let found = bytes.len();
    let mut out = [0; N];
    if found != N {
        return Err(Base64Error::WrongLength {
            field,
            expected: N,
            found,
        });
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Standard alphabet with padding: what XMPP fields carry.
#[must_use]
pub fn encode_std(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

/// URL-safe alphabet without padding: JWT parts and the `vapid` header's `k`.
#[must_use]
pub fn encode_url(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends URL-safe unpadded base64 of `bytes` to `out` (no intermediate allocation).
pub(crate) fn encode_url_into(bytes: &[u8], out: &mut String) {
    general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes URL-safe unpadded base64 strictly (JWT parts, RFC 7515 section 2).
pub(crate) fn decode_url_strict(text: &str) -> Result<Vec<u8>, Base64Error> {
    general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Base64Error::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_spellings_decode_alike() {
        // 0xfb 0xff 0xfe exercises both alphabet-specific characters.
        let want = vec![0xfb, 0xff, 0xfe, 0x01];
        for text in ["+//+AQ==", "+//+AQ", "-__-AQ==", "-__-AQ"] {
            assert_eq!(decode(text), Ok(want.clone()), "{text}");
        }
    }

    #[test]
    fn whitespace_is_ignored() {
        assert_eq!(decode(" AQID\r\nBA==\n"), Ok(vec![1, 2, 3, 4]));
    }

    #[test]
    fn mixed_alphabets_and_junk_are_rejected() {
        assert_eq!(decode("+_AA"), Err(Base64Error::MixedAlphabets));
        assert_eq!(decode("AQ*D"), Err(Base64Error::Invalid));
        assert_eq!(decode("A"), Err(Base64Error::Invalid));
        assert_eq!(decode("AQ=A"), Err(Base64Error::Invalid));
    }

    #[test]
    fn wrong_length_names_the_field() {
        assert_eq!(
            decode_array::<16>("AQID", "auth-secret"),
            Err(Base64Error::WrongLength {
                field: "auth-secret",
                expected: 16,
                found: 3
            })
        );
    }

    #[test]
    fn encoders_emit_what_each_peer_expects() {
        assert_eq!(encode_std(&[0xfb, 0xff]), "+/8=");
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode_url_strict("-_8"), Ok(vec![0xfb, 0xff]));
        assert_eq!(decode_url_strict("-_8="), Err(Base64Error::Invalid));
    }
}
