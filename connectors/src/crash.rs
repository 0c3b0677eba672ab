//! Crash points for recovery tests: with `RACECAST_CRASH_AT=<point>@<checkpoint>`
//! in the environment, the process aborts (no destructor, no flush: what
//! `kill -9` leaves behind) when it reaches `<point>` while writing a
//! checkpoint numbered `<checkpoint>` or above (numbers are boundary
//! indexes and can skip), or, for the points of a checkpoint's commits,
//! the run's last checkpoint, so that a run too fast to reach
//! `<checkpoint>` still crashes. (`ingest`'s fallback: a file run whose
//! input ends before `<checkpoint>` keeps its epochs moving after the last
//! record until the process has committed a checkpoint, and crashes then,
//! with the input read and the current checkpoint not committed.) Without
//! the variable a crash point costs one relaxed load.
//!
//! Points: `ingest` (while reading the checkpoint's input, once the process
//! has committed a checkpoint: epochs follow wall time, so a slow start
//! could otherwise reach `<checkpoint>` before any commit), `mid-part` (a
//! worker has written its bronze files of the checkpoint, not its others),
//! `before-manifest`
//! (every worker's files are written), `after-manifest`, `after-bronze`,
//! `after-quarantine`, `after-silver`, `after-laps`, `after-sessions`,
//! `after-quality` (after that table's commit), `kafka-part` (a worker's silver changes are on the
//! brokers, its dead letters and everything after are not),
//! `before-progress` (every change record of the checkpoint is
//! acknowledged, its progress record not written), `after-progress`.
//!
//! `fail-part` is not a crash: worker 1's part sink fails to write its
//! share of the checkpoint, as after an I/O error, and the run must stop
//! without committing it. `panic` is not one either: a worker panics while
//! reading the checkpoint's input, as a broken invariant would, and the
//! run must end with an internal error (exit code 2).

use std::sync::OnceLock;

/// The environment variable naming the crash point.
pub const CRASH_AT: &str = "RACECAST_CRASH_AT";

fn target() -> Option<&'static (String, u64)> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let value = std::env::var(CRASH_AT).ok()?;
            let (point, checkpoint) = value.split_once('@')?;
            Some((point.to_owned(), checkpoint.parse().ok()?))
        })
        .as_ref()
}

/// Whether the process is set to crash at `point` of `checkpoint` (or an
/// earlier number).
pub fn armed(point: &str, checkpoint: u64) -> bool {
    target().is_some_and(|(p, c)| p == point && *c <= checkpoint)
}

/// The checkpoint the process is set to crash at `point` of, if any.
pub fn armed_at(point: &str) -> Option<u64> {
    target().filter(|(p, _)| p == point).map(|(_, c)| *c)
}

/// Aborts the process when it is set to crash at `point` of `checkpoint`.
pub fn point(point: &str, checkpoint: u64) {
    if armed(point, checkpoint) {
        eprintln!("racecast: crashing at {point}@{checkpoint} ({CRASH_AT})");
        std::process::abort();
    }
}
