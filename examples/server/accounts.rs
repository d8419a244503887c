//! Accounts: from the command line (`--user name:password`) or a file of such lines, with
//! their SCRAM secrets (salted passwords, RFC 5802 §3) derived once at start-up.

use std::collections::HashMap;

use sasl::secret::{Pbkdf2Sha1, Pbkdf2Sha256};

/// PBKDF2 iterations for the derived SCRAM secrets (RFC 7677 recommends at least 4096).
const ITERATIONS: u32 = 4096;

pub(crate) struct Account {
    /// Kept for SASL PLAIN, compared in constant time.
    password: String,
    pub(crate) sha1: Pbkdf2Sha1,
    pub(crate) sha256: Pbkdf2Sha256,
}

impl Account {
    fn new(password: &str) -> Result<Self, String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
        let derive = |e| format!("cannot derive SCRAM secrets: {e:?}");
        Ok(Self {
            password: password.to_owned(),
            sha1: Pbkdf2Sha1::derive(password, &salt, ITERATIONS).map_err(derive)?,
            sha256: Pbkdf2Sha256::derive(password, &salt, ITERATIONS).map_err(derive)?,
        })
    }

    /// Whether `password` is this account's (constant time in the password's content).
    pub(crate) fn password_is(&self, password: &str) -> bool {
        let (a, b) = (self.password.as_bytes(), password.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Every account of the server's one domain, by local part.
pub(crate) struct Accounts {
    by_name: HashMap<String, Account>,
}

impl Accounts {
    /// Parses `name:password` entries (one per `--user`, or one per line of an accounts
    /// file; blank lines and lines starting with `#` are skipped).
    pub(crate) fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (name, password) = entry
                .split_once(':')
                .ok_or_else(|| format!("not name:password: {entry:?}"))?;
            let node = jid::NodePart::new(name).map_err(|e| format!("bad user {name:?}: {e}"))?;
            by_name.insert(node.to_string(), Account::new(password)?);
        }
        Ok(Self { by_name })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Account> {
        self.by_name.get(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }
}
