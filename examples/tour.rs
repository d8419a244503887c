//! placeholder, replaced in this issue
fn main() {}
