//! The `Authorization: vapid t=<token>, k=<key>` value (RFC 8292 section 3).

use crate::error::JwtError;
use crate::keys::EcPublicKey;

/// Splits an `Authorization` value `vapid t=<token>, k=<key>` (RFC 8292 section 3; scheme
/// case-insensitive, parameters in any order, unknown ones ignored).
///
/// Parameters are RFC 7235 section 2.1 `auth-param`s, so a value may be a token or a
/// `quoted-string`: `t="eyJ..."` is read like `t=eyJ...`. The `t` and `k` values are base64url
/// and never need a `quoted-pair`; one in them (`\x`) is refused rather than unescaped, as
/// the token is returned as a slice of `value`. Unknown parameters may hold any quoted-string.
///
/// # Errors
/// [`JwtError::MalformedAuthorization`], or [`JwtError::Key`] for a bad `k`.
pub fn parse_authorization(value: &str) -> Result<(&str, EcPublicKey), JwtError> {
    let value = value.trim();
    let (scheme, params) = value
        .split_once(char::is_whitespace)
        .ok_or(JwtError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(JwtError::MalformedAuthorization);
    }
    let (mut token, mut key) = (None, None);
    let mut rest = params;
    loop {
        // #auth-param: elements separated by commas and optional whitespace, empty ones allowed
        // (RFC 7230 section 7).
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let (name, after_name) = rest
            .split_once('=')
            .ok_or(JwtError::MalformedAuthorization)?;
        let name = name.trim();
        let after_name = after_name.trim_start_matches([' ', '\t']);
        let (val, quoted_pair, after_value) = split_param_value(after_name)?;
        rest = after_value.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return Err(JwtError::MalformedAuthorization);
        }
        let slot = match name {
            n if n.eq_ignore_ascii_case("t") => &mut token,
            n if n.eq_ignore_ascii_case("k") => &mut key,
            n if n.is_empty() || n.contains(char::is_whitespace) => {
                return Err(JwtError::MalformedAuthorization);
            }
            _ => continue,
        };
        if quoted_pair || slot.replace(val).is_some() {
            return Err(JwtError::MalformedAuthorization);
        }
    }
    let (Some(token), Some(key)) = (token, key) else {
        return Err(JwtError::MalformedAuthorization);
    };
    let key = EcPublicKey::from_base64(key).map_err(JwtError::Key)?;
    Ok((token, key))
}

/// Splits an `auth-param` value off the front of `text`: a `quoted-string` (without its quotes;
/// the flag says whether it held a `quoted-pair`) or a token up to the next comma or
/// whitespace. Returns the value, the flag and what follows.
fn split_param_value(text: &str) -> Result<(&str, bool, &str), JwtError> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(text.len());
        let (val, after) = text.split_at(end);
        if val.is_empty() || val.contains('"') {
            return Err(JwtError::MalformedAuthorization);
        }
        return Ok((val, false, after));
    };
    let mut escaped = false;
    let mut had_pair = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => (escaped, had_pair) = (true, true),
            // `i` is the closing quote's offset in `quoted`, whose first octet follows the
            // opening quote: both slices are on character boundaries.
            '"' => return Ok((&quoted[..i], had_pair, &quoted[i + 1..])),
            _ => {}
        }
    }
    Err(JwtError::MalformedAuthorization)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KeyError;

    #[test]
    fn malformed_authorization_values() {
        for value in [
            "",
            "vapid",
            "bearer t=a, k=b",
            "vapid t=a",
            "vapid k=b",
            "vapid t=a, t=b, k=c",
            "vapid t",
        ] {
            assert_eq!(
                parse_authorization(value),
                Err(JwtError::MalformedAuthorization),
                "{value:?}"
            );
        }
        assert!(matches!(
            parse_authorization("vapid t=a, k=AAAA"),
            Err(JwtError::Key(KeyError::NotUncompressedPoint { len: 3 }))
        ));
    }
}
