//! `racecast query`: a named view of `queries/` or the user's SQL over the
//! Delta tables as of a checkpoint, written as a table, CSV, JSON lines or
//! Parquet, to stdout or a file.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use racecast_connectors::query::{self, Format, QuerySession, VIEWS, View};

use crate::cli::QueryArgs;

/// Blocking threads the query runtime may start.
const BLOCKING_THREADS: usize = 16_384;

pub fn run(a: QueryArgs) -> anyhow::Result<ExitCode> {
    if a.list {
        return list();
    }
    let view = match &a.view {
        Some(name) => Some(View::named(name).ok_or_else(|| query::unknown_view(name))?),
        None => None,
    };
    let format = match (a.format, &a.output) {
        (Some(f), _) => f,
        (None, Some(path)) => Format::of_path(path).unwrap_or(Format::Table),
        (None, None) => Format::Table,
    };
    if format == Format::Parquet && a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("--format parquet writes binary data: give --output FILE (or redirect stdout)");
    }
    // deltalake reads each silver file's deletion vector on a blocking
    // thread that itself waits for a blocking read: with more such files
    // than blocking threads the scan waits for ever (a 15 M-event race has
    // ~14 k), so the pool is sized far above tokio's 512 (threads start
    // only when needed and end when idle).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("starting an async runtime")?;
    runtime.block_on(async {
        let session = QuerySession::open(&a.data.location()?, a.as_of_checkpoint).await?;
        let rows = match (view, &a.sql) {
            (Some(view), _) => session.view(view.name).await?,
            (None, Some(sql)) => session.sql(sql).await?,
            (None, None) => bail!("give a view name, --sql or --list"),
        };
        let checkpoint = session.checkpoint().checkpoint;
        match &a.output {
            Some(path) => {
                let count = query::write_file(rows, format, path).await?;
                eprintln!(
                    "racecast: {count} rows (checkpoint {checkpoint}) written to \"{}\"",
                    path.display()
                );
            }
            None => {
                let count =
                    query::write_to(rows, format, std::io::BufWriter::new(std::io::stdout()), "stdout")
                        .await?;
                eprintln!("({count} rows, checkpoint {checkpoint})");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn list() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for (i, view) in VIEWS.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", view.name)?;
        for line in view.header().lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
