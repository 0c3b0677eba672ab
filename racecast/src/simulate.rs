//! `racecast simulate`: runs the race simulator into a record file and writes
//! the entry list beside it, or produces both to Kafka topics (events keyed
//! by car number, so each car's stream keeps its delivery order within a
//! partition), as fast as possible or paced like a live race.

use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use racecast_connectors::files::format_of;
use racecast_engine::simulate::{SimTarget, simulate};
use racecast_sim::SimConfig;

use crate::cli::SimulateArgs;

/// A validated `simulate` invocation.
struct SimulateConfig {
    target: SimTarget,
    sim: SimConfig,
    progress: bool,
}

impl TryFrom<SimulateArgs> for SimulateConfig {
    type Error = anyhow::Error;

    fn try_from(a: SimulateArgs) -> anyhow::Result<Self> {
        let client = a.kafka.client()?;
        // `--out` with no `--topic` writes a file, also when RACECAST_KAFKA
        // names brokers for the other commands.
        let target = match (a.out, client, a.topic) {
            (Some(out), _, None) => {
                format_of(&out)?;
                let entries_out = a.entries_out.unwrap_or_else(|| {
                    let mut name = out.clone().into_os_string();
                    name.push(".entries.jsonl");
                    name.into()
                });
                format_of(&entries_out)?;
                SimTarget::Files { out, entries_out }
            }
            (None, Some(client), Some(topic)) => {
                if a.partitions < 1 {
                    bail!("--partitions must be at least 1");
                }
                let speed = match a.speed.as_str() {
                    "max" => None,
                    s => match s.parse::<f64>() {
                        Ok(v) if v > 0.0 && v.is_finite() => Some(v),
                        _ => bail!("--speed takes a number above 0 or \"max\", got {s:?}"),
                    },
                };
                SimTarget::Kafka {
                    client,
                    settings: a.topic_settings.settings()?,
                    entries_topic: a.entries_topic.unwrap_or_else(|| format!("{topic}.entries")),
                    topic,
                    format: a.format,
                    partitions: a.partitions,
                    speed,
                }
            }
            _ => bail!("give either --out FILE or --kafka BROKERS --topic TOPIC"),
        };
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
            target,
            sim,
            progress,
        })
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimulateConfig::try_from(args)?;
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
    let laps = config.sim.laps;
    let records = simulate(&config.sim, &config.target, &mut |done, _| {
        bar.set_position((done * 1000.0) as u64);
        bar.set_message(format!("{}/{laps}", (done * f64::from(laps)) as u32));
    })?;
    bar.finish_and_clear();
    let race = format!(
        "{records} records ({} cars, {} laps, seed {})",
        config.sim.cars, config.sim.laps, config.sim.seed
    );
    match &config.target {
        SimTarget::Files { out, entries_out } => eprintln!(
            "wrote {race} to {} and the entry list to {}",
            out.display(),
            entries_out.display()
        ),
        SimTarget::Kafka {
            client,
            topic,
            entries_topic,
            ..
        } => eprintln!(
            "produced {race} to {topic} and the entry list to {entries_topic} at {}",
            client.brokers
        ),
    }
    Ok(ExitCode::SUCCESS)
}
