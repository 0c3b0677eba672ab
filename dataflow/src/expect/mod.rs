//! Data-quality rules users write: an expectation suite in Great
//! Expectations' vocabulary ([`suite`] reads GE 1.x's JSON), compiled once
//! into [`rule`]s over the silver columns ([`mod@column`]) and checked on every
//! valid event as it is validated (SPEC §1's rules always apply first).
//!
//! An expectation whose action is `quarantine` sends a failing record to
//! the quarantine with reason `expectation:<name>` (so it never reaches
//! silver: like any invalid record it takes no part in deduplication); a
//! `warn` expectation only counts. [`Tally`] counts, per expectation, what
//! GE's result counts: records in its domain (`element_count`), nulls it
//! skipped (`missing_count`) and unexpected values (`unexpected_count`),
//! and says whether `mostly` holds ([`Tally::success`]); for the
//! checkpoint-level rules (mean, share of non-nulls, row count: warn only)
//! it accumulates what they observe. [`Suite::results`] turns tallies into
//! GE-shaped results.

pub mod column;
pub mod rule;
pub mod suite;

use crate::event::{Event, EventType};
use crate::reason::{ReasonKind, Reasons};
use rule::{CheckpointRule, Outcome, RecordRule};

/// What a failing record causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The record is quarantined (`expectation:<name>`).
    Quarantine,
    /// The failure is counted; the record is kept.
    Warn,
}

impl Action {
    /// `quarantine` or `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Quarantine => "quarantine",
            Action::Warn => "warn",
        }
    }
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Checked on each record.
    Record(RecordRule),
    /// Checked on a checkpoint's records as a whole.
    Checkpoint(CheckpointRule),
}

/// One compiled expectation.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// Its index in the suite's list (0-based).
    pub index: usize,
    /// Its GE type, e.g. `expect_column_values_to_be_between`.
    pub kind: &'static str,
    /// Its name in reason codes, metrics and results.
    pub name: Box<str>,
    /// The only event type it applies to, if scoped.
    pub event_type: Option<EventType>,
    /// What a failing record causes.
    pub action: Action,
    /// GE's `mostly`: the share of checked values that must pass.
    pub mostly: f64,
    /// What it checks.
    pub rule: Rule,
}

impl Expectation {
    /// One line that says what racecast understood.
    pub fn describe(&self) -> String {
        let scope = self
            .event_type
            .map_or("every event".to_owned(), |t| format!("{t} events"));
        let mostly = if self.mostly < 1.0 {
            format!(", mostly {}", self.mostly)
        } else {
            String::new()
        };
        let level = match self.rule {
            Rule::Record(_) => "per record",
            Rule::Checkpoint(_) => "per checkpoint",
        };
        format!(
            "#{} {}: {} on {scope}, {level}, {}{mostly}",
            self.index,
            self.name,
            self.kind,
            self.action.as_str()
        )
    }
}

/// Why a suite cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteError {
    /// Not JSON.
    #[error("the suite is not valid JSON: {0}")]
    Json(String),
    /// The suite's own keys are wrong.
    #[error("the suite: {0}")]
    Suite(String),
    /// One expectation is wrong.
    #[error("expectation #{index} ({kind}): {problem}")]
    Expectation {
        /// Its index (0-based).
        index: usize,
        /// Its type as written.
        kind: String,
        /// What is wrong.
        problem: String,
    },
}

/// A compiled suite; the empty suite checks nothing and costs nothing.
#[derive(Clone, Debug, Default)]
pub struct Suite {
    /// The suite's name.
    pub name: String,
    /// Its expectations, in the suite's order.
    pub expectations: Vec<Expectation>,
    /// [`suite::fingerprint`] of its expectations (empty for no suite): a
    /// resumed run tells by it that the suite changed.
    pub fingerprint: String,
    /// For each event type (by `EventType as usize`), the indexes of the
    /// expectations that apply to it: an event visits only its own.
    scoped: Vec<Vec<usize>>,
}

impl Suite {
    /// Reads and compiles a suite's JSON.
    pub fn parse(text: &str) -> Result<Suite, SuiteError> {
        let (name, expectations, fingerprint) = suite::parse(text)?;
        let scoped = EventType::ALL
            .iter()
            .map(|&t| {
                let applies = |x: &&Expectation| x.event_type.is_none_or(|only| only == t);
                expectations.iter().filter(applies).map(|x| x.index).collect()
            })
            .collect();
        Ok(Suite {
            name,
            expectations,
            fingerprint,
            scoped,
        })
    }

    /// Whether it has no expectation.
    pub fn is_empty(&self) -> bool {
        self.expectations.is_empty()
    }

    /// Whether it has checkpoint-level expectations.
    pub fn has_checkpoint_rules(&self) -> bool {
        self.expectations
            .iter()
            .any(|e| matches!(e.rule, Rule::Checkpoint(_)))
    }

