//! The keys racecast writes into every checkpoint commit's `commitInfo`
//! ([`super::sink`] writes them, [`super::history`] reads them back): what
//! ties a table version to a checkpoint, beside the `txn` action.

/// `commitInfo` key: the checkpoint number.
pub const CHECKPOINT_KEY: &str = "racecast.checkpoint";
/// `commitInfo` key: the id of the run that committed the checkpoint.
pub const RUN_KEY: &str = "racecast.run_id";
/// `commitInfo` key: the source positions the checkpoint covers (the
/// engine's positions, as JSON).
pub const POSITIONS_KEY: &str = "racecast.positions";
/// `commitInfo` key: when the checkpoint's commits started (Unix ms; every
/// `remove` of the checkpoint carries this time).
pub const STARTED_KEY: &str = "racecast.started_ms";
/// `commitInfo` key: the expectation suite the run checks
/// ([`super::quality::SuiteId`] as JSON; absent without a suite).
pub const SUITE_KEY: &str = "racecast.suite";
/// `commitInfo` key: on a resumed run's first checkpoint, the suite the
/// checkpoint it resumed from was checked with, when it was another one
/// (the new suite applies to records read from then on).
pub const PREVIOUS_SUITE_KEY: &str = "racecast.previous_suite";
