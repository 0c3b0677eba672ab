//! `racecast expectations check FILE`: reads an expectation suite and lists
//! what racecast understood of each expectation; [`load`] reads a suite for
//! `run` and `validate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use racecast_dataflow::expect::Suite;

use crate::cli::{ExpectationsArgs, ExpectationsCommand};

/// The suite in `path`, compiled.
pub fn load(path: &Path) -> anyhow::Result<Suite> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the suite {}", path.display()))?;
    Suite::parse(&text).with_context(|| format!("the suite {}", path.display()))
}

pub fn run(args: ExpectationsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ExpectationsCommand::Check { file } => {
            let suite = load(&file)?;
            println!(
                "suite {:?}: {} expectations",
                suite.name,
                suite.expectations.len()
            );
            for x in &suite.expectations {
                println!("  {}", x.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
