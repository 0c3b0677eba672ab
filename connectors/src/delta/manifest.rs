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
use std::io::Write;
use std::path::{Path, PathBuf};

use deltalake::kernel::Action;

use super::DeltaError;

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

/// The directory of the manifests under the data root.
pub fn dir(root: &Path) -> PathBuf {
    root.join("_racecast").join("checkpoints")
}

fn path(root: &Path, checkpoint: u64) -> PathBuf {
    dir(root).join(format!("{checkpoint:020}.json"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeltaError + '_ {
    move |source| DeltaError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Manifest {
    /// Writes the manifest durably (a temporary file renamed into place,
    /// both synced), so that it exists whole or not at all.
    pub fn write(&self, root: &Path) -> Result<(), DeltaError> {
        let dir = dir(root);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let target = path(root, self.checkpoint);
        let temporary = target.with_extension("json.tmp");
        let bytes = serde_json::to_vec(self).expect("manifests serialize");
        let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(&bytes).map_err(io(&temporary))?;
        file.sync_all().map_err(io(&temporary))?;
        std::fs::rename(&temporary, &target).map_err(io(&target))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        Ok(())
    }

    /// The manifest of `checkpoint`, if there is one.
    pub fn read(root: &Path, checkpoint: u64) -> Result<Option<Manifest>, DeltaError> {
        let path = path(root, checkpoint);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DeltaError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
    }

    /// The checkpoint numbers that have a manifest, in order.
    pub fn list(root: &Path) -> Result<Vec<u64>, DeltaError> {
        let dir = dir(root);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut numbers = Vec::new();
        for entry in entries {
            let name = entry.map_err(io(&dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Deletes the manifests of checkpoints below `checkpoint`.
    pub fn remove_below(root: &Path, checkpoint: u64) -> Result<usize, DeltaError> {
        let mut removed = 0;
        for n in Manifest::list(root)?.into_iter().filter(|n| *n < checkpoint) {
            let path = path(root, n);
            std::fs::remove_file(&path).map_err(io(&path))?;
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
        let root = tempfile::tempdir().expect("a temporary directory");
        for checkpoint in [12, 3, 7] {
            Manifest {
                app_id: "racecast".into(),
                checkpoint,
                metadata: HashMap::from([("racecast.checkpoint".into(), serde_json::json!(checkpoint))]),
                tables: BTreeMap::from([("bronze/quarantine".into(), Vec::new())]),
            }
            .write(root.path())
            .expect("written");
        }
        assert_eq!(Manifest::list(root.path()).expect("listed"), [3, 7, 12]);
        let m = Manifest::read(root.path(), 7).expect("read").expect("present");
        assert_eq!(m.checkpoint, 7);
        assert!(Manifest::read(root.path(), 8).expect("read").is_none());
        assert_eq!(Manifest::remove_below(root.path(), 12).expect("removed"), 2);
        assert_eq!(Manifest::list(root.path()).expect("listed"), [12]);
    }
}
