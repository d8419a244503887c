//! The `tether-examples` package: its examples are the runnable programs in this directory
//! (`cargo run --example server`, `push_service`, `sm_client`, `push2_tool`). The library
//! itself is empty; `tour.rs` belongs to the `xmpp-tether` facade so that the demo builds only
//! pure-Rust crates.
#![forbid(unsafe_code)]
