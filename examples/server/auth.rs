//! SASL with xmpp-rs's `sasl` crate: PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 4616, RFC 5802,
//! RFC 7677), over plain TCP, so without channel binding or the -PLUS variants. The same
//! exchange serves legacy SASL (RFC 6120 §6) and SASL2 (XEP-0388); only the wrapping
//! elements differ.

use std::sync::Arc;

use sasl::common::scram::{Sha1, Sha256};
use sasl::common::{ChannelBinding, Identity};
use sasl::secret::{Pbkdf2Sha1, Pbkdf2Sha256, Plain as PlainSecret};
use sasl::server::mechanisms::{Plain, Scram};
use sasl::server::{Mechanism, Provider, ProviderError, Response, Validator, ValidatorError};

use crate::accounts::Accounts;

/// Offered best first.
pub(crate) const MECHANISMS: [&str; 3] = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];

/// What one step of an exchange produced.
pub(crate) enum Step {
    /// Send this challenge and wait for the client's response.
    Challenge(Vec<u8>),
    /// Authenticated as this local user; `Some` data goes with the success (SCRAM's
    /// server-final message).
    Success { user: String, data: Option<Vec<u8>> },
    /// Authentication failed: answer `not-authorized` (RFC 6120 §6.5.10).
    Failure,
}

/// One authentication exchange.
pub(crate) struct Exchange {
    accounts: Arc<Accounts>,
    name: &'static str,
    /// Made from the client's first message (SCRAM needs its GS2 flag).
    mechanism: Option<Box<dyn Mechanism + Send>>,
}

impl Exchange {
    /// Starts `mechanism`, or `None` if we do not offer it (answer `invalid-mechanism`).
    pub(crate) fn start(accounts: &Arc<Accounts>, mechanism: &str) -> Option<Self> {
        let name = MECHANISMS.into_iter().find(|m| *m == mechanism)?;
        Some(Self {
            accounts: Arc::clone(accounts),
            name,
            mechanism: None,
        })
    }

    /// Feeds the client's message (`None` when it sent no initial response: RFC 4422 §5 says
    /// to answer with an empty challenge).
    pub(crate) fn step(&mut self, input: Option<&[u8]>) -> Step {
        let Some(input) = input else {
            return Step::Challenge(Vec::new());
        };
        let name = self.name;
        let accounts = Lookup(Arc::clone(&self.accounts));
        let mechanism = self
            .mechanism
            .get_or_insert_with(|| make(name, accounts, input));
        match mechanism.respond(input) {
            Ok(Response::Proceed(challenge)) => Step::Challenge(challenge),
            Ok(Response::Success(Identity::Username(user), data)) => Step::Success {
                user,
                data: (!data.is_empty()).then_some(data),
            },
            _ => Step::Failure,
        }
    }
}

/// The mechanism for the client's first message. The `sasl` crate's server SCRAM (0.5.2)
/// accepts only the GS2 flag `y` when it is told there is no channel binding, and refuses
/// `n` (a client that supports no channel binding, as xmpp.js sends over plain TCP). So the
/// flag picks the setting: `n` is accepted where "channel binding available" is set (with no
/// data, the `c=` the client then sends is exactly its `n,,` header), `y` where it is not. A
/// `p` (the client wants binding) fails: no -PLUS mechanism is offered on plain TCP.
fn make(name: &str, accounts: Lookup, first: &[u8]) -> Box<dyn Mechanism + Send> {
    let binding = match first.first() {
        Some(b'n') => ChannelBinding::TlsUnique(Vec::new()),
        _ => ChannelBinding::None,
    };
    match name {
        "SCRAM-SHA-256" => Box::new(Scram::<Sha256, _>::new(accounts, binding)),
        "SCRAM-SHA-1" => Box::new(Scram::<Sha1, _>::new(accounts, binding)),
        _ => Box::new(Plain::new(accounts)),
    }
}

/// Looks accounts up for the `sasl` crate's mechanisms.
struct Lookup(Arc<Accounts>);

fn user(identity: &Identity) -> Option<&str> {
    match identity {
        Identity::Username(user) => Some(user),
        Identity::None => None,
    }
}

impl Validator<PlainSecret> for Lookup {
    fn validate(&self, identity: &Identity, value: &PlainSecret) -> Result<(), ValidatorError> {
        let account = user(identity).and_then(|u| self.0.get(u));
        match account {
            Some(account) if account.password_is(&value.0) => Ok(()),
            _ => Err(ValidatorError::AuthenticationFailed),
        }
    }
}

impl Provider<Pbkdf2Sha1> for Lookup {
    fn provide(&self, identity: &Identity) -> Result<Pbkdf2Sha1, ProviderError> {
        let account = user(identity).and_then(|u| self.0.get(u));
        let secret = account.ok_or(ProviderError::AuthenticationFailed)?;
        Ok(Pbkdf2Sha1 {
            salt: secret.sha1.salt.clone(),
            iterations: secret.sha1.iterations,
            digest: secret.sha1.digest.clone(),
        })
    }
}

impl Provider<Pbkdf2Sha256> for Lookup {
    fn provide(&self, identity: &Identity) -> Result<Pbkdf2Sha256, ProviderError> {
        let account = user(identity).and_then(|u| self.0.get(u));
        let secret = account.ok_or(ProviderError::AuthenticationFailed)?;
        Ok(Pbkdf2Sha256 {
            salt: secret.sha256.salt.clone(),
            iterations: secret.sha256.iterations,
            digest: secret.sha256.digest.clone(),
        })
    }
}

sasl::impl_validator_using_provider!(Lookup, Pbkdf2Sha1);
sasl::impl_validator_using_provider!(Lookup, Pbkdf2Sha256);
