//! `racecast run`: validates the flags into a `RunConfig` and a timely
//! `Config` (built by timely's own parser from `-w/-n/-p/-h`), runs the
//! pipeline, and prints its progress and the summary.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use racecast_connectors::files::format_of;
use racecast_connectors::kafka::{KafkaOut, OutTopics, SourceTopics};
use racecast_dataflow::expect::Suite;
use racecast_dataflow::{Limits, SessionDate};
use racecast_engine::{
    APP_ID, RetentionConfig, RunConfig, RunObserver, RunSummary, Source, Unobserved, run as run_pipeline,
};
use racecast_sim::SimConfig;

use crate::cli::RunArgs;

struct Validated {
    config: RunConfig,
    timely: timely::Config,
    json: bool,
    /// Draw a live progress line on stderr.
    progress: bool,
}

fn timely_config(a: &RunArgs) -> anyhow::Result<timely::Config> {
    if a.workers == 0 || a.processes == 0 {
        bail!("-w and -n must be at least 1");
    }
    if a.process >= a.processes {
        bail!(
            "-p {} is not a process of -n {} (use 0..{})",
            a.process,
            a.processes,
            a.processes
        );
    }
    let mut args = vec!["-w".to_string(), a.workers.to_string()];
    if a.processes > 1 {
        let hostfile = a
            .hostfile
            .as_ref()
            .context("-n above 1 needs -h HOSTFILE (one host:port per process)")?;
        args.extend([
            "-n".into(),
            a.processes.to_string(),
            "-p".into(),
            a.process.to_string(),
        ]);
        args.extend(["-h".into(), hostfile.display().to_string()]);
    }
    timely::Config::from_args(args.into_iter())
        .map_err(|e| anyhow::anyhow!("timely rejected the worker flags: {e}"))
}

/// The address of `--serve` (process 0 serves it).
fn serve_addr(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("--serve takes HOST:PORT, e.g. 127.0.0.1:8080; got {addr:?}"))?
        .next()
        .with_context(|| format!("--serve {addr:?} resolves to no address"))
}

/// The metrics address of process `process`: `addr`'s port plus the
/// process index, so that one flag serves a cluster on one host.
fn metrics_addr(addr: &str, process: usize) -> anyhow::Result<SocketAddr> {
    let mut resolved = addr
        .to_socket_addrs()
        .with_context(|| format!("--metrics-addr takes HOST:PORT, e.g. 127.0.0.1:9464; got {addr:?}"))?;
    let mut socket = resolved
        .next()
        .with_context(|| format!("--metrics-addr {addr:?} resolves to no address"))?;
    if socket.port() != 0 {
        let port = u16::try_from(socket.port() as usize + process)
            .ok()
            .with_context(|| {
                format!("--metrics-addr {addr:?}: port + process index {process} is above 65535")
            })?;
        socket.set_port(port);
    }
    Ok(socket)
}

fn validate(a: RunArgs) -> anyhow::Result<Validated> {
    let timely = timely_config(&a)?;
    for path in a.inputs.iter().chain(&a.entries) {
        format_of(path)?;
        if !path.is_file() {
            bail!("input \"{}\" does not exist or is not a file", path.display());
        }
    }
    let client = a.kafka.connection.client()?;
    let source = if let Some(topic) = &a.kafka.topic {
        if a.entries.is_some() {
            bail!("--entries reads a file: with --topic, use --entries-topic");
        }
        Source::Kafka {
            client: client.clone().context("--topic needs --kafka BROKERS")?,
            topics: SourceTopics {
                events: topic.clone(),
                entries: a.kafka.entries_topic.clone(),
                format: a.kafka.format,
            },
            stop_at_end: a.kafka.stop_at_end,
            duration: a.duration,
        }
    } else if a.inputs.is_empty() {
        if a.entries.is_some() {
            bail!("--entries needs --input (the simulator brings its own entry list)");
        }
        let shares: Vec<f64> = a
            .disorder
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .context("--disorder takes four shares, e.g. 0.01,0.02,0.005,0.001")?;
        let [duplicates, late, corrections, invalid] = shares[..] else {
            bail!(
                "--disorder takes four shares (duplicates, late, corrections, invalid), got {}",
                shares.len()
            );
        };
        // The simulated race starts now: its event times follow the wall
        // clock (exactly at --speed 1), so event-time latencies mean something.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let today = SessionDate::from_days_since_epoch(now_ms.div_euclid(86_400_000))
            .context("the system clock is outside years 1..=9999")?;
        let sim = SimConfig {
            start_ms: now_ms,
            session_date: today.to_string(),
            duplicates,
            late,
            corrections,
            invalid,
            late_max_ms: 30_000,
            ..a.race.sim_config()
        };
        sim.validate()?;
        let speed = match a.speed.as_str() {
            "max" => None,
            s => {
                let v: f64 = s
                    .parse()
                    .with_context(|| format!("--speed takes a number or \"max\", got {s:?}"))?;
                if !(v > 0.0 && v.is_finite()) {
                    bail!("--speed must be above 0");
                }
                Some(v)
            }
        };
        Source::Simulator {
            config: sim,
            speed,
            duration: a.duration,
        }
    } else {
        Source::Files {
            inputs: a.inputs,
            entries: a.entries,
        }
    };
    if a.checkpoint_interval.is_zero() {
        bail!("--checkpoint-interval must be above 0");
    }
    if a.epoch.is_zero() {
        bail!("--epoch must be above 0");
    }
    if a.kafka.out_partitions < 1 {
        bail!("--out-partitions must be at least 1");
    }
    let settings = a.kafka.topic_settings.settings()?;
    let kafka_out = client.map(|client| KafkaOut {
        client,
        topics: OutTopics::with_prefix(&a.kafka.topic_prefix),
        partitions: a.kafka.out_partitions,
        settings,
        transactions: a.kafka.kafka_transactions,
    });
    if a.max_record_bytes == 0 {
        bail!("--max-record-bytes must be above 0");
    }
    let limits = Limits {
        max_bytes: a.max_record_bytes,
        schema_id: a.schema_id,
    };
    let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let metrics_addr = a
        .metrics_addr
        .as_deref()
        .map(|s| metrics_addr(s, a.process))
        .transpose()?;
    let serve = a.serve.as_deref().map(serve_addr).transpose()?;
    Ok(Validated {
        config: RunConfig {
            source,
            data: a.data.location()?,
            checkpoint_interval: a.checkpoint_interval,
            epoch: a.epoch,
            app_id: APP_ID.into(),
            metrics_addr,
            serve,
            serve_linger: a.serve_linger,
            limits,
            expectations: Arc::new(match &a.expectations {
                Some(path) => crate::expectations::load(path)?,
                None => Suite::default(),
            }),
            kafka_out,
            fresh: a.fresh,
            retention: (a.keep_checkpoints > 0).then_some(RetentionConfig {
                keep: a.keep_checkpoints,
                every: a.retention_interval,
            }),
            silver_deletion_vectors: !a.no_deletion_vectors,
        },
        timely,
        json: a.json,
        progress,
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let v = validate(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if handler_stop.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: leave now.
            std::process::exit(130);
        }
        eprintln!("\nstopping: finishing the last checkpoint (Ctrl-C again to abort)");
    })
    .context("could not install the Ctrl-C handler")?;
    let data = v.config.data.clone();
    let progress = v.progress;
    let observer: Arc<dyn RunObserver> = if progress {
        Arc::new(ProgressLine::default())
    } else {
        Arc::new(Unobserved)
    };
    let summary = {
        // With -n, timely prints "awaiting connections" on stdout while the
        // processes connect: keep stdout for the report alone (the workers
        // write only to stderr).
        let _quiet = v.json.then(gag::Gag::stdout).and_then(Result::ok);
        run_pipeline(v.config, v.timely, stop, observer)?
    };
    if progress {
        eprintln!();
    }
    if v.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &data);
    }
    Ok(ExitCode::SUCCESS)
}