    /// Checks a valid event: adds `expectation:<name>` to `reasons` for
    /// each failing record-level `quarantine` expectation, and, when
    /// `tallies` (one per expectation) are given, counts every record-level
    /// outcome and what the checkpoint-level ones observe.
    pub fn check(&self, e: &Event, reasons: &mut Reasons, mut tallies: Option<&mut [Tally]>) {
        let all = tallies.is_some();
        let Some(scoped) = self.scoped.get(e.event_type() as usize) else {
            return;
        };
        for x in scoped.iter().filter_map(|&i| self.expectations.get(i)) {
            match &x.rule {
                Rule::Record(rule) => {
                    let outcome = rule.check(e);
                    if let Some(t) = tallies.as_deref_mut().and_then(|t| t.get_mut(x.index)) {
                        t.count(outcome);
                    }
                    if outcome == Outcome::Unexpected && x.action == Action::Quarantine {
                        reasons.push(ReasonKind::Expectation, &x.name);
                    }
                }
                Rule::Checkpoint(rule) if all => {
                    if let Some(t) = tallies.as_deref_mut().and_then(|t| t.get_mut(x.index)) {
                        t.observe(rule.value(e));
                    }
                }
                Rule::Checkpoint(_) => {}
            }
        }
    }

    /// Each expectation's result over what `tallies` counted (one
    /// checkpoint's records, or a file's).
    pub fn results(&self, tallies: &[Tally]) -> Vec<ExpectationResult> {
        self.expectations
            .iter()
            .map(|x| {
                let t = tallies.get(x.index).copied().unwrap_or_default();
                let (observed, success) = match &x.rule {
                    Rule::Record(_) => (None, t.success(x.mostly)),
                    Rule::Checkpoint(rule) => {
                        let observed = t.observed(rule);
                        (observed, rule.holds(observed))
                    }
                };
                ExpectationResult {
                    index: x.index,
                    name: x.name.to_string(),
                    kind: x.kind,
                    action: x.action.as_str(),
                    evaluated: t.evaluated,
                    missing: t.missing,
                    unexpected: t.unexpected,
                    observed,
                    success,
                }
            })
            .collect()
    }

    /// Fresh tallies, one per expectation.
    pub fn tallies(&self) -> Vec<Tally> {
        vec![Tally::default(); self.expectations.len()]
    }
}

/// What one record-level expectation saw, as GE's result counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Records in its domain (GE's `element_count`).
    pub evaluated: u64,
    /// Of those, nulls not checked (GE's `missing_count`; for a pair rule,
    /// rows its `ignore_row_if` left out).
    pub missing: u64,
    /// Unexpected values (GE's `unexpected_count`).
    pub unexpected: u64,
    /// For a mean: the exact sum of the non-null values, fixed-point
    /// ([`SUM_FRACTION_BITS`]), so that it does not depend on their order.
    pub sum: i128,
}

/// Fractional bits of [`Tally::sum`]: 2^-40 resolution leaves room for
/// 2^30 timestamps (< 2^41 ms) in an `i128`.
pub const SUM_FRACTION_BITS: i32 = 40;

/// One expectation's result, as GE reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExpectationResult {
    /// Its index in the suite.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its GE type.
    pub kind: &'static str,
    /// `quarantine` or `warn`.
    pub action: &'static str,
    /// Records in its domain (GE's `element_count`).
    pub evaluated: u64,
    /// Nulls not checked (GE's `missing_count`).
    pub missing: u64,
    /// Unexpected values (GE's `unexpected_count`; 0 for checkpoint-level).
    pub unexpected: u64,
    /// A checkpoint-level expectation's observed value (GE's
    /// `observed_value`).
    pub observed: Option<f64>,
    /// GE's `success` (with `mostly`).
    pub success: bool,
}

impl Tally {
    fn count(&mut self, outcome: Outcome) {
        self.evaluated += 1;
        match outcome {
            Outcome::Missing | Outcome::Skipped => self.missing += 1,
            Outcome::Unexpected => self.unexpected += 1,
            Outcome::Expected => {}
        }
    }

    /// Counts one record of a checkpoint-level rule's domain.
    fn observe(&mut self, value: Option<f64>) {
        self.evaluated += 1;
        match value {
            None => self.missing += 1,
            Some(v) => self.sum += (v * 2f64.powi(SUM_FRACTION_BITS)) as i128,
        }
    }

    /// Adds another tally.
    pub fn add(&mut self, other: &Tally) {
        self.evaluated += other.evaluated;
        self.missing += other.missing;
        self.unexpected += other.unexpected;
        self.sum += other.sum;
    }

    /// Adds `tallies` (one per expectation) to `into`, growing it to their
    /// length.
    pub fn add_each(into: &mut Vec<Tally>, tallies: &[Tally]) {
        if into.len() < tallies.len() {
            into.resize(tallies.len(), Tally::default());
        }
        for (into, t) in into.iter_mut().zip(tallies) {
            into.add(t);
        }
    }

    /// What a checkpoint-level rule observes (GE's `observed_value`).
    pub fn observed(&self, rule: &CheckpointRule) -> Option<f64> {
        let present = self.evaluated - self.missing;
        match rule {
            CheckpointRule::Mean { .. } => {
                (present > 0).then(|| self.sum as f64 * 2f64.powi(-SUM_FRACTION_BITS) / present as f64)
            }
            // GE's metric is 0 over no rows.
            CheckpointRule::NonNullShare { .. } if self.evaluated == 0 => Some(0.0),
            CheckpointRule::NonNullShare { .. } => Some(present as f64 / self.evaluated as f64),
            CheckpointRule::RowCount { .. } => Some(self.evaluated as f64),
        }
    }

    /// GE's success: `(checked - unexpected) / checked >= mostly`, and true
    /// when nothing was checked.
    pub fn success(&self, mostly: f64) -> bool {
        let checked = self.evaluated - self.missing;
        checked == 0 || (checked - self.unexpected) as f64 / checked as f64 >= mostly
    }
}
