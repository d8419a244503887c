//! What the benches share: reading criterion's estimates back, and interleaved ratios.
#![allow(dead_code, reason = "each bench uses the part it needs")]

use std::path::PathBuf;

/// Criterion's headline estimate in ns (the slope when it has one, else the mean) for the
/// bench at `path` (group, then bench id parts), read back from where criterion saved it:
/// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the workspace's
/// `target/criterion`.
pub(crate) fn estimate_ns(path: &[&str]) -> Option<f64> {
    let mut file = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"));
    for part in path {
        file.push(part);
    }
    file.push("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let estimate = json
        .get("slope")
        .filter(|s| !s.is_null())
        .or_else(|| json.get("mean"))?;
    estimate.get("point_estimate")?.as_f64()
}

/// How many alternating rounds an interleaved ratio takes the median of.
pub(crate) const ROUNDS: usize = 41;

/// The median over [`ROUNDS`] rounds of `a() / b()`, each a measured time (any unit, the
/// same for both), alternating which is measured first, so that load from other processes
/// on a shared machine hits both alike (criterion measures one bench after the other).
pub(crate) fn median_ratio(mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> f64 {
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let ta = a();
                ta / b()
            } else {
                let tb = b();
                a() / tb
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

/// The seconds `batch` calls of `f` take, on the real clock.
#[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
pub(crate) fn time_batch(batch: usize, f: &mut dyn FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_secs_f64()
}

/// [`median_ratio`] of `batch` calls of `a` to `batch` calls of `b`.
pub(crate) fn batch_ratio(batch: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    median_ratio(|| time_batch(batch, &mut a), || time_batch(batch, &mut b))
}