/// The live progress line on stderr (a terminal), at most twice a second.
#[derive(Default)]
struct ProgressLine {
    last: Mutex<Option<Instant>>,
}

impl RunObserver for ProgressLine {
    fn resuming(&self, checkpoint: u64, silver_rows: u64) {
        eprintln!("resuming from checkpoint {checkpoint} ({silver_rows} silver rows to restore)");
    }

    fn committed(&self, summary: &RunSummary, elapsed: Duration) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return;
        }
        *last = Some(Instant::now());
        let elapsed = elapsed.as_secs_f64().max(1e-3);
        let leader = summary.leader().map_or(String::from("-"), |c| {
            format!(
                "{} ({} laps)",
                c.driver_code
                    .clone()
                    .unwrap_or_else(|| format!("#{}", c.car_number)),
                c.laps_completed
            )
        });
        eprint!(
            "\r\x1b[2K[{:>6.1}s] checkpoint {} | records {} ({:.0}/s) | quarantined {} | silver {} | laps {} | leader {}",
            elapsed,
            summary.last_checkpoint,
            summary.records,
            summary.records as f64 / elapsed,
            summary.quarantined,
            summary.silver_rows,
            summary.lap_rows,
            leader
        );
    }
}

fn print_summary(s: &RunSummary, data: &racecast_connectors::storage::Location) {
    if let Some(n) = s.rolled_forward {
        println!("completed checkpoint {n}, which a crash had left committed to some tables only");
    }
    if let Some(n) = s.resumed_from {
        println!(
            "resumed from checkpoint {n}: {} silver rows restored in {:.1}s",
            s.restored_rows, s.restore_s
        );
    }
    println!(
        "{} records in {:.1}s ({:.0}/s): {} valid events, {} entry-list records, {} quarantined",
        s.records,
        s.elapsed_s,
        s.records as f64 / s.elapsed_s.max(1e-9),
        s.valid_events,
        s.valid_entries,
        s.quarantined
    );
    for (code, n) in &s.quarantined_by_reason {
        println!("  quarantined {code:<24} {n:>10}");
    }
    println!(
        "silver: {} rows ({} corrections applied, {} duplicates or stale revisions); gold: {} lap rows",
        s.silver_rows, s.corrections_applied, s.duplicates_or_stale, s.lap_rows
    );
    println!(
        "{} checkpoints (last: {}) committed to {}",
        s.checkpoints, s.last_checkpoint, data
    );
    if !s.classification.is_empty() {
        println!("\nclassification");
        println!("  pos  car  driver  laps        time         gap     best lap");
        for c in &s.classification {
            let time = format!("{:.3}s", c.total_time_ms as f64 / 1000.0);
            let gap = c
                .gap_to_leader_ms
                .map_or("-".into(), |g| format!("+{:.3}s", g as f64 / 1000.0));
            let best = c
                .best_lap_ms
                .map_or("-".into(), |b| format!("{:.3}s", b as f64 / 1000.0));
            println!(
                "  {:>3}  {:>3}  {:<6} {:>5} {:>12} {:>11} {:>12}{}",
                c.position,
                c.car_number,
                c.driver_code.as_deref().unwrap_or("?"),
                c.laps_completed,
                time,
                gap,
                best,
                if c.fastest_lap { "  fastest lap" } else { "" }
            );
        }
    }
}
