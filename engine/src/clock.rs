//! [`CheckpointClock`]: how epochs make checkpoints, and which worker owns
//! which silver rows: the arithmetic every worker does alike, so that they
//! agree without talking.
//!
//! Sources stamp records with ingestion epochs ([`racecast_dataflow::Time`]).
//! Checkpoint boundaries are fixed epochs, every `k` of them (the checkpoint
//! interval over the epoch length): the checkpoint holding epoch `t` holds
//! the epochs `[boundary - k, boundary)` with `boundary` the first boundary
//! after `t`, and its number is that boundary's index. A checkpoint is
//! complete once the frontier has passed its boundary on every worker.
//!
//! ```text
//! epochs   0 1 2 … 9 | 10 11 … 19 | 20 …        (k = 10)
//! number       1     |     2      |  3
//! frontier at 27 ─▶ complete below 20: checkpoints 1 and 2
//! ```

use racecast_dataflow::{SessionDate, Time};
use timely::progress::frontier::AntichainRef;

/// Checkpoint boundaries every `k` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointClock {
    k: u64,
}

impl CheckpointClock {
    /// A boundary every `k` epochs (at least 1).
    pub fn new(k: u64) -> CheckpointClock {
        CheckpointClock { k: k.max(1) }
    }

    /// Epochs per checkpoint.
    pub fn k(self) -> u64 {
        self.k
    }

    /// The first boundary after epoch `t`: `t`'s checkpoint holds the epochs
    /// `[boundary - k, boundary)`.
    pub fn boundary_after(self, t: Time) -> Time {
        (t / self.k + 1).saturating_mul(self.k)
    }

    /// The last boundary at or below the frontier: every epoch below it is
    /// complete (`Time::MAX` once the frontier is empty).
    pub fn complete_below(self, frontier: AntichainRef<'_, Time>) -> Time {
        frontier.iter().min().map_or(Time::MAX, |f| f / self.k * self.k)
    }

    /// The number of the checkpoint holding epoch `t`: the index of the
    /// boundary after it (so numbers can skip over idle intervals, and a
    /// resumed run keeps counting where its epochs are).
    pub fn number(self, t: Time) -> u64 {
        self.boundary_after(t) / self.k
    }

    /// The first epoch of checkpoint `number`'s successor: where a run that
    /// resumes from checkpoint `number` starts its epochs.
    pub fn boundary_of(self, number: u64) -> Time {
        number.saturating_mul(self.k)
    }
}

/// The routing key of a silver row's files: its (`session_date`,
/// `car_number`), as the car number plus the date's day number, so that a
/// race's cars (numbers spread over 1..=99) spread evenly over the workers
/// (a hash spreads 20 keys over 2 workers far less evenly), the same in
/// every process. The worker `silver_owner % peers` writes the bucket's
/// files, so that a correction's retraction and insertion meet there.
pub fn silver_owner(session_date: SessionDate, car_number: u8) -> u64 {
    u64::from(car_number) + u64::from(session_date.days_since_epoch().unsigned_abs())
}

#[cfg(test)]
mod tests {
    use timely::progress::Antichain;

    use super::*;

    #[test]
    fn boundaries_cut_every_k_epochs() {
        let clock = CheckpointClock::new(10);
        assert_eq!(clock.boundary_after(0), 10);
        assert_eq!(clock.boundary_after(9), 10);
        assert_eq!(clock.boundary_after(10), 20);
        assert_eq!(CheckpointClock::new(1).boundary_after(5), 6);
        let frontier = Antichain::from_elem(27u64);
        assert_eq!(clock.complete_below(frontier.borrow()), 20);
        assert_eq!(clock.complete_below(Antichain::<u64>::new().borrow()), Time::MAX);
        assert_eq!(clock.number(0), 1);
        assert_eq!(clock.number(19), 2);
        assert_eq!(clock.boundary_of(2), 20);
        assert_eq!(CheckpointClock::new(0).k(), 1, "at least one epoch");
    }
}
