//! The example server's glue for each crate stays small, and its header says how small.
//!
//! A crate's glue is every non-blank line strictly between a line `// X {` and a line
//! `// X }` (whitespace-trimmed), plus any line that ends in `// X`, in `examples/server/`
//! and its subdirectories, where X is the crate's marker: `sm` (xmpp-sm), `push0`
//! (xmpp-push0), `push2` (xmpp-push2), `psa` (xmpp-psa), and `cluster` for the cluster mode's
//! hooks outside `cluster.rs` (the Redis code itself is that file). A line ending in `// X` inside
//! another crate's block counts for X only, so every line counts once. The goal is under 50
//! lines each; `examples/server/main.rs` states each count in its header ("**The
//! stream-management glue is N lines**", "**The XEP-0357 glue is N lines**", "**The Push 2.0
//! glue is N lines**", "**The XEP-0310 glue is N lines**", "**The cluster-mode glue is N
//! lines**"), and this test keeps them equal. Blocks do not nest; unbalanced markers fail the test rather
//! than skew a count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GOAL: usize = 50;

/// Each crate's marker and the words main.rs's header uses for its glue.
const CRATES: [(&str, &str); 5] = [
    ("sm", "stream-management"),
    ("push0", "XEP-0357"),
    ("push2", "Push 2.0"),
    ("psa", "XEP-0310"),
    ("cluster", "cluster-mode"),
];

/// Glue lines per marker in one file's text; `Err` names a misplaced marker.
fn glue_lines(text: &str) -> Result<BTreeMap<&'static str, usize>, String> {
    let mut counts: BTreeMap<&'static str, usize> = CRATES.iter().map(|(m, _)| (*m, 0)).collect();
    let mut open: Option<(&'static str, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let opens = CRATES.iter().find(|(m, _)| line == format!("// {m} {{"));
        let closes = CRATES.iter().find(|(m, _)| line == format!("// {m} }}"));
        let tagged = CRATES
            .iter()
            .find(|(m, _)| line.ends_with(&format!("// {m}")));
        match (opens, closes, open) {
            (Some((m, _)), _, Some((o, at))) => {
                return Err(format!(
                    "line {}: `// {m} {{` inside the `// {o}` block opened at line {at}",
                    i + 1
                ));
            }
            (Some((m, _)), _, None) => open = Some((m, i + 1)),
            (_, Some((m, _)), Some((o, _))) if *m == o => open = None,
            (_, Some((m, _)), _) => {
                return Err(format!("line {}: `// {m} }}` without its `{{`", i + 1));
            }
            _ if line.is_empty() => {}
            _ => {
                if let Some((m, _)) = tagged {
                    *counts.entry(m).or_default() += 1;
                } else if let Some((o, _)) = open {
                    *counts.entry(o).or_default() += 1;
                }
            }
        }
    }
    match open {
        Some((m, at)) => Err(format!("`// {m} {{` at line {at} is never closed")),
        None => Ok(counts),
    }
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("server")
}

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The N of "**The `words` glue is N lines**" in main.rs's header.
fn stated(words: &str) -> usize {
    let main = server_dir().join("main.rs");
    let text = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
    let claim = format!("**The {words} glue is ");
    let rest = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .find_map(|l| l.split_once(&claim).map(|(_, rest)| rest.to_owned()))
        .unwrap_or_else(|| panic!("main.rs's header does not say {claim:?}"));
    let number = rest.split(' ').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|e| panic!("{number:?} in {claim:?}…: {e}"))
}

#[test]
fn glue_is_under_fifty_lines_each_and_the_header_says_how_many() {
    let files = sources(&server_dir());
    assert!(
        files.len() > 1,
        "no server sources in {}",
        server_dir().display()
    );
    let mut per_file = Vec::new();
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let counts = glue_lines(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (marker, n) in &counts {
            *totals.entry(marker).or_default() += n;
        }
        let name = file
            .strip_prefix(server_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        per_file.push((name, counts));
    }
    for (marker, words) in CRATES {
        let total = totals.get(marker).copied().unwrap_or_default();
        let files: Vec<_> = per_file
            .iter()
            .filter(|(_, c)| c[marker] > 0)
            .map(|(f, c)| (f.as_str(), c[marker]))
            .collect();
        assert!(
            total < GOAL,
            "{total} lines of {marker} glue, goal under {GOAL}: {files:?}"
        );
        assert_eq!(
            stated(words),
            total,
            "examples/server/main.rs's header is stale for {marker}; per file: {files:?}"
        );
    }
}

#[test]
fn counting_rules() {
    let count = |text| glue_lines(text).map(|c| (c["sm"], c["push0"], c["push2"]));
    let text = "a\n  // sm {\n  x\n\n  y\n  // sm }\nz // sm\n// sm {\n// sm }\n";
    assert_eq!(count(text), Ok((3, 0, 0)));
    assert!(glue_lines("// sm {\nx\n").is_err());
    assert!(glue_lines("// sm }\n").is_err());
    assert!(glue_lines("// sm {\n// sm {\n// sm }\n").is_err());
    assert_eq!(count("// sm {x\n// smart\n"), Ok((0, 0, 0)));
    // A tagged line inside another crate's block counts for its own crate only.
    let mixed = "// sm {\nx\ny // push0\n// sm }\n// push2 {\nz\n// push2 }\nw // push2\n";
    assert_eq!(count(mixed), Ok((1, 1, 2)));
    assert!(glue_lines("// sm {\n// push0 {\n// push0 }\n// sm }\n").is_err());
    assert!(glue_lines("// sm {\n// push0 }\n").is_err());
    // psa as well: its own blocks and tags, and its tag inside the sm block.
    let psa = "// psa {\na\n// psa }\n// sm {\nb // psa\nc\n// sm }\nd // psa\n";
    let counts = glue_lines(psa).map(|c| (c["sm"], c["psa"]));
    assert_eq!(counts, Ok((1, 3)));
}
