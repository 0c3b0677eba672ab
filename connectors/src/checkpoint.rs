//! Checkpoints: the two sink operators of `racecast run`.
//!
//! ```text
//! every worker                                        worker 0
//! ┌─────────────────────────────────────┐             ┌──────────────────────────────┐
//! │ PartSink: bronze, quarantine (where │  Part per   │ CommitSink: gold changes and │
//! │ read), silver (routed by date, car),│─ checkpoint ▶│ every worker's parts; once   │
//! │ positions; when the frontier passes │  (actions,  │ the frontier passes a        │
//! │ a boundary: writes the files        │  counts)    │ boundary: one commit / table │
//! └─────────────────────────────────────┘             └──────────────────────────────┘
//! ```
//!
//! Checkpoint boundaries are fixed epochs, every `k` epochs (the checkpoint
//! interval over the epoch length), so that every worker cuts its part at
//! the same epochs without talking to the others. A worker writes one part
//! per boundary; worker 0 commits every part (and gold) below the last
//! boundary its frontier has passed, so each Delta commit holds every
//! worker's epochs below one boundary: one consistent frontier. A backlog of
//! several boundaries is committed at once (files added and replaced inside
//! it are left out of the commit).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racecast_dataflow::bronze::{BronzeRow, QuarantineRow, RecordKind};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::{SessionDate, Time};
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;

use crate::delta::{
    Bucket, CheckpointInfo, DeltaError, DeltaSink, PartChanges, PartWriter, Table, TableCommit, TablePart,
    bucket_of, merge_part,
};
use crate::kafka::{KafkaEmitter, ProgressRecord};
use crate::metrics::{DELTA, Metrics, RowLabels, SinkLabels, TableLabels};
use crate::positions::{Position, Positions};
use crate::run::{ClassifiedCar, RetentionConfig, RunError, Shared, now_ms};

/// What the dataflow hands to the sinks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Update {
    /// A bronze row (to the worker that read it).
    Bronze(BronzeRow),
    /// A quarantine row (to the worker that read it).
    Quarantine(QuarantineRow),
    /// A silver change at its time (to the worker that owns its date and
    /// car). Differential sends changes under a capability at or before
    /// their time, so the time travels with the change.
    Silver(SilverRow, Time, isize),
    /// A source position (to the worker that read it).
    Position(Position),
    /// The run id, broadcast by worker 0 at the first epoch (it tags the
    /// Kafka records every worker writes).
    Run(String),
    /// The worker failed (what it read from then on is missing): the
    /// commit sink commits nothing more.
    Failed(String),
}

/// What worker 0's commit operator receives.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum ToCommit {
    /// One worker's part of a checkpoint.
    Part(Part),
    /// A lap-metric change at its time (differential sends a change under a
    /// capability at or before its time: the time travels with it).
    Lap(LapRow, Time, isize),
    /// A session-metric change at its time.
    Session(SessionRow, Time, isize),
}

/// The routing key of a silver row's files: its (`session_date`,
/// `car_number`), as the car number plus the date's day number, so that a
/// race's cars (numbers spread over 1..=99) spread evenly over the workers
/// (a hash spreads 20 keys over 2 workers far less evenly), the same in
/// every process.
pub fn silver_owner(session_date: SessionDate, car_number: u8) -> u64 {
    u64::from(car_number) + u64::from(session_date.days_since_epoch().unsigned_abs())
}

/// The first boundary after epoch `t`: `t`'s checkpoint holds the epochs
/// `[boundary - k, boundary)`.
pub fn boundary_after(t: Time, k: u64) -> Time {
    (t / k + 1).saturating_mul(k)
}

/// The last boundary at or below the frontier: every epoch below it is
/// complete (`Time::MAX` once the frontier is empty).
pub fn complete_below(frontier: AntichainRef<'_, Time>, k: u64) -> Time {
    frontier.iter().min().map_or(Time::MAX, |f| f / k * k)
}

/// The number of the checkpoint holding epoch `t`: the index of the
/// boundary after it (so numbers can skip over idle intervals, and a
/// resumed run keeps counting where its epochs are).
pub fn checkpoint_number(t: Time, k: u64) -> u64 {
    boundary_after(t, k) / k
}

/// Epochs per checkpoint: the interval over the epoch length, at least 1.
pub fn epochs_per_checkpoint(interval: Duration, epoch: Duration) -> u64 {
    (interval.as_nanos() / epoch.as_nanos().max(1)).max(1) as u64
}

/// Millisecond values, run-length encoded (records arrive mostly in time
/// order, so runs are long).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MsRuns(Vec<(i64, u64)>);

impl MsRuns {
    fn add(&mut self, ms: i64) {
        self.add_n(ms, 1);
    }

