//! The `racecast` command line: parses arguments, turns them into
//! validated configs, hands them to `racecast-engine` and prints what comes
//! back. No business logic lives here.
//!
//! Exit codes: 0 ok; 1 an error the user can fix (a bad flag value, a
//! missing file, an unreachable broker, a data directory of other inputs)
//! or, for `validate`, invalid records; 2 a usage error reported by the
//! argument parser, or an internal error (a broken invariant: a bug).
//! Logs go to stderr through `tracing` (`RUST_LOG`, default `warn`).

// The argument structs' doc comments are clap's help text, where
// `<prefix>` means a placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod changes;
mod checkpoints;
mod cli;
mod data_args;
mod expectations;
mod query;
mod run;
mod simulate;
mod validate;

use std::process::ExitCode;

use clap::Parser;
use racecast_engine::RunError;

/// Exit code of an error the user can fix.
const USER_ERROR: u8 = 1;
/// Exit code of an internal error (and of usage errors, as clap reports them).
const INTERNAL_ERROR: u8 = 2;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Simulate(a) => simulate::run(a),
        cli::Command::Validate(a) => validate::run(a),
        cli::Command::Run(a) => run::run(*a),
        cli::Command::Changes(a) => changes::run(a),
        cli::Command::Checkpoints(a) => checkpoints::run(a),
        cli::Command::Query(a) => query::run(a),
        cli::Command::Expectations(a) => expectations::run(a),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // A closed stdout (e.g. `| head`) is not an error worth reporting.
            if error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let internal = error
                .chain()
                .any(|e| e.downcast_ref::<RunError>().is_some_and(RunError::is_internal));
            if internal {
                eprintln!("racecast: internal error (please report it): {error:#}");
                ExitCode::from(INTERNAL_ERROR)
            } else {
                eprintln!("racecast: error: {error:#}");
                ExitCode::from(USER_ERROR)
            }
        }
    }
}
