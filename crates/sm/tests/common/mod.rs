//! Test support for the model tests: a seeded lossy link, a record of every stanza's fate, a
//! virtual-time client/server [`pair::Pair`], and the harness's model of where each session is.

pub(crate) mod link;
pub(crate) mod pair;
pub(crate) mod record;
pub(crate) mod serving;
