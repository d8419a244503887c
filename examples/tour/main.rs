//! The tether tour: every crate of the workspace, played out in memory.
//!
//! Run it from the repository root with `cargo run --example tour`.
//!
//! Each protocol gets its own module of scenes (`sm.rs`, ...), told with the narration helpers
//! of `story.rs`. Nothing here touches the network or reads the real clock: time is virtual,
//! starts at a fixed moment and only moves when a scene says so, so every run prints exactly
//! the same thing. To add a protocol's scenes, write `mod <name>;` with a
//! `pub(crate) fn run() -> Result` and call it from `main` below.

#[cfg(feature = "psa")]
mod psa;
#[cfg(feature = "push0")]
mod push0;
#[cfg(feature = "push2")]
mod push2;
#[cfg(feature = "rsnf")]
mod rsnf;
mod sm;
mod story;

use crate::story::{Result, say, scene};

fn main() -> Result {
    sm::run()?;
    #[cfg(feature = "psa")]
    psa::run()?;
    #[cfg(feature = "push0")]
    push0::run()?;
    #[cfg(feature = "push2")]
    push2::run()?;
    #[cfg(feature = "rsnf")]
    rsnf::run()?;
    scene("The end");
    say(
        "Every stanza was acknowledged, retransmitted once after a resumption, or handed back \
         to the application with the time it was first sent: nothing was dropped silently. \
         Read on in crates/sm/README.md and `cargo doc -p xmpp-sm --open`.",
    );
    Ok(())
}
