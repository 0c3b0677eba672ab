//! `racecast simulate`: runs the race simulator into a record file and writes
//! the entry list beside it, or produces both to Kafka topics (events keyed
//! by car number, so each car's stream keeps its delivery order within a
//! partition), as fast as possible or paced like a live race.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use racecast_connectors::files::{RecordWriter, format_of};
use racecast_connectors::kafka::producer::Headers;
use racecast_connectors::kafka::{CheckpointProducer, ensure_topics};
use racecast_dataflow::Format;
use racecast_dataflow::codec::json;
use racecast_proto::v1 as pb;
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};

use crate::cli::SimulateArgs;

/// A validated `simulate` invocation.
struct SimulateConfig {
    target: Target,
    sim: SimConfig,
    progress: bool,
}

/// Where the records go.
enum Target {
    Files {
        out: PathBuf,
        entries_out: PathBuf,
    },
    Kafka {
        brokers: String,
        topic: String,
        entries_topic: String,
        format: Format,
        partitions: i32,
        /// Race time per wall time; `None` = as fast as possible.
        speed: Option<f64>,
    },
}

impl TryFrom<SimulateArgs> for SimulateConfig {
    type Error = anyhow::Error;

    fn try_from(a: SimulateArgs) -> anyhow::Result<Self> {
        let target = match (a.out, a.kafka, a.topic) {
            (Some(out), None, _) => {
                format_of(&out)?;
                let entries_out = a.entries_out.unwrap_or_else(|| {
                    let mut name = out.clone().into_os_string();
                    name.push(".entries.jsonl");
                    name.into()
                });
                format_of(&entries_out)?;
                Target::Files { out, entries_out }
            }
            (None, Some(brokers), Some(topic)) => {
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
                Target::Kafka {
                    brokers,
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

/// Where [`run`] puts each record.
trait Sink {
    fn event(&mut self, event: &pb::TelemetryEvent) -> anyhow::Result<()>;
    fn raw(&mut self, bytes: &[u8]) -> anyhow::Result<()>;
}

impl Sink for RecordWriter<std::io::BufWriter<std::fs::File>> {
    fn event(&mut self, event: &pb::TelemetryEvent) -> anyhow::Result<()> {
        Ok(self.write_event(event)?)
    }

    fn raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        Ok(self.write_raw(bytes)?)
    }
}

/// Produces to a topic, keyed by car number.
struct TopicSink {
    producer: CheckpointProducer,
    topic: String,
    format: Format,
    buffer: Vec<u8>,
    sent: u64,
}

impl TopicSink {
    fn send(&mut self, key: Option<&[u8]>, value: &[u8]) -> anyhow::Result<()> {
        self.producer.send(&self.topic, key, value, Headers::new())?;
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            self.producer.poll();
        }
        Ok(())
    }
}

impl Sink for TopicSink {
    fn event(&mut self, event: &pb::TelemetryEvent) -> anyhow::Result<()> {
        let mut value = std::mem::take(&mut self.buffer);
        value.clear();
        match self.format {
            Format::Json => json::encode_event(event, &mut value),
            Format::Protobuf => racecast_proto::Message::encode(event, &mut value)?,
        }
        let key = event.car_number.unwrap_or_default().to_string();
        let result = self.send(Some(key.as_bytes()), &value);
        self.buffer = value;
        result
    }

    fn raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.send(None, bytes)
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimulateConfig::try_from(args)?;
    match &config.target {
        Target::Files { out, entries_out } => {
            let mut entries = RecordWriter::create(entries_out)?;
            for entry in entry_list(&config.sim) {
                entries.write_entry(&entry)?;
            }
            entries.finish()?;
            let mut writer = RecordWriter::create(out)?;
            let records = simulate(&config, &mut writer, None)?;
            writer.finish()?;
            eprintln!(
                "wrote {records} records ({} cars, {} laps, seed {}) to {} and the entry list to {}",
                config.sim.cars,
                config.sim.laps,
                config.sim.seed,
                out.display(),
                entries_out.display()
            );
        }
        Target::Kafka {
            brokers,
            topic,
            entries_topic,
            format,
            partitions,
            speed,
        } => {
            ensure_topics(brokers, &[(topic, *partitions), (entries_topic, 1)])?;
            let producer = CheckpointProducer::new(brokers, None)?;
            let mut sink = TopicSink {
                producer,
                topic: entries_topic.clone(),
                format: *format,
                buffer: Vec::new(),
                sent: 0,
            };
            for entry in entry_list(&config.sim) {
                let mut value = Vec::new();
                match format {
                    Format::Json => json::encode_entry(&entry, &mut value),
                    Format::Protobuf => racecast_proto::Message::encode(&entry, &mut value)?,
                }
                let key = entry.car_number.unwrap_or_default().to_string();
                sink.send(Some(key.as_bytes()), &value)?;
            }
            sink.topic = topic.clone();
            let records = simulate(&config, &mut sink, *speed)?;
            sink.producer.finish(0)?;
            eprintln!(
                "produced {records} records ({} cars, {} laps, seed {}) to {topic} and the entry list to {entries_topic} at {brokers}",
                config.sim.cars, config.sim.laps, config.sim.seed,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the race into `sink`, paced at `speed` when given; returns the
/// number of records.
fn simulate(config: &SimulateConfig, sink: &mut dyn Sink, speed: Option<f64>) -> anyhow::Result<u64> {
    let mut simulator = Simulator::new(config.sim.clone());
    let started = Instant::now();
    let mut race_start = None;
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
        if let Some(speed) = speed {
            let start = *race_start.get_or_insert(delivery.arrival_ms);
            let due = Duration::from_secs_f64((delivery.arrival_ms - start).max(0) as f64 / 1000.0 / speed);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        match &delivery.record {
            SimRecord::Event(e) => sink.event(e)?,
            SimRecord::Garbage(bytes) => sink.raw(bytes)?,
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
    bar.finish_and_clear();
    Ok(records)
}
