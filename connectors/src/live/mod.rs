//! Live views (`racecast run --serve`): gold's exact changes at the
//! processing frontier, served over HTTP as JSON snapshots and Server-Sent
//! Events, and the live timing page that folds them.
//!
//! ```text
//! worker 0 ─EpochChanges─▶ publisher thread ─▶ LiveHub ─▶ one bounded queue per client
//!  (per epoch whose        (renders rows as     (rows,      │
//!   frontier passed)        Delta JSON)          history)   ▼
//!                                              HTTP thread: /api/v1/views, /api/v1/changes (SSE), /
//! ```
//!
//! Workers never wait on a socket: worker 0 hands each finished epoch's
//! consolidated changes to the publisher thread; the publisher applies them
//! to the views and offers the epoch's event to each client's queue without
//! waiting. A client whose queue is full is dropped from the fan-out and,
//! once it has drained its queue, gets a fresh snapshot; memory stays
//! bounded by the queues however many clients are stuck.
//!
//! Epochs are counted by the frontier: the views "at epoch E" hold every
//! input epoch below E, so a snapshot at 0 is the empty start and the event
//! of input epoch e says `"epoch": e + 1`.
//!
//! - [`hub`]: the views' rows, recent events (for `Last-Event-ID`), the
//!   clients' queues;
//! - [`publish`]: the publisher thread;
//! - [`frames`]: the JSON and SSE text of snapshots, events and answers;
//! - [`sse`]: one client's event stream;
//! - [`server`]: the HTTP server and its routes.

pub mod frames;
pub mod hub;
pub mod publish;
pub mod server;
pub mod sse;

use racecast_dataflow::Entry;
use racecast_dataflow::gold::{LapRow, SessionRow};

pub use hub::LiveHub;
pub use publish::LivePublisher;
pub use server::{LiveError, LiveServer};

/// A gold view served live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum View {
    /// `gold.lap_metrics`.
    Laps,
    /// `gold.session_metrics`.
    Sessions,
}

impl View {
    /// Both views.
    pub const ALL: [View; 2] = [View::Laps, View::Sessions];

    /// The name in URLs (the table's name).
    pub fn name(self) -> &'static str {
        match self {
            View::Laps => "lap_metrics",
            View::Sessions => "session_metrics",
        }
    }

    /// The view named `name`, if any.
    pub fn parse(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.name() == name)
    }

    fn index(self) -> usize {
        match self {
            View::Laps => 0,
            View::Sessions => 1,
        }
    }
}

/// Which rows a client asks for (`?session_id=…&car_number=…`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this session's rows.
    pub session_id: Option<String>,
    /// Only this car's rows.
    pub car_number: Option<u8>,
}

impl Filter {
    /// Whether a row of `session_id` and `car_number` passes.
    pub fn admits(&self, session_id: &str, car_number: u8) -> bool {
        self.session_id.as_deref().is_none_or(|s| s == session_id)
            && self.car_number.is_none_or(|c| c == car_number)
    }

    /// Whether it passes every row.
    pub fn is_open(&self) -> bool {
        self.session_id.is_none() && self.car_number.is_none()
    }
}

/// One epoch whose frontier passed, as worker 0 saw it: gold's changes at
/// that epoch (consolidated, none zero), the entry records read at it, and
/// when its records were ingested.
#[derive(Clone, Debug, Default)]
pub struct EpochChanges {
    /// The epoch.
    pub epoch: u64,
    /// `gold.lap_metrics`' changes.
    pub laps: Vec<(LapRow, isize)>,
    /// `gold.session_metrics`' changes.
    pub sessions: Vec<(SessionRow, isize)>,
    /// Entry-list records (the latest revision per car wins).
    pub entries: Vec<Entry>,
    /// Ingest times (Unix ms) of the epoch's records, with counts.
    pub ingested: Vec<(i64, u64)>,
}
