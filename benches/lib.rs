//! The `tether-benches` package: criterion benches in this directory, one file per crate or
//! concern, each measured against a baseline in the same run (`cargo bench -p tether-benches`).
#![forbid(unsafe_code)]