    fn add_n(&mut self, ms: i64, n: u64) {
        match self.0.last_mut() {
            Some((last, count)) if *last == ms => *count += n,
            _ => self.0.push((ms, n)),
        }
    }

    fn extend(&mut self, other: MsRuns) {
        for (ms, n) in other.0 {
            self.add_n(ms, n);
        }
    }

    /// `(now - time, count)` for every time not after `now`.
    fn ages(&self, now: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.0
            .iter()
            .filter(move |(t, _)| *t <= now)
            .map(move |(t, n)| (now - t, *n))
    }
}

/// What a checkpoint's latencies are measured from.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Latencies {
    /// Ingest times of its records.
    ingested: MsRuns,
    /// Ingest to the frontier passing the record's epoch, per record.
    processing: MsRuns,
    /// Event times of the silver rows it inserts.
    event_time: MsRuns,
}

/// One table's share of a part, as it crosses workers and processes
/// (actions as Delta log JSON).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WireTablePart {
    table: String,
    actions: Vec<String>,
    write_us: u64,
    inserted: u64,
    retracted: u64,
}

/// One worker's part of one checkpoint: the files it wrote and what it
/// counted.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The checkpoint (boundary index) it belongs to.
    checkpoint: u64,
    tables: Vec<WireTablePart>,
    records: u64,
    valid_events: u64,
    valid_entries: u64,
    quarantined: u64,
    reasons: BTreeMap<String, u64>,
    silver_delta: i64,
    corrections: u64,
    /// (session id, car number) → driver code, from the entries of silver rows.
    drivers: BTreeMap<(String, u8), String>,
    positions: Vec<Position>,
    latencies: Option<Latencies>,
    /// Why the worker's share of the checkpoint is missing, if it is.
    failed: Option<String>,
}

/// One checkpoint's silver changes as they arrived, by bucket.
type SilverBuckets = HashMap<Bucket, Vec<(SilverRow, isize)>>;

/// A checkpoint's silver changes, consolidated ([`consolidate_silver`]).
struct SilverChanges<'a> {
    /// Per bucket, rows with their summed differences (none zero), in the
    /// order a silver file holds them.
    buckets: BTreeMap<Bucket, Vec<(&'a SilverRow, isize)>>,
    /// Corrections applied: ids retracted and re-inserted with another
    /// revision.
    corrections: u64,
}

/// Silver changes consolidated: per bucket, the differences of equal rows
/// summed and rows whose sum is zero dropped, ordered by (event type, time,
/// sequence) as the sink writes them; and the corrections among them
/// counted.
///
/// The rows were put in their bucket as they arrived (while in cache), so
/// that everything here reads one bucket's rows at a time: reading a
/// checkpoint's rows in any global order (by id hash, before) cost a cache
/// miss per row and pass. Only references are sorted; no row is moved.
fn consolidate_silver(silver: &SilverBuckets) -> SilverChanges<'_> {
    let mut buckets = BTreeMap::new();
    for (bucket, rows) in silver {
        let mut order: Vec<(&SilverRow, isize)> = rows.iter().map(|(r, d)| (r, *d)).collect();
        order.sort_unstable_by(|(a, _), (b, _)| {
            let key = |r: &SilverRow| (r.event.event_type(), r.event.timestamp_ms, r.event.sequence);
            key(a).cmp(&key(b)).then_with(|| a.cmp(b))
        });
        let mut summed: Vec<(&SilverRow, isize)> = Vec::with_capacity(order.len());
        for (row, d) in order {
            match summed.last_mut() {
                Some((previous, sum)) if *previous == row => *sum += d,
                _ => summed.push((row, d)),
            }
        }
        summed.retain(|(_, sum)| *sum != 0);
        if !summed.is_empty() {
            buckets.insert(*bucket, summed);
        }
    }
    // A correction retracts the old revision and inserts the new one,
    // perhaps in another lap's bucket: match insertions against the (few)
    // retractions by id hash, then by id.
    let route = |row: &SilverRow| racecast_dataflow::route::route(&row.event.event_id());
    let mut retracted: HashMap<u64, Vec<&SilverRow>> = HashMap::new();
    for (row, _) in buckets.values().flatten().filter(|(_, d)| *d < 0) {
        retracted.entry(route(row)).or_default().push(row);
    }
    let corrections = if retracted.is_empty() {
        0
    } else {
        buckets
            .values()
            .flatten()
            .filter(|(row, d)| {
                *d > 0
                    && retracted.get(&route(row)).is_some_and(|old| {
                        old.iter().any(|o| {
                            o.event.event_id() == row.event.event_id()
                                && o.event.revision != row.event.revision
                        })
                    })
            })
            .count() as u64
    };
    SilverChanges { buckets, corrections }
}

/// Capacity of the batches a [`PartSink`] makes for updates that arrive
/// in a batch of another epoch.
const LOOSE_BATCH: usize = 1024;

