//! [`Data`]: what tests pass as a run's data root: a local directory (a
//! `&Path`, as most tests do) or a [`Location`] (a directory or an S3
//! prefix), so that one assertion serves both.

use std::path::{Path, PathBuf};

use racecast_connectors::storage::Location;

/// A data root.
pub trait Data {
    /// As a location.
    fn location(&self) -> Location;
}

impl Data for Path {
    fn location(&self) -> Location {
        Location::local(self).expect("a local directory is a location")
    }
}

impl Data for PathBuf {
    fn location(&self) -> Location {
        self.as_path().location()
    }
}

impl Data for Location {
    fn location(&self) -> Location {
        self.clone()
    }
}
