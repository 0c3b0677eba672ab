//! Checkpoint manifests: what one checkpoint commits to each of the six
//! tables, written (atomically) before the first of those commits.
//!
//! A checkpoint is six Delta commits, one per table, made together. A crash between two of them leaves some tables at the checkpoint
//! and the rest one checkpoint behind; the manifest holds every table's
//! `add`/`remove` actions (the data files are already written when it is),
//! so a restart commits the missing tables from it
//! ([`super::DeltaSink::roll_forward`]) instead of guessing. The tables stay
//! the source of truth: a manifest only ever completes a checkpoint that
//! some table already shows having started.
//!
//! Manifests live in `<data>/_racecast/checkpoints/<number>.json`, one file
//! per checkpoint, never rewritten; retention deletes the old ones.

use std::collections::{BTreeMap, HashMap};

use deltalake::kernel::Action;

use super::DeltaError;
use crate::storage::Location;

/// One checkpoint's commits, table by table.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Application id of the `txn` actions.
    pub app_id: String,
    /// The checkpoint number.
    pub checkpoint: u64,
    /// The commit metadata (`commitInfo`) of every table.
    pub metadata: HashMap<String, serde_json::Value>,
    /// Table path → its actions.
    pub tables: BTreeMap<String, Vec<Action>>,
}

/// The folder of the manifests under the data root.
pub const DIR: &str = "_racecast/checkpoints";

fn name(checkpoint: u64) -> String {
    format!("{DIR}/{checkpoint:020}.json")
}

impl Manifest {
    /// Writes the manifest whole (a local temporary file renamed into
    /// place, or one S3 PUT), so that it exists whole or not at all.
    pub fn write(&self, root: &Location) -> Result<(), DeltaError> {
        let bytes = serde_json::to_vec(self).map_err(|e| DeltaError::Io {
            path: root.object_url(&name(self.checkpoint)).into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Ok(root.write(&name(self.checkpoint), bytes)?)
    }

    /// The manifest of `checkpoint`, if there is one.
    pub fn read(root: &Location, checkpoint: u64) -> Result<Option<Manifest>, DeltaError> {
        let Some(bytes) = root.read(&name(checkpoint))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DeltaError::Io {
                path: root.object_url(&name(checkpoint)).into(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
    }

    /// The checkpoint numbers that have a manifest, in order.
    pub fn list(root: &Location) -> Result<Vec<u64>, DeltaError> {
        Ok(root.numbered_json(DIR)?)
    }

    /// Deletes the manifests of checkpoints below `checkpoint`.
    pub fn remove_below(root: &Location, checkpoint: u64) -> Result<usize, DeltaError> {
        let mut removed = 0;
        for n in Manifest::list(root)?.into_iter().filter(|n| *n < checkpoint) {
            root.delete(&name(n))?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_are_listed_in_order() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = Location::local(dir.path()).expect("a location");
        for checkpoint in [12, 3, 7] {
            Manifest {
                app_id: "racecast".into(),
                checkpoint,
                metadata: HashMap::from([("racecast.checkpoint".into(), serde_json::json!(checkpoint))]),
                tables: BTreeMap::from([("bronze/quarantine".into(), Vec::new())]),
            }
            .write(&root)
            .expect("written");
        }
        assert_eq!(Manifest::list(&root).expect("listed"), [3, 7, 12]);
        let m = Manifest::read(&root, 7).expect("read").expect("present");
        assert_eq!(m.checkpoint, 7);
        assert!(Manifest::read(&root, 8).expect("read").is_none());
        assert_eq!(Manifest::remove_below(&root, 12).expect("removed"), 2);
        assert_eq!(Manifest::list(&root).expect("listed"), [12]);
    }
}
