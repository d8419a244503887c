//! SASL with rsasl: PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 4616, RFC 5802, RFC 7677),
//! over plain TCP, so without channel binding or the -PLUS variants. The same exchange serves
//! legacy SASL (RFC 6120 §6) and SASL2 (XEP-0388); only the wrapping elements differ.

use std::io::Cursor;
use std::sync::Arc;

use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{Mechname, SASLConfig, SASLServer, Session, SessionError, State, Validation};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, ValidationError};

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
    session: Session<Login>,
}

impl Exchange {
    /// Starts `mechanism`, or `None` if we do not offer it (answer `invalid-mechanism`).
    pub(crate) fn start(accounts: &Arc<Accounts>, mechanism: &str) -> Option<Self> {
        if !MECHANISMS.contains(&mechanism) {
            return None;
        }
        let config = SASLConfig::builder()
            .with_default_mechanisms()
            .with_callback(Check(Arc::clone(accounts)))
            .ok()?;
        let name = Mechname::parse(mechanism.as_bytes()).ok()?;
        let session = SASLServer::<Login>::new(config)
            .start_suggested(name)
            .ok()?;
        Some(Self { session })
    }

    /// Feeds the client's message (`None` when it sent no initial response).
    pub(crate) fn step(&mut self, input: Option<&[u8]>) -> Step {
        let mut out = Cursor::new(Vec::new());
        match self.session.step(input, &mut out) {
            Ok(State::Running) => Step::Challenge(out.into_inner()),
            Ok(State::Finished(sent)) => match self.session.validation() {
                Some(Some(user)) => {
                    let data =
                        matches!(sent, rsasl::prelude::MessageSent::Yes).then(|| out.into_inner());
                    Step::Success { user, data }
                }
                _ => Step::Failure,
            },
            Err(_) => Step::Failure,
        }
    }
}

/// The validated local user, or `None`.
struct Login;

impl Validation for Login {
    type Value = Option<String>;
}

/// Looks accounts up for rsasl's mechanisms.
struct Check(Arc<Accounts>);

impl SessionCallback for Check {
    fn callback(
        &self,
        session: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        let Some(account) = context.get_ref::<AuthId>().and_then(|u| self.0.get(u)) else {
            return Ok(());
        };
        let keys = match session.mechanism().mechanism.as_str() {
            "SCRAM-SHA-1" => &account.sha1,
            "SCRAM-SHA-256" => &account.sha256,
            _ => return Ok(()),
        };
        request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
            keys.iterations,
            &keys.salt,
            &keys.stored_key,
            &keys.server_key,
        ))?;
        Ok(())
    }

    fn validate(
        &self,
        session: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let user = context.get_ref::<AuthId>();
        // Acting as someone else (an authzid of another account) is not allowed.
        let authzid = context.get_ref::<AuthzId>().filter(|a| !a.is_empty());
        let authzid_ok = match (authzid, user) {
            (None, _) => true,
            (Some(authz), Some(user)) => authz == user || authz.split('@').next() == Some(user),
            (Some(_), None) => false,
        };
        let accepted = user.filter(|_| authzid_ok).and_then(|user| {
            let account = self.0.get(user)?;
            let ok = match session.mechanism().mechanism.as_str() {
                // SCRAM already proved the password when the callback above supplied keys.
                "SCRAM-SHA-1" | "SCRAM-SHA-256" => true,
                _ => context
                    .get_ref::<Password>()
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .is_some_and(|p| account.password_is(p)),
            };
            ok.then(|| user.to_owned())
        });
        validate.with::<Login, _>(|| Ok(accepted))?;
        Ok(())
    }
}