/// Starting capacity of a checkpoint's silver bucket (most get hundreds
/// to thousands of rows; a few late ones get one).
const BUCKET_START: usize = 64;

/// One pending epoch of a [`PartSink`].
struct Epoch {
    capability: Capability<Time>,
    /// The epoch's updates, in the batches they arrived in: a batch is
    /// kept whole rather than copied into one growing vector (whose
    /// doublings copied every update again into freshly faulted pages).
    batches: Vec<Vec<Update>>,
    /// When the frontier first passed the epoch (Unix ms).
    processed_ms: Option<i64>,
}

/// A worker's part sink: writes its files once per checkpoint boundary.
pub struct PartSink {
    k: u64,
    worker: usize,
    writer: Option<PartWriter>,
    kafka: Option<KafkaEmitter>,
    sources: Vec<String>,
    run_id: Option<String>,
    shared: Arc<Shared>,
    pending: BTreeMap<Time, Epoch>,
    /// Silver changes by the boundary of their checkpoint, then bucket.
    silver: BTreeMap<Time, SilverBuckets>,
    measure: bool,
}

impl PartSink {
    /// A part sink writing under `data`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        data: &std::path::Path,
        sources: Vec<String>,
        worker: usize,
        silver_files: Vec<deltalake::kernel::Add>,
        deletion_vectors: bool,
        k: u64,
        shared: Arc<Shared>,
        measure: bool,
        kafka: Option<KafkaEmitter>,
    ) -> PartSink {
        let writer = match PartWriter::open(data, sources.clone(), worker, silver_files, deletion_vectors) {
            Ok(writer) => Some(writer),
            Err(e) => {
                shared.fail(RunError::Delta(e));
                None
            }
        };
        PartSink {
            k,
            worker,
            writer,
            kafka,
            sources,
            run_id: None,
            shared,
            pending: BTreeMap::new(),
            silver: BTreeMap::new(),
            measure,
        }
    }

    /// Buffers `updates` of the epoch `capability` holds.
    /// Silver changes go to the epoch of their own time (at or after the
    /// capability's) and into their bucket; everything else to the
    /// capability's epoch, in the batches it came in.
    pub fn push(&mut self, capability: Capability<Time>, updates: &mut Vec<Update>) {
        let at = *capability.time();
        if !updates.iter().any(|u| matches!(u, Update::Silver(..))) {
            // A batch is kept whole rather than copied into one growing
            // vector (whose doublings copied every update again into
            // freshly faulted pages).
            let batch = std::mem::take(updates);
            self.epoch(&capability, at).batches.push(batch);
            return;
        }
        for update in updates.drain(..) {
            match update {
                Update::Silver(row, t, d) => {
                    let time = t.max(at);
                    // The epoch holds the capability its part goes out at.
                    self.epoch(&capability, time);
                    let bucket = bucket_of(&row);
                    self.silver
                        .entry(boundary_after(time, self.k))
                        .or_default()
                        .entry(bucket)
                        .or_insert_with(|| Vec::with_capacity(BUCKET_START))
                        .push((row, d));
                }
                update => {
                    let batches = &mut self.epoch(&capability, at).batches;
                    match batches.last_mut() {
                        Some(batch) if batch.len() < batch.capacity() => batch.push(update),
                        _ => {
                            let mut batch = Vec::with_capacity(LOOSE_BATCH);
                            batch.push(update);
                            batches.push(batch);
                        }
                    }
                }
            }
        }
    }

    /// The pending epoch `time` (at or after `capability`'s), created if new.
    fn epoch(&mut self, capability: &Capability<Time>, time: Time) -> &mut Epoch {
        self.pending.entry(time).or_insert_with(|| Epoch {
            capability: capability.delayed(&time),
            batches: Vec::new(),
            processed_ms: None,
        })
    }

    /// Writes the part of every complete checkpoint; returns each with the
    /// capability to send it at.
    pub fn complete(&mut self, frontier: AntichainRef<'_, Time>) -> Vec<(Capability<Time>, Part)> {
        if self.measure {
            let now = now_ms();
            for (_, epoch) in self
                .pending
                .iter_mut()
                .take_while(|(t, _)| !frontier.less_equal(t))
            {
                epoch.processed_ms.get_or_insert(now);
            }
        }
        let below = complete_below(frontier, self.k);
        let mut out = Vec::new();
        while let Some((&first, _)) = self.pending.first_key_value() {
            let boundary = boundary_after(first, self.k);
            if boundary > below {
                break;
            }
            let rest = self.pending.split_off(&boundary);
            let epochs = std::mem::replace(&mut self.pending, rest);
            // Silver is kept by boundary: take every boundary up to this one.
            let mut rest = self.silver.split_off(&boundary);
            // (Every silver change has an epoch, so no earlier boundary is
            // left; merged all the same, should one be.)
            let mut silver = rest.remove(&boundary).unwrap_or_default();
            for buckets in std::mem::replace(&mut self.silver, rest).into_values() {
                for (bucket, rows) in buckets {
                    silver.entry(bucket).or_default().extend(rows);
                }
            }
            if let Some(part) = self.write(epochs, silver) {
                out.push(part);
            }
        }
        out
    }

    fn write(
        &mut self,
        epochs: BTreeMap<Time, Epoch>,
        silver: SilverBuckets,
    ) -> Option<(Capability<Time>, Part)> {
        // (`None` only when no epoch was given.)
        let mut part = Part::default();
        let mut changes = PartChanges::default();
        let mut latencies = self.measure.then(Latencies::default);
        let mut positions: BTreeMap<(u32, u32), Position> = BTreeMap::new();
        let first = epochs.first_key_value().map_or(0, |(t, _)| *t);
        part.checkpoint = checkpoint_number(first, self.k);
        let (mut bronze, mut quarantine) = (0, 0);
        for update in epochs.values().flat_map(|e| &e.batches).flatten() {
            match update {
                Update::Bronze(_) => bronze += 1,
                Update::Quarantine(_) => quarantine += 1,
                _ => {}
            }
        }
        changes.bronze.reserve_exact(bronze);
        changes.quarantine.reserve_exact(quarantine);
        for epoch in epochs.values() {
            for update in epoch.batches.iter().flatten() {
                match update {
                    Update::Bronze(row) => {
                        part.records += 1;
                        match (row.valid, row.record.kind) {
                            (true, RecordKind::Event) => part.valid_events += 1,
                            (true, RecordKind::Entry) => part.valid_entries += 1,
                            (false, _) => {}
                        }
                        if let Some(l) = latencies.as_mut() {
                            l.ingested.add(row.record.ingested_ms);
                            if let Some(processed) = epoch.processed_ms {
                                l.processing.add(processed - row.record.ingested_ms);
                            }
                        }
                        changes.bronze.push(row);
                    }
                    Update::Quarantine(row) => {
                        part.quarantined += 1;
                        for code in row.reasons.codes() {
                            *part.reasons.entry(code).or_default() += 1;
                        }
                        changes.quarantine.push(row);
                    }
                    // (Silver changes are kept by bucket: see `push`.)
                    Update::Silver(..) => {}
                    Update::Position(p) => Positions::merge(&mut positions, *p),
                    Update::Run(id) => self.run_id = Some(id.clone()),
                    Update::Failed(why) => part.failed = Some(why.clone()),
                }
            }
        }
        part.positions = positions.into_values().collect();
        let consolidated = consolidate_silver(&silver);
        changes.silver = consolidated.buckets;
        part.corrections = consolidated.corrections;
        let mut drivers = HashMap::new();
        for (row, d) in changes.silver.values().flatten() {
            part.silver_delta += *d as i64;
            if let Some(entry) = &row.entry {
                drivers.insert((entry.session_id, entry.car_number), entry.driver_code);
            }
            if let (Some(l), true) = (latencies.as_mut(), *d > 0) {
                l.event_time.add(row.event.timestamp_ms);
            }
        }
        part.drivers = drivers
            .into_iter()
            .map(|((s, c), d)| ((s.to_string(), c), d.to_string()))
            .collect();
        part.latencies = latencies;
        // Kafka delivers in the background while the Delta files are
        // written; the part goes to worker 0 only once both are done. A
        // part that could not be written goes too, marked failed, so that
        // worker 0 commits nothing without it.
        if part.failed.is_none()
            && let Err(why) = self.write_part(&mut part, &changes)
        {
            part.failed = Some(format!("worker {}: {why}", self.worker));
        }
        let capability = epochs.into_values().next()?.capability;
        Some((capability, part))
    }

    /// Sends `changes` to Kafka (when wanted) and writes their Delta files,
    /// recording them in `part`. After a failure, this sink writes nothing
    /// more and fails the run.
    fn write_part(&mut self, part: &mut Part, changes: &PartChanges) -> Result<(), String> {
        if self.writer.is_none() {
            return Err("its sink failed at an earlier checkpoint".into());
        }
        if self.worker == 1 && crate::crash::armed("fail-part", part.checkpoint) {
            self.writer = None;
            let why = format!(
                "could not write checkpoint {} (injected by {})",
                part.checkpoint,
                crate::crash::CRASH_AT
            );
            self.shared.fail(RunError::Worker(why.clone()));
            return Err(why);
        }
        if let (Some(kafka), Some(run)) = (self.kafka.as_mut(), self.run_id.as_deref()) {
            let silver: Vec<(&SilverRow, isize)> = changes.silver.values().flatten().copied().collect();
            let sent = kafka.send_part(part.checkpoint, run, &silver, &changes.quarantine, &self.sources);
            if let Err(e) = sent {
                return Err(self.kafka_failed(e));
            }
        }
        self.write_files(part, changes)?;
        if let Some(kafka) = self.kafka.as_mut()
            && let Err(e) = kafka.finish(part.checkpoint)
        {
            return Err(self.kafka_failed(e));
        }
        Ok(())
    }

    /// Stops writing (Kafka and Delta) and fails the run.
    fn kafka_failed(&mut self, error: crate::kafka::KafkaError) -> String {
        self.kafka = None;
        self.writer = None;
        let why = error.to_string();
        self.shared.fail(RunError::Kafka(error));
        why
    }

    /// Writes `changes`' Delta files, recording them in `part`.
    fn write_files(&mut self, part: &mut Part, changes: &PartChanges) -> Result<(), String> {
        let Some(writer) = self.writer.as_mut() else {
            return Err("its sink failed at an earlier checkpoint".into());
        };
        match writer.write(changes) {
            Ok(tables) => {
                part.tables = tables
                    .into_iter()
                    .map(|(table, t)| WireTablePart {
                        table: table.path().to_owned(),
                        actions: t
                            .actions
                            .iter()
                            .map(|a| serde_json::to_string(a).expect("Delta actions serialize to JSON"))
                            .collect(),
                        write_us: t.write.as_micros() as u64,
                        inserted: t.inserted,
                        retracted: t.retracted,
                    })
                    .collect();
                Ok(())
            }
            Err(e) => {
                self.writer = None;
                let why = e.to_string();
                self.shared.fail(RunError::Delta(e));
                Err(why)
            }
        }
    }
}

