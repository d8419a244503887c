//! The example server's stream-management glue stays small, and its header says how small.
//!
//! The glue is every non-blank line strictly between a line `// sm {` and a line `// sm }`
//! (whitespace-trimmed), plus any line outside such a block that ends in `// sm`, in
//! `examples/server/*.rs`. The goal is under 50 lines; `examples/server/main.rs`
//! states the count in its header ("**The stream-management glue is N lines**"), and this test
//! keeps the two equal. Unbalanced markers fail the test rather than skew the count.

use std::path::{Path, PathBuf};

const GOAL: usize = 50;
const OPEN: &str = "// sm {";
const CLOSE: &str = "// sm }";

/// Glue lines in one file's text; `Err` names a misplaced marker.
fn glue_lines(text: &str) -> Result<usize, String> {
    let mut count = 0;
    let mut open_at = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        match (line, open_at) {
            (OPEN, Some(at)) => {
                return Err(format!(
                    "line {}: `{OPEN}` inside the block opened at line {at}",
                    i + 1
                ));
            }
            (OPEN, None) => open_at = Some(i + 1),
            (CLOSE, None) => return Err(format!("line {}: `{CLOSE}` without `{OPEN}`", i + 1)),
            (CLOSE, Some(_)) => open_at = None,
            ("", _) => {}
            (_, Some(_)) => count += 1,
            (other, None) if other.ends_with("// sm") => count += 1,
            (_, None) => {}
        }
    }
    match open_at {
        Some(at) => Err(format!("`{OPEN}` at line {at} is never closed")),
        None => Ok(count),
    }
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("server")
}

fn sources() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(server_dir())
        .unwrap_or_else(|e| panic!("reading {}: {e}", server_dir().display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
}

/// The N of "**The stream-management glue is N lines**" in main.rs's header.
fn stated() -> usize {
    let main = server_dir().join("main.rs");
    let text = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
    let claim = "**The stream-management glue is ";
    let rest = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .find_map(|l| l.split_once(claim).map(|(_, rest)| rest.to_owned()))
        .unwrap_or_else(|| panic!("main.rs's header does not say {claim:?}"));
    let number = rest.split(' ').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|e| panic!("{number:?} in {claim:?}…: {e}"))
}

#[test]
fn glue_is_under_fifty_lines_and_the_header_says_how_many() {
    let files = sources();
    assert!(
        files.len() > 1,
        "no server sources in {}",
        server_dir().display()
    );
    let mut per_file = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let n = glue_lines(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        per_file.push((
            file.file_name().map(|n| n.to_string_lossy().into_owned()),
            n,
        ));
    }
    let total: usize = per_file.iter().map(|(_, n)| n).sum();
    assert!(
        total < GOAL,
        "{total} lines of glue, goal under {GOAL}: {per_file:?}"
    );
    assert_eq!(
        stated(),
        total,
        "examples/server/main.rs's header is stale; per file: {per_file:?}"
    );
}

#[test]
fn counting_rules() {
    let text = "a\n  // sm {\n  x\n\n  y\n  // sm }\nz // sm\n// sm {\n// sm }\n";
    assert_eq!(glue_lines(text), Ok(3));
    assert!(glue_lines("// sm {\nx\n").is_err());
    assert!(glue_lines("// sm }\n").is_err());
    assert!(glue_lines("// sm {\n// sm {\n// sm }\n").is_err());
    assert_eq!(glue_lines("// sm {x\n// smart\n"), Ok(0));
}
