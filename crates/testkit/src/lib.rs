//! Test support for tether (dev-only, unpublished).
#![forbid(unsafe_code)]
