//! `racecast simulate`: runs the race simulator into a record file and writes
//! the entry list beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use racecast_connectors::files::{RecordWriter, format_of};
use racecast_connectors::simulator::{SimConfig, SimRecord, Simulator, entry_list};

use crate::cli::SimulateArgs;

/// A validated `simulate` invocation.
struct SimulateConfig {
    out: PathBuf,
    entries_out: PathBuf,
    sim: SimConfig,
    progress: bool,
}

impl TryFrom<SimulateArgs> for SimulateConfig {
    type Error = anyhow::Error;

    fn try_from(a: SimulateArgs) -> anyhow::Result<Self> {
        format_of(&a.out)?;
        let entries_out = a.entries_out.unwrap_or_else(|| {
            let mut name = a.out.clone().into_os_string();
            name.push(".entries.jsonl");
            name.into()
        });
        format_of(&entries_out)?;
        let sim = SimConfig {
            session_id: a.session_id,
            session_date: a.session_date,
            duplicates: a.duplicates,
            late: a.late,
            late_max_ms: i64::try_from(a.late_max.as_millis()).unwrap_or(i64::MAX),
            corrections: a.corrections,
            invalid: a.invalid,
            ..a.race.sim_config()
        };
        sim.validate()?;
        let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Ok(SimulateConfig {
            out: a.out,
            entries_out,
            sim,
            progress,
        })
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimulateConfig::try_from(args)?;
    let mut entries = RecordWriter::create(&config.entries_out)?;
    for entry in entry_list(&config.sim) {
        entries.write_entry(&entry)?;
    }
    entries.finish()?;

    let mut writer = RecordWriter::create(&config.out)?;
    let mut simulator = Simulator::new(config.sim.clone());
    let bar = if config.progress {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} lap {msg} [{bar:40}] {percent}% {elapsed_precise} eta {eta}",
            )
            .context("progress template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut records = 0u64;
    while let Some(delivery) = simulator.next() {
        match &delivery.record {
            SimRecord::Event(e) => writer.write_event(e)?,
            SimRecord::Garbage(bytes) => writer.write_raw(bytes)?,
        }
        records += 1;
        if records.is_multiple_of(65_536) {
            let progress = simulator.progress();
            bar.set_position((progress * 1000.0) as u64);
            bar.set_message(format!(
                "{}/{}",
                (progress * f64::from(config.sim.laps)) as u32,
                config.sim.laps
            ));
        }
    }
    writer.finish()?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {records} records ({} cars, {} laps, seed {}) to {} and the entry list to {}",
        config.sim.cars,
        config.sim.laps,
        config.sim.seed,
        config.out.display(),
        config.entries_out.display()
    );
    Ok(ExitCode::SUCCESS)
}
