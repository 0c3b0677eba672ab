//! [`Real`]: a finite `f64` with a total order, so that measurements can be
//! keys and values of differential collections (which need `Ord`).
//!
//! Validation guarantees every `Real` in a valid event is finite; the order is
//! `f64::total_cmp`, so equality is bit equality.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// A totally ordered `f64`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Real(pub f64);

impl Real {
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl PartialEq for Real {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Real {}
impl PartialOrd for Real {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Real {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl Hash for Real {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}
impl From<f64> for Real {
    fn from(value: f64) -> Self {
        Real(value)
    }
}
