//! An `<enable/>` checked like peer data, its keys parsed: what a registration holds.

use std::sync::Arc;

use jid::BareJid;
use xmpp_push2_crypto::error::VapidError;
use xmpp_push2_crypto::{AuthSecret, Claims, EcPublicKey, VapidKey};

use super::CustomProfiles;
use super::config::RegistryConfig;
use super::table::{ActiveMatch, ActiveSend, WebPushKeys};
use crate::elements::{Enable, MatchProfile, SendProfile, WebPushSend};
use crate::error::{EnableError, ParseError};

/// Claim names the server sets itself (RFC 8292 `exp`; the seed's "suitable `exp` and `sub`").
const SERVER_CLAIMS: [&str; 2] = ["exp", "sub"];
/// Registered JWT claims that are numbers (RFC 7519 §4.1), which a `<jwt-claim/>`'s text
/// cannot be.
const NUMERIC_CLAIMS: [&str; 2] = ["iat", "nbf"];

/// Checks `enable` for `account` and parses its keys.
pub(crate) fn validate(
    config: &RegistryConfig,
    profiles: &impl CustomProfiles,
    account: &BareJid,
    enable: &Enable,
) -> Result<Vec<ActiveMatch>, EnableError> {
    let limits = &config.limits;
    if enable.service.to_bare() == *account {
        return Err(EnableError::OwnJid);
    }
    if enable.client.trim().is_empty() {
        return Err(ParseError::Empty { element: "client" }.into());
    }
    if enable.client.len() > limits.max_client_bytes {
        return Err(EnableError::TooLarge {
            what: "<client/>",
            limit: limits.max_client_bytes,
        });
    }
    if enable.matches.is_empty() {
        return Err(ParseError::NoMatch.into());
    }
    if enable.matches.len() > limits.max_matches {
        return Err(EnableError::TooLarge {
            what: "<match/> elements",
            limit: limits.max_matches,
        });
    }
    let mut active = Vec::with_capacity(enable.matches.len());
    for m in &enable.matches {
        if let MatchProfile::Other(uri) = &m.profile
            && !profiles.supports(uri)
        {
            return Err(EnableError::UnsupportedMatch {
                profile: uri.clone(),
            });
        }
        if m.filters.len() > limits.max_filters {
            return Err(EnableError::TooLarge {
                what: "<filter/> elements",
                limit: limits.max_filters,
            });
        }
        let send = match &m.send {
            SendProfile::NotifyOnly => ActiveSend::NotifyOnly,
            SendProfile::WebPush(w) => {
                ActiveSend::WebPush(Arc::new(web_push(config, account, &enable.client, w)?))
            }
            SendProfile::Unknown(element) => {
                return Err(EnableError::UnsupportedSend {
                    namespace: element.ns(),
                    element: element.clone(),
                });
            }
        };
        active.push(ActiveMatch {
            profile: m.profile.clone(),
            grace: m.grace,
            filters: m.filters.clone(),
            send,
        });
    }
    Ok(active)
}

fn web_push(
    config: &RegistryConfig,
    account: &BareJid,
    client: &str,
    w: &WebPushSend,
) -> Result<WebPushKeys, EnableError> {
    let limits = &config.limits;
    let too_long = |text: &str| text.len() > limits.max_text_bytes;
    if too_long(&w.ua_public)
        || too_long(&w.auth_secret)
        || w.jwt_key.as_deref().is_some_and(too_long)
        || w.jwt_alg.as_deref().is_some_and(too_long)
        || w.jwt_claims.iter().any(|(n, v)| too_long(n) || too_long(v))
    {
        return Err(EnableError::TooLarge {
            what: "a send profile's text",
            limit: limits.max_text_bytes,
        });
    }
    if w.jwt_claims.len() > limits.max_claims {
        return Err(EnableError::TooLarge {
            what: "<jwt-claim/> elements",
            limit: limits.max_claims,
        });
    }
    let key_error = |field| move |error| EnableError::InvalidKey { field, error };
    let ua_public = EcPublicKey::from_base64(&w.ua_public).map_err(key_error("ua-public"))?;
    let auth_secret = AuthSecret::from_base64(&w.auth_secret).map_err(key_error("auth-secret"))?;
    let vapid = match &w.jwt_alg {
        None => None,
        Some(alg) if alg == "ES256" => {
            let key = w.jwt_key.as_deref().ok_or(EnableError::MissingJwtKey)?;
            let key = VapidKey::from_text(key).map_err(key_error("jwt-key"))?;
            Some((key, claims(config, account, client, &w.jwt_claims)?))
        }
        Some(alg) => return Err(EnableError::UnsupportedJwtAlg { alg: alg.clone() }),
    };
    Ok(WebPushKeys {
        ua_public,
        auth_secret,
        vapid,
    })
}

/// The claims a token is signed over: the client's own, as given (its `aud` too: a real
/// client, Borogove, sends a bare host there rather than an origin), with `sub` from the
/// configuration and `exp` from the token cache; without an `aud` claim, the origin of the
/// `<client/>` endpoint (RFC 8292 section 2).
fn claims(
    config: &RegistryConfig,
    account: &BareJid,
    client: &str,
    given: &[(String, String)],
) -> Result<Claims, EnableError> {
    for (i, (name, _)) in given.iter().enumerate() {
        if NUMERIC_CLAIMS.contains(&name.as_str()) {
            return Err(EnableError::InvalidClaim(VapidError::ReservedClaim(
                name.clone(),
            )));
        }
        if given[..i].iter().any(|(other, _)| other == name) {
            return Err(EnableError::InvalidClaim(VapidError::DuplicateClaim(
                name.clone(),
            )));
        }
    }
    let mut claims = match given.iter().find(|(name, _)| name == "aud") {
        Some((_, aud)) => Claims::new(aud.clone()),
        None => Claims::for_endpoint(client).map_err(EnableError::NoAudience)?,
    };
    claims.sub = Some(
        config
            .vapid_sub
            .clone()
            .unwrap_or_else(|| format!("xmpp:{}", account.domain())),
    );
    for (name, value) in given {
        if name != "aud" && !SERVER_CLAIMS.contains(&name.as_str()) {
            claims = claims.with_claim(name.clone(), value.clone());
        }
    }
    Ok(claims)
}
