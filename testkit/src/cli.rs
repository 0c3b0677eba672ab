//! The built `racecast` binary, run as a user would: from a directory,
//! optionally set to crash at a crash point (`RACECAST_CRASH_AT`, see
//! `racecast_connectors::crash`). The binary's path comes from the calling
//! test (`env!("CARGO_BIN_EXE_racecast")`, known only to the binary's own
//! tests).

use std::path::Path;
use std::process::{Command, Output};

use racecast_connectors::crash::CRASH_AT;

/// A command running `bin` in `dir`, crashing at `crash_at` when given.
pub fn command(bin: &str, dir: &Path, crash_at: Option<&str>) -> Command {
    let mut command = Command::new(bin);
    command.current_dir(dir);
    if let Some(point) = crash_at {
        command.env(CRASH_AT, point);
    }
    command
}

/// `output`, after checking that it succeeded (the test fails with `what`
/// and the command's stderr otherwise).
pub fn ok(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        stderr(&output)
    );
    output
}

/// What a command wrote to stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
