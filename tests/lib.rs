//! The `tether-interop` package: its tests are the cross-crate and real-peer tests in this
//! directory (Prosody, slixmpp, Python crypto libraries), started on 127.0.0.1 and bounded in
//! time. `./ci.sh` installs the peers first.
#![forbid(unsafe_code)]
