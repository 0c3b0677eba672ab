//! The progress topic: one record per completed checkpoint, written after
//! every other record of it, and the [`Lineage`] a reader builds from it.
//!
//! A progress record says: run `run` completed every checkpoint `c` with
//! `after < c <= checkpoint` (checkpoint numbers are boundary indexes, so
//! they can skip). A run's first record has `after` = the checkpoint it
//! resumed from (0 for a fresh start), which supersedes whatever an earlier
//! run completed after that point. A change record of checkpoint `c`
//! written by run `r` belongs to the collection iff the lineage says `r`
//! completed `c`: records of a crashed attempt, and of a checkpoint that a
//! restart re-emitted, are left out.

use std::collections::BTreeMap;

/// One completed checkpoint (the progress record's value, JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgressRecord {
    /// The pipeline's application id.
    pub app_id: String,
    /// The checkpoint.
    pub checkpoint: u64,
    /// The checkpoint this one follows (0: the run started fresh).
    pub after: u64,
    /// The run that completed it.
    pub run: String,
    /// Source positions the checkpoint covers.
    pub positions: serde_json::Value,
    /// Wall time of completion (Unix ms).
    pub completed_ms: i64,
    /// Delta version of every table at this checkpoint.
    #[serde(default)]
    pub delta_versions: BTreeMap<String, u64>,
}

/// Which run completed which checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    /// `last checkpoint → (after, run)`: run completed `(after, last]`.
    spans: BTreeMap<u64, (u64, String)>,
}

impl Lineage {
    /// Applies the next progress record (in topic order).
    pub fn apply(&mut self, record: &ProgressRecord) {
        // Everything completed after `after` is superseded.
        self.spans.retain(|_, (after, _)| *after < record.after);
        let truncated: Vec<(u64, (u64, String))> = self
            .spans
            .range(record.after + 1..)
            .map(|(last, span)| (*last, span.clone()))
            .collect();
        for (last, (after, run)) in truncated {
            self.spans.remove(&last);
            self.spans.insert(record.after, (after, run));
        }
        if record.checkpoint > record.after {
            self.spans
                .insert(record.checkpoint, (record.after, record.run.clone()));
        }
    }

    /// The run that completed checkpoint `c`, if any.
    pub fn run_of(&self, c: u64) -> Option<&str> {
        self.spans
            .range(c..)
            .next()
            .filter(|(_, (after, _))| *after < c)
            .map(|(_, (_, run))| run.as_str())
    }

    /// The last completed checkpoint.
    pub fn last(&self) -> Option<u64> {
        self.spans.keys().next_back().copied()
    }

    /// Whether a record of checkpoint `c` written by `run` belongs to the
    /// collection.
    pub fn counts(&self, c: u64, run: &str) -> bool {
        self.run_of(c) == Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(checkpoint: u64, after: u64, run: &str) -> ProgressRecord {
        ProgressRecord {
            app_id: "a".into(),
            checkpoint,
            after,
            run: run.into(),
            positions: serde_json::Value::Null,
            completed_ms: 0,
            delta_versions: BTreeMap::new(),
        }
    }

    #[test]
    fn a_restart_supersedes_what_came_after_its_start() {
        let mut l = Lineage::default();
        for (c, after) in [(1, 0), (3, 1), (4, 3), (7, 4)] {
            l.apply(&record(c, after, "A"));
        }
        assert_eq!(l.run_of(2), Some("A"));
        assert_eq!(l.run_of(6), Some("A"));
        assert_eq!(l.run_of(8), None);
        // B resumes after 3: 4 and 7 are A's no more.
        l.apply(&record(5, 3, "B"));
        assert_eq!(l.run_of(3), Some("A"));
        assert_eq!(l.run_of(4), Some("B"));
        assert_eq!(l.run_of(5), Some("B"));
        assert_eq!(l.run_of(6), None);
        assert!(!l.counts(4, "A"));
        assert_eq!(l.last(), Some(5));
        // A span cut in the middle: C resumes after 2, inside A's (1, 3].
        l.apply(&record(6, 2, "C"));
        assert_eq!(l.run_of(2), Some("A"));
        assert_eq!(l.run_of(3), Some("C"));
        assert_eq!(l.run_of(5), Some("C"));
        assert_eq!(l.last(), Some(6));
        // A fresh start supersedes everything.
        l.apply(&record(2, 0, "D"));
        assert_eq!(l.run_of(1), Some("D"));
        assert_eq!(l.run_of(3), None);
        assert_eq!(l.last(), Some(2));
    }
}