/// Worker 0's commit sink: turns complete checkpoints into Delta commits.
pub struct CommitSink {
    k: u64,
    pending: BTreeMap<Time, Vec<ToCommit>>,
    runtime: tokio::runtime::Runtime,
    delta: Option<DeltaSink>,
    shared: Arc<Shared>,
    /// The last checkpoint committed (0: none yet).
    last_number: u64,
    app_id: String,
    run_id: String,
    kafka: Option<KafkaEmitter>,
    /// Sources, and the positions of every checkpoint so far.
    positions: Positions,
    next: BTreeMap<(u32, u32), Position>,
    /// Epochs up to this one restore a resumed run's state: their gold
    /// changes are the tables' content already (the sink's baseline).
    restore_until: Option<Time>,
    baseline: (BTreeMap<LapRow, isize>, BTreeMap<SessionRow, isize>),
    retention: Option<RetentionConfig>,
    last_retention: Instant,
    drivers: HashMap<(String, u8), String>,
    progress: bool,
    started: Instant,
    last_progress: Instant,
    metrics: Option<Arc<Metrics>>,
}

impl CommitSink {
    /// Opens (creating) the tables under `data`. `positions` names the
    /// sources and holds the positions the run starts from; a resumed run
    /// passes the checkpoint it resumes from and its last restore epoch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        data: &std::path::Path,
        app_id: &str,
        run_id: &str,
        k: u64,
        positions: Positions,
        resumed: Option<(u64, Time)>,
        retention: Option<RetentionConfig>,
        progress: bool,
        shared: Arc<Shared>,
        metrics: Option<Arc<Metrics>>,
        kafka: Option<KafkaEmitter>,
    ) -> CommitSink {
        let runtime = crate::run::runtime();
        let delta = match runtime.block_on(DeltaSink::open(data, app_id)) {
            Ok(delta) => Some(delta),
            Err(e) => {
                shared.fail(RunError::Delta(e));
                None
            }
        };
        CommitSink {
            k,
            pending: BTreeMap::new(),
            runtime,
            delta,
            shared,
            last_number: resumed.map_or(0, |(n, _)| n),
            app_id: app_id.to_owned(),
            run_id: run_id.to_owned(),
            kafka,
            next: positions.map(),
            positions,
            restore_until: resumed.map(|(_, until)| until),
            baseline: Default::default(),
            retention,
            last_retention: Instant::now(),
            drivers: HashMap::new(),
            progress,
            started: Instant::now(),
            last_progress: Instant::now(),
            metrics,
        }
    }

    /// Names drivers by the entry list a resumed run restored (the
    /// classification shows them before any new silver row arrives).
    pub(crate) fn know_drivers(&mut self, entries: &[racecast_dataflow::Entry]) {
        for e in entries {
            self.drivers.insert(
                (e.session_id.to_string(), e.car_number),
                e.driver_code.to_string(),
            );
        }
    }

    /// Buffers what arrived at `time`.
    /// Gold changes go to their own time (at or after the message's),
    /// parts to the message's. A failed part stops all further commits.
    pub fn push(&mut self, time: Time, items: &mut Vec<ToCommit>) {
        for item in items.drain(..) {
            if let ToCommit::Part(part) = &item
                && let Some(why) = &part.failed
            {
                if self.delta.take().is_some() {
                    self.shared.fail(RunError::Worker(why.clone()));
                }
                continue;
            }
            let at = match &item {
                ToCommit::Lap(_, t, _) | ToCommit::Session(_, t, _) => (*t).max(time),
                ToCommit::Part(_) => time,
            };
            if self.restore_until.is_some_and(|until| at <= until) {
                match item {
                    ToCommit::Lap(row, _, d) => *self.baseline.0.entry(row).or_insert(0) += d,
                    ToCommit::Session(row, _, d) => *self.baseline.1.entry(row).or_insert(0) += d,
                    ToCommit::Part(_) => {}
                }
                continue;
            }
            self.pending.entry(at).or_default().push(item);
        }
    }

    /// Once the restore epochs are complete: takes gold as restored (the
    /// tables' content) as the sink's baseline.
    fn take_baseline(&mut self, frontier: AntichainRef<'_, Time>) {
        let Some(until) = self.restore_until else {
            return;
        };
        if frontier.less_equal(&until) {
            return;
        }
        self.restore_until = None;
        let (laps, sessions) = std::mem::take(&mut self.baseline);
        let (laps, sessions) = (set_of(laps), set_of(sessions));
        let mut summary = self.shared.summary.lock().expect("lock");
        summary.lap_rows = laps.len() as i64;
        let changes: Vec<(SessionRow, isize)> = sessions.iter().map(|r| (r.clone(), 1)).collect();
        apply_classification(&mut summary.classification, changes, &self.drivers);
        drop(summary);
        if let Some(delta) = self.delta.as_mut() {
            delta.restore_gold(laps, sessions);
        }
    }

    /// Commits everything below the last boundary the frontier has passed.
    pub fn maybe_commit(&mut self, frontier: AntichainRef<'_, Time>) {
        self.take_baseline(frontier);
        let below = complete_below(frontier, self.k);
        if self.pending.first_key_value().is_none_or(|(t, _)| *t >= below) {
            return;
        }
        if frontier.is_empty() {
            // The input is done: the state is whole, and still alive.
            self.shared.summary.lock().expect("lock").rss_at_end =
                crate::metrics::process::resident_bytes().unwrap_or(0);
        }
        let rest = self.pending.split_off(&below);
        let ready = std::mem::replace(&mut self.pending, rest);
        if let Err(e) = self
            .commit(ready, frontier.is_empty())
            .and_then(|()| self.retain())
        {
            self.delta = None;
            self.shared.fail(RunError::Delta(e));
        }
    }

    /// Runs retention when it is due.
    fn retain(&mut self) -> Result<(), DeltaError> {
        let (Some(retention), Some(delta)) = (self.retention, self.delta.as_mut()) else {
            return Ok(());
        };
        if self.last_retention.elapsed() < retention.every {
            return Ok(());
        }
        self.last_retention = Instant::now();
        self.runtime.block_on(crate::delta::retention::apply(
            delta,
            retention.keep,
            crate::delta::retention::Sweep::Replaced,
        ))?;
        Ok(())
    }

    /// Commits `ready` as one checkpoint (`last`: the run's last one).
    fn commit(&mut self, ready: BTreeMap<Time, Vec<ToCommit>>, last: bool) -> Result<(), DeltaError> {
        let Some(delta) = self.delta.as_mut() else {
            return Ok(());
        };
        let Some(number) = ready.last_key_value().map(|(t, _)| checkpoint_number(*t, self.k)) else {
            return Ok(());
        };
        let started = Instant::now();
        let (mut laps, mut sessions) = (BTreeMap::new(), BTreeMap::new());
        let mut tables: BTreeMap<Table, TablePart> = BTreeMap::new();
        let mut latencies = Latencies::default();
        let mut summary = self.shared.summary.lock().expect("lock");
        for item in ready.into_values().flatten() {
            match item {
                ToCommit::Lap(row, _, d) => *laps.entry(row).or_insert(0) += d,
                ToCommit::Session(row, _, d) => *sessions.entry(row).or_insert(0) += d,
                ToCommit::Part(part) => {
                    summary.records += part.records;
                    summary.valid_events += part.valid_events;
                    summary.valid_entries += part.valid_entries;
                    summary.quarantined += part.quarantined;
                    for (code, n) in part.reasons {
                        *summary.quarantined_by_reason.entry(code).or_default() += n;
                    }
                    summary.silver_rows += part.silver_delta;
                    summary.corrections_applied += part.corrections;
                    self.drivers.extend(part.drivers);
                    for p in part.positions {
                        Positions::merge(&mut self.next, p);
                    }
                    if let Some(l) = part.latencies {
                        latencies.ingested.extend(l.ingested);
                        latencies.processing.extend(l.processing);
                        latencies.event_time.extend(l.event_time);
                    }
                    for wire in part.tables {
                        let Some(table) = Table::ALL.into_iter().find(|t| t.path() == wire.table) else {
                            continue;
                        };
                        let actions = wire
                            .actions
                            .iter()
                            .map(|a| serde_json::from_str(a).expect("actions written by a part sink parse"))
                            .collect();
                        merge_part(
                            tables.entry(table).or_default(),
                            TablePart {
                                actions,
                                write: Duration::from_micros(wire.write_us),
                                inserted: wire.inserted,
                                retracted: wire.retracted,
                            },
                        );
                    }
                }
            }
        }
        let laps: Vec<(LapRow, isize)> = laps.into_iter().filter(|(_, d)| *d != 0).collect();
        let sessions: Vec<(SessionRow, isize)> = sessions.into_iter().filter(|(_, d)| *d != 0).collect();
        summary.lap_rows += laps.iter().map(|(_, d)| *d as i64).sum::<i64>();
        summary.duplicates_or_stale = summary
            .valid_events
            .saturating_sub(summary.silver_rows.max(0) as u64 + summary.corrections_applied);
        let session_changes = sessions.clone();
        let moved = self.positions.map() != self.next;
        self.positions.set(&self.next);
        let idle =
            !moved && laps.is_empty() && sessions.is_empty() && tables.values().all(|t| t.actions.is_empty());
        if idle && self.last_number > 0 {
            // Nothing read, nothing changed (e.g. a run resumed over input
            // it had read to the end): no checkpoint to add.
            return Ok(());
        }
        let info = CheckpointInfo {
            number,
            run_id: self.run_id.clone(),
            positions: self.positions.clone(),
            last,
        };
        drop(summary);
        // Gold goes to Kafka while the Delta tables commit; the progress
        // record, written last, waits for both.
        let gold_sent = self
            .kafka
            .as_mut()
            .map(|kafka| kafka.send_gold(number, &self.run_id, &laps, &session_changes));
        let commits = self
            .runtime
            .block_on(delta.commit(&info, tables, laps, sessions))?;
        if let (Some(kafka), Some(sent)) = (self.kafka.as_mut(), gold_sent) {
            let emitted = sent.and_then(|()| kafka.finish(number)).and_then(|()| {
                kafka.emit_progress(&ProgressRecord {
                    app_id: self.app_id.clone(),
                    checkpoint: number,
                    after: self.last_number,
                    run: self.run_id.clone(),
                    positions: self.positions.to_json(),
                    completed_ms: now_ms(),
                    delta_versions: commits
                        .iter()
                        .filter_map(|(t, c)| Some((t.path().to_owned(), c.version?)))
                        .collect(),
                })
            });
            if let Err(e) = emitted {
                self.kafka = None;
                self.shared.fail(RunError::Kafka(e));
            }
        }
        if let Some(m) = &self.metrics {
            record_commit(m, &commits, latencies, number, started.elapsed());
        }
        let mut summary = self.shared.summary.lock().expect("lock");
        summary.checkpoints += 1;
        summary.last_checkpoint = number;
        self.last_number = number;
        apply_classification(&mut summary.classification, session_changes, &self.drivers);
        if self.progress && self.last_progress.elapsed() >= Duration::from_millis(500) {
            self.last_progress = Instant::now();
            let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
            let leader = summary.classification.first().map_or(String::from("-"), |c| {
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
        Ok(())
    }
}

/// The rows of consolidated changes that form a set (every count 1).
fn set_of<T: Ord>(changes: BTreeMap<T, isize>) -> Vec<T> {
    changes
        .into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|(row, d)| {
            debug_assert_eq!(d, 1, "restored gold is a set");
            row
        })
        .collect()
}

fn record_commit(
    m: &Metrics,
    commits: &BTreeMap<Table, TableCommit>,
    latencies: Latencies,
    number: u64,
    duration: Duration,
) {
    let now = now_ms();
    let sink = SinkLabels { sink: DELTA };
    m.ingest_to_commit
        .get_or_create(&sink)
        .record_ms(latencies.ingested.ages(now));
    m.processing.record_ms(latencies.processing.0.iter().copied());
    m.event_to_commit
        .get_or_create(&sink)
        .record_ms(latencies.event_time.ages(now));
    for (table, commit) in commits {
        m.commit_duration
            .get_or_create(&TableLabels {
                sink: DELTA,
                table: table.path(),
            })
            .record(commit.duration);
        for (op, n) in [("insert", commit.inserted), ("retract", commit.retracted)] {
            m.sink_rows
                .get_or_create(&RowLabels {
                    sink: DELTA,
                    table: table.path(),
                    op,
                })
                .inc_by(n);
        }
    }
    m.checkpoint_completed(number, duration);
}

fn apply_classification(
    classification: &mut Vec<ClassifiedCar>,
    changes: Vec<(SessionRow, isize)>,
    drivers: &HashMap<(String, u8), String>,
) {
    let mut rows: BTreeMap<(String, u8), ClassifiedCar> = classification
        .drain(..)
        .map(|c| ((c.session_id.clone(), c.car_number), c))
        .collect();
    let mut changes = changes;
    changes.sort_by_key(|(_, d)| *d);
    for (row, d) in changes {
        let key = (row.session_id.to_string(), row.car_number);
        if d < 0 {
            rows.remove(&key);
        } else {
            rows.insert(
                key.clone(),
                ClassifiedCar {
                    session_id: key.0.clone(),
                    position: row.position,
                    car_number: row.car_number,
                    driver_code: drivers.get(&key).cloned(),
                    laps_completed: row.laps_completed,
                    total_time_ms: row.total_time_ms,
                    gap_to_leader_ms: row.gap_to_leader_ms,
                    best_lap_ms: row.best_lap_ms,
                    fastest_lap: row.fastest_lap,
                },
            );
        }
    }
    let mut list: Vec<ClassifiedCar> = rows.into_values().collect();
    list.sort_by(|a, b| (&a.session_id, a.position).cmp(&(&b.session_id, b.position)));
    *classification = list;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use timely::progress::Antichain;

    #[test]
    fn boundaries_cut_every_k_epochs() {
        assert_eq!(boundary_after(0, 10), 10);
        assert_eq!(boundary_after(9, 10), 10);
        assert_eq!(boundary_after(10, 10), 20);
        assert_eq!(boundary_after(5, 1), 6);
        let frontier = Antichain::from_elem(27u64);
        assert_eq!(complete_below(frontier.borrow(), 10), 20);
        assert_eq!(complete_below(Antichain::<u64>::new().borrow(), 10), Time::MAX);
        assert_eq!(
            epochs_per_checkpoint(Duration::from_secs(1), Duration::from_millis(100)),
            10
        );
        assert_eq!(epochs_per_checkpoint(Duration::ZERO, Duration::from_millis(2)), 1);
    }

    /// A silver row (no entry) of the shared test event
    /// ([`racecast_dataflow::testing::position`]).
    pub(crate) fn silver_row(car: u8, sequence: u64, text_id: bool, revision: u32, speed: u8) -> SilverRow {
        SilverRow {
            event: racecast_dataflow::testing::position(car, sequence, text_id, revision, speed),
            entry: None,
        }
    }

    proptest::proptest! {
        /// Consolidating by bucket gives what a map of rows gives, in file
        /// order, and counts as corrections the ids with a retracted and an
        /// inserted row of different revisions.
        #[test]
        fn silver_changes_consolidate_as_a_map_of_rows(
            changes in proptest::collection::vec(
                (1u8..4, 0u64..6, proptest::bool::ANY, 0u32..3, 0u8..3, -2isize..=2),
                0..80,
            )
        ) {
            let rows: Vec<(SilverRow, isize)> = changes
                .iter()
                .map(|&(car, seq, text, rev, speed, d)| (silver_row(car, seq, text, rev, speed), d))
                .collect();
            let mut expected: BTreeMap<SilverRow, isize> = BTreeMap::new();
            for (row, d) in &rows {
                *expected.entry(row.clone()).or_insert(0) += d;
            }
            expected.retain(|_, d| *d != 0);
            let mut revisions: BTreeMap<String, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
            for (row, d) in &expected {
                let (old, new) = revisions.entry(row.event.event_id().to_string()).or_default();
                if *d < 0 { old.push(row.event.revision) } else { new.push(row.event.revision) }
            }
            let corrections: u64 = revisions
                .values()
                .map(|(old, new)| new.iter().filter(|n| old.iter().any(|o| o != *n)).count() as u64)
                .sum();
            let mut buckets = SilverBuckets::new();
            for (row, d) in rows {
                buckets.entry(bucket_of(&row)).or_default().push((row, d));
            }
            let got = consolidate_silver(&buckets);
            proptest::prop_assert_eq!(got.corrections, corrections);
            for (bucket, rows) in &got.buckets {
                for (row, _) in rows {
                    proptest::prop_assert_eq!(bucket_of(row), *bucket);
                }
                let order = |r: &SilverRow| (r.event.event_type(), r.event.timestamp_ms, r.event.sequence);
                proptest::prop_assert!(rows.is_sorted_by(|a, b| order(a.0) <= order(b.0)), "a bucket's rows are in file order");
            }
            let got: BTreeMap<SilverRow, isize> =
                got.buckets.into_values().flatten().map(|(r, d)| (r.clone(), d)).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
