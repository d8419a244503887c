//! Accounts: from the command line (`--user name:password`) or a file of such lines, with
//! their SCRAM keys derived once at start-up (RFC 5802 §3: the server keeps StoredKey and
//! ServerKey, never needing the password for SCRAM).

use std::collections::HashMap;

use rsasl::mechanisms::scram::tools::{derive_keys, hash_password};

/// PBKDF2 iterations for the derived SCRAM keys (RFC 7677 recommends at least 4096).
const ITERATIONS: u32 = 4096;

/// SCRAM keys for one hash function.
pub(crate) struct ScramKeys {
    pub(crate) salt: [u8; 16],
    pub(crate) iterations: u32,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

pub(crate) struct Account {
    /// Kept for SASL PLAIN, compared in constant time.
    password: String,
    pub(crate) sha1: ScramKeys,
    pub(crate) sha256: ScramKeys,
}

impl Account {
    fn new(password: &str) -> Result<Self, String> {
        Ok(Self {
            password: password.to_owned(),
            sha1: keys::<sha1::Sha1>(password)?,
            sha256: keys::<sha2_010::Sha256>(password)?,
        })
    }

    /// Whether `password` is this account's (constant time in the password's content).
    pub(crate) fn password_is(&self, password: &str) -> bool {
        let (a, b) = (self.password.as_bytes(), password.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn keys<D>(password: &str) -> Result<ScramKeys, String>
where
    D: sha1::Digest
        + sha1::digest::core_api::BlockSizeUser
        + sha1::digest::FixedOutputReset
        + Clone
        + Sync,
{
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let mut salted = Default::default();
    hash_password::<D>(password.as_bytes(), ITERATIONS, &salt, &mut salted);
    let (client_key, server_key) = derive_keys::<D>(salted.as_slice());
    Ok(ScramKeys {
        salt,
        iterations: ITERATIONS,
        stored_key: D::digest(client_key).to_vec(),
        server_key: server_key.to_vec(),
    })
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
