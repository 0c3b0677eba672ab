//! [`LiveHub`]: what the live views hold between the publisher and the
//! HTTP server: each view's current rows (as JSON), its recent events (so
//! that a client reconnecting with `Last-Event-ID` gets exactly what it
//! missed), the clients' bounded queues, the entry list and the stream's
//! health.
//!
//! Every change goes through one lock, so a subscription (its snapshot or
//! replay, then its queue) and a publication never interleave: a client's
//! fold is always the view as of the last epoch it got.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use racecast_dataflow::{Entry, Symbol};
use tokio::sync::mpsc;

use super::frames::{self, Health};
use super::{Filter, View};
use crate::host::now_ms;
use crate::metrics::Metrics;

/// Events a client may have queued before it counts as fallen behind
/// (at 10 ms epochs, 2.5 s of changes).
pub const CLIENT_QUEUE: usize = 256;
/// Events kept per view for clients that reconnect.
const HISTORY_EVENTS: usize = 4096;
/// Bytes of events kept per view for clients that reconnect.
const HISTORY_BYTES: usize = 32 << 20;
/// Over how long `events_per_s` is measured.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// One change of a published event.
#[derive(Clone, Debug)]
pub struct Change {
    /// Insert (else retract).
    pub insert: bool,
    /// The row's session.
    pub session_id: Symbol,
    /// The row's car.
    pub car_number: u8,
    /// The row's lap (0 for a session row).
    pub lap: u8,
    /// The row as JSON.
    pub row: Arc<str>,
}

/// One epoch's changes of one view, as every client gets them.
#[derive(Debug)]
pub struct Published {
    /// The epoch.
    pub epoch: u64,
    /// Retractions first, then insertions.
    pub changes: Vec<Change>,
    /// The SSE frame of every change (for clients without a filter).
    pub frame: Bytes,
}

/// What a client's queue carries.
#[derive(Clone, Debug)]
pub enum Message {
    /// An epoch's changes.
    Event(Arc<Published>),
    /// The run ended: the stream's last frame.
    End(Bytes),
}

/// A row of a view, by its primary key.
type RowKey = (Symbol, u8, u8);

#[derive(Clone, Debug)]
struct Row {
    session_id: Symbol,
    car_number: u8,
    json: Arc<str>,
}

struct Client {
    tx: mpsc::Sender<Message>,
    lagged: Arc<AtomicBool>,
    filter: Filter,
}

#[derive(Default)]
struct ViewState {
    rows: BTreeMap<RowKey, Row>,
    history: VecDeque<Arc<Published>>,
    history_bytes: usize,
    /// The last epoch whose event left the history.
    pruned_through: Option<u64>,
    clients: Vec<Client>,
}

impl ViewState {
    fn remember(&mut self, event: Arc<Published>) {
        self.history_bytes += event.frame.len();
        self.history.push_back(event);
        while self.history.len() > HISTORY_EVENTS || self.history_bytes > HISTORY_BYTES {
            let Some(old) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= old.frame.len();
            self.pruned_through = Some(old.epoch);
        }
    }

