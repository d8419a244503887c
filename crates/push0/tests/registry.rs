//! Focused, deterministic tests of the user's-server [`Registry`]: one rule per test, exact
//! replies, errors and events. Time is virtual and randomness seeded.

#[macro_use]
mod common;

#[path = "registry/bounds.rs"]
mod bounds;
#[path = "registry/commands.rs"]
mod commands;
#[path = "registry/hibernation.rs"]
mod hibernation;
#[path = "registry/outcomes.rs"]
mod outcomes;
#[path = "registry/persistence.rs"]
mod persistence;
#[path = "registry/publishing.rs"]
mod publishing;
