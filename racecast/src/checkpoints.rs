//! `racecast checkpoints`: the checkpoints of a data directory, with the
//! Delta version of every table at each, so that any Delta reader can read
//! all tables "as of checkpoint N" in one consistent picture.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use racecast_connectors::delta::history::checkpoints;
use racecast_connectors::delta::{Table, has_tables};
use racecast_engine::positions::Positions;

use crate::cli::CheckpointsArgs;

pub fn run(a: CheckpointsArgs) -> anyhow::Result<ExitCode> {
    let data = a.data.location()?;
    if !has_tables(&data).with_context(|| format!("reading \"{data}\""))? {
        bail!("\"{data}\" holds no racecast tables (is --data right?)");
    }
    let list = checkpoints(&data).with_context(|| format!("reading the tables under \"{data}\""))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let short = |t: Table| match t {
        Table::Bronze => "bronze",
        Table::Quarantine => "quarantine",
        Table::Silver => "silver",
        Table::LapMetrics => "laps",
        Table::SessionMetrics => "sessions",
        Table::ExpectationResults => "quality",
    };
    write!(out, "{:>10}  {:<24}", "checkpoint", "started (UTC)")?;
    for t in Table::ALL {
        write!(out, " {:>10}", short(t))?;
    }
    writeln!(out, "  positions")?;
    for c in &list {
        let started = c
            .started_ms
            .and_then(|ms| {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).ok()?);
                Some(humantime::format_rfc3339_millis(t).to_string())
            })
            .unwrap_or_else(|| "-".into());
        write!(out, "{:>10}  {:<24}", c.checkpoint, started)?;
        for t in Table::ALL {
            match c.versions.get(t.path()) {
                Some(v) => write!(out, " {v:>10}")?,
                None => write!(out, " {:>10}", "-")?,
            }
        }
        let positions = c.positions.clone().and_then(|p| Positions::from_json(p).ok());
        let positions = positions.as_ref().map_or(String::from("-"), |p| {
            let mut per_source: Vec<String> = Vec::new();
            for (i, name) in p.sources.iter().enumerate() {
                let next: Vec<u64> = p
                    .next
                    .iter()
                    .filter(|x| x.source == i as u32)
                    .map(|x| x.next)
                    .collect();
                let shown = match next.len() {
                    0 => "0".to_string(),
                    1 => next[0].to_string(),
                    n => format!(
                        "{n} partitions, {}..{}",
                        next.iter().min().unwrap_or(&0),
                        next.iter().max().unwrap_or(&0)
                    ),
                };
                per_source.push(format!("{name}: {shown}"));
            }
            per_source.join("; ")
        });
        let note = if c.complete {
            ""
        } else {
            "  (incomplete: the next run completes it)"
        };
        writeln!(out, "  {positions}{note}")?;
    }
    Ok(ExitCode::SUCCESS)
}
