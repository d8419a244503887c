//! Test support shared by xmpp-sm's integration tests: a seeded lossy link, a record of every
//! stanza's fate, and a virtual-time client/server [`pair::Pair`].

pub(crate) mod link;
pub(crate) mod pair;
pub(crate) mod record;
pub(crate) mod serving;
