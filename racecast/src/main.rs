//! The `racecast` command line: parses arguments, turns them into validated
//! configs and hands them to the library crates. No business logic lives
//! here. Exit codes: 0 ok, 1 an error the user can fix (or, for `validate`,
//! invalid records), 2 an internal error.

mod changes;
mod checkpoints;
mod cli;
mod run;
mod simulate;
mod validate;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Simulate(a) => simulate::run(a),
        cli::Command::Validate(a) => validate::run(a),
        cli::Command::Run(a) => run::run(a),
        cli::Command::Changes(a) => changes::run(a),
        cli::Command::Checkpoints(a) => checkpoints::run(a),
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
            eprintln!("racecast: error: {error:#}");
            ExitCode::from(1)
        }
    }
}