    /// Offers `event` to every client whose filter it concerns; a client
    /// whose queue is full (or gone) leaves the fan-out.
    fn fan_out(&mut self, event: &Arc<Published>) {
        self.clients.retain(|client| {
            let concerned = client.filter.is_open()
                || event
                    .changes
                    .iter()
                    .any(|c| client.filter.admits(c.session_id.as_str(), c.car_number));
            if !concerned {
                return !client.tx.is_closed();
            }
            match client.tx.try_send(Message::Event(Arc::clone(event))) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    client.lagged.store(true, Ordering::Release);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

#[derive(Default)]
struct State {
    epoch: u64,
    checkpoint: u64,
    /// The end frame, once the run ended.
    ended: Option<(u64, String)>,
    views: [ViewState; 2],
    entries: BTreeMap<(Symbol, u8), Entry>,
    /// (when, records) of recent epochs.
    rate: VecDeque<(Instant, u64)>,
    clients: u64,
    /// When each connected client's stream last handed a frame to its
    /// socket (Unix ms; the stream holds it while connected).
    progress: Vec<Weak<AtomicI64>>,
}

/// A client's start: the frames to send first, then its queue (none once
/// the run has ended: the frames then end with the end frame).
pub struct Subscription {
    /// Snapshot or replayed events (and the end, after a run ended).
    pub first: Vec<Bytes>,
    /// Later events.
    pub queue: Option<mpsc::Receiver<Message>>,
    /// Set when the client fell behind and left the fan-out.
    pub lagged: Arc<AtomicBool>,
}

/// The live views of one run.
pub struct LiveHub {
    run: String,
    state: Mutex<State>,
    metrics: Option<Arc<Metrics>>,
}

impl LiveHub {
    /// The views of run `run_id` (event ids carry its first 8 characters).
    pub fn new(run_id: &str, metrics: Option<Arc<Metrics>>) -> LiveHub {
        LiveHub {
            run: run_id.chars().take(8).collect(),
            state: Mutex::new(State::default()),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data
        // (every update is applied whole before anything can fail).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The run's short id, as in event ids.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Publishes `epoch`: applies each view's changes (retractions first)
    /// and offers them to its clients; `records` were ingested in it, and
    /// `entries` read.
    pub(crate) fn publish(
        &self,
        epoch: u64,
        changes: [(View, Vec<Change>); 2],
        records: u64,
        entries: Vec<Entry>,
    ) {
        let events = changes.map(|(view, changes)| {
            let frame = frames::event_frame(
                &self.run,
                epoch,
                false,
                changes.iter().map(|c| (c.insert, &*c.row)),
            );
            (
                view,
                (!changes.is_empty()).then(|| {
                    Arc::new(Published {
                        epoch,
                        changes,
                        frame,
                    })
                }),
            )
        });
        let mut state = self.lock();
        state.epoch = state.epoch.max(epoch);
        for (view, event) in events {
            let Some(event) = event else {
                continue;
            };
            let v = &mut state.views[view.index()];
            for change in &event.changes {
                let key = (change.session_id, change.car_number, change.lap);
                if change.insert {
                    v.rows.insert(
                        key,
                        Row {
                            session_id: change.session_id,
                            car_number: change.car_number,
                            json: Arc::clone(&change.row),
                        },
                    );
                } else {
                    v.rows.remove(&key);
                }
            }
            v.fan_out(&event);
            v.remember(event);
        }
        for entry in entries {
            let key = entry.key();
            let beats = state
                .entries
                .get(&key)
                .is_none_or(|current| racecast_dataflow::silver::entry_beats(&entry, current));
            if beats {
                state.entries.insert(key, entry);
            }
        }
        let now = Instant::now();
        state.rate.push_back((now, records));
        while state
            .rate
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            state.rate.pop_front();
        }
    }

    /// Records the last durable checkpoint.
    pub fn checkpointed(&self, checkpoint: u64) {
        let mut state = self.lock();
        state.checkpoint = state.checkpoint.max(checkpoint);
    }

    /// Ends every stream: the run is over (`reason`).
    pub fn end(&self, reason: &str) {
        let mut state = self.lock();
        if state.ended.is_some() {
            return;
        }
        let frame = frames::end_frame(&self.run, state.epoch, reason);
        state.ended = Some((state.epoch, reason.to_owned()));
        for v in &mut state.views {
            for client in v.clients.drain(..) {
                if client.tx.try_send(Message::End(frame.clone())).is_err() {
                    // Full: it gets a snapshot and the end once it drains.
                    client.lagged.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Whether the run has ended.
    pub fn ended(&self) -> bool {
        self.lock().ended.is_some()
    }

    /// A new client of `view`: the events after `last_event_id` when they
    /// are all still here, else a snapshot; then its queue.
    pub fn subscribe(&self, view: View, filter: &Filter, last_event_id: Option<&str>) -> Subscription {
        let lagged = Arc::new(AtomicBool::new(false));
        let mut state = self.lock();
        let epoch = state.epoch;
        let v = &state.views[view.index()];
        let resume_after = last_event_id
            .and_then(frames::parse_event_id)
            .filter(|(run, last)| {
                *run == self.run && *last <= epoch && v.pruned_through.is_none_or(|p| p <= *last)
            })
            .map(|(_, last)| last);
        let mut first = Vec::new();
        match resume_after {
            Some(last) => {
                let replay: Vec<Arc<Published>> =
                    v.history.iter().filter(|e| e.epoch > last).cloned().collect();
                first.extend(replay.iter().filter_map(|e| frame_for(&self.run, e, filter)));
            }
            None => {
                let rows: Vec<Arc<str>> = v
                    .rows
                    .values()
                    .filter(|r| filter.admits(r.session_id.as_str(), r.car_number))
                    .map(|r| Arc::clone(&r.json))
                    .collect();
                first.push(frames::event_frame(
                    &self.run,
                    epoch,
                    true,
                    rows.iter().map(|r| (true, &**r)),
                ));
            }
        }
        let queue = match &state.ended {
            Some((epoch, reason)) => {
                first.push(frames::end_frame(&self.run, *epoch, reason));
                None
            }
            None => {
                let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
                state.views[view.index()].clients.push(Client {
                    tx,
                    lagged: Arc::clone(&lagged),
                    filter: filter.clone(),
                });
                Some(rx)
            }
        };
        Subscription { first, queue, lagged }
    }

    /// A client connected, with where its stream records its progress
    /// (when it last handed out a frame).
    pub(crate) fn client_connected(&self, progress: &Arc<AtomicI64>) {
        let mut state = self.lock();
        state.clients += 1;
        state.progress.retain(|p| p.strong_count() > 0);
        state.progress.push(Arc::downgrade(progress));
        self.count_clients(&state);
    }

    /// A client left.
    pub(crate) fn client_left(&self) {
        let mut state = self.lock();
        state.clients = state.clients.saturating_sub(1);
        self.count_clients(&state);
    }

    fn count_clients(&self, state: &State) {
        if let Some(m) = &self.metrics {
            m.live_clients.set(state.clients as i64);
        }
    }

    /// Whether a connected client handed out a frame within `window`: a
    /// stopping server waits for such clients (reading their last events
    /// and the end), not for those that stopped reading.
    pub fn clients_progressing(&self, window: Duration) -> bool {
        let since = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut state = self.lock();
        state.progress.retain(|p| p.strong_count() > 0);
        state
            .progress
            .iter()
            .filter_map(Weak::upgrade)
            .any(|p| p.load(Ordering::Acquire) >= since)
    }

    /// Clients connected to a change feed.
    pub fn clients(&self) -> u64 {
        self.lock().clients
    }

    /// `GET /api/v1/views/…`.
    pub fn rows_answer(&self, view: View, filter: &Filter) -> String {
        let state = self.lock();
        let rows = state.views[view.index()]
            .rows
            .values()
            .filter(|r| filter.admits(r.session_id.as_str(), r.car_number))
            .map(|r| &*r.json);
        frames::rows_answer(state.epoch, state.checkpoint, rows)
    }

    /// `GET /api/v1/entry_list`.
    pub fn entry_list_answer(&self) -> String {
        frames::entry_list_answer(self.lock().entries.values())
    }

    /// `GET /api/v1/health`.
    pub fn health(&self) -> Health {
        let state = self.lock();
        let records: u64 = state.rate.iter().map(|(_, n)| n).sum();
        let span = match (state.rate.front(), state.rate.back()) {
            (Some((first, _)), Some((last, _))) => last.duration_since(*first),
            _ => Duration::ZERO,
        };
        Health {
            epoch: state.epoch,
            checkpoint: state.checkpoint,
            events_per_s: if span.is_zero() {
                0.0
            } else {
                records as f64 / span.as_secs_f64()
            },
            clients: state.clients,
            ended: state.ended.is_some(),
        }
    }

    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_deref()
    }
}

/// `event`'s frame for a client with `filter`: the whole frame, or the
/// changes it admits (none: no frame).
pub fn frame_for(run: &str, event: &Published, filter: &Filter) -> Option<Bytes> {
    if filter.is_open() {
        return Some(event.frame.clone());
    }
    let admitted: Vec<&Change> = event
        .changes
        .iter()
        .filter(|c| filter.admits(c.session_id.as_str(), c.car_number))
        .collect();
    (!admitted.is_empty()).then(|| {
        frames::event_frame(
            run,
            event.epoch,
            false,
            admitted.iter().map(|c| (c.insert, &*c.row)),
        )
    })
}

#[cfg(test)]
mod tests;
