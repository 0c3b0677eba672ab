//! `racecast changes`: the exact collection of a Kafka change topic as of
//! its last completed checkpoint, as JSON lines; `--follow` then prints
//! each newly completed checkpoint's changes.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use racecast_connectors::kafka::{ChangeFold, FoldOptions};

use crate::cli::ChangesArgs;

/// The progress topic that goes with a change topic: `<prefix>.progress`,
/// the prefix being everything before `.silver.` / `.gold.`.
fn progress_topic(topic: &str) -> Option<String> {
    [".silver.", ".gold."]
        .iter()
        .find_map(|marker| topic.find(marker))
        .map(|at| format!("{}.progress", &topic[..at]))
}

pub fn run(a: ChangesArgs) -> anyhow::Result<ExitCode> {
    let progress = match a.progress_topic {
        Some(p) => p,
        None => progress_topic(&a.topic).with_context(|| {
            format!(
                "cannot tell the progress topic of \"{}\" (not <prefix>.silver.* or <prefix>.gold.*): pass --progress-topic",
                a.topic
            )
        })?,
    };
    let client = a
        .kafka
        .client()?
        .context("racecast changes needs --kafka BROKERS")?;
    let mut fold = ChangeFold::open(FoldOptions {
        client,
        topic: a.topic,
        progress,
        app_id: a.app_id,
        timeout: a.timeout,
    })?;
    fold.round()?;
    let rows = fold.rows()?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("could not create \"{}\"", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for row in &rows {
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    eprintln!(
        "{} rows as of checkpoint {}",
        rows.len(),
        fold.checkpoint()
            .map_or("- (none completed)".into(), |c| c.to_string())
    );
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let changes = fold.round()?;
        for c in &changes {
            writeln!(
                out,
                "{{\"checkpoint\":{},\"op\":\"{}\",\"row\":{}}}",
                c.checkpoint,
                c.op.as_str(),
                c.row
            )?;
        }
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_topic_follows_the_prefix() {
        assert_eq!(
            progress_topic("racecast.gold.lap_metrics").as_deref(),
            Some("racecast.progress")
        );
        assert_eq!(
            progress_topic("a.b.silver.telemetry_enriched").as_deref(),
            Some("a.b.progress")
        );
        assert_eq!(progress_topic("events"), None);
    }
}
