//! [`Pacer`]: plays a race at a chosen speed against the wall clock, so
//! that a live race (speed 1) delivers each record at its arrival time.
//! The same pacing serves `racecast run`'s simulator feed, which steps its
//! dataflow while it waits, and `racecast simulate --kafka`, which sleeps.

use std::time::{Duration, Instant};

/// Wall-clock pacing of deliveries: the first delivery is due at once, a
/// later one when the race time since the first has passed, divided by the
/// speed.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Race time per wall time; `None`: as fast as possible.
    speed: Option<f64>,
    started: Instant,
    first_arrival_ms: Option<i64>,
}

impl Pacer {
    /// A pacer starting now at `speed` (race time per wall time; `None`
    /// for as fast as possible).
    pub fn new(speed: Option<f64>) -> Pacer {
        Pacer {
            speed,
            started: Instant::now(),
            first_arrival_ms: None,
        }
    }

    /// When a delivery arriving at `arrival_ms` is due, as wall time since
    /// the pacer started; `None` when unpaced.
    pub fn due(&mut self, arrival_ms: i64) -> Option<Duration> {
        let speed = self.speed?;
        let first = *self.first_arrival_ms.get_or_insert(arrival_ms);
        Some(Duration::from_secs_f64(
            (arrival_ms - first).max(0) as f64 / 1000.0 / speed,
        ))
    }

    /// How long until `due` (zero once it has passed).
    pub fn until(&self, due: Duration) -> Duration {
        due.saturating_sub(self.started.elapsed())
    }

    /// How far behind `due` the pacer is (zero when on time).
    pub fn behind(&self, due: Duration) -> Duration {
        self.started.elapsed().saturating_sub(due)
    }

    /// Wall time since the pacer started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_fall_due_at_race_time_over_speed() {
        let mut pacer = Pacer::new(Some(10.0));
        assert_eq!(pacer.due(5_000), Some(Duration::ZERO), "the first is due at once");
        assert_eq!(pacer.due(15_000), Some(Duration::from_secs(1)));
        assert_eq!(
            pacer.due(4_000),
            Some(Duration::ZERO),
            "an early arrival is due at once"
        );
        assert!(pacer.until(Duration::from_secs(1)) > Duration::from_millis(900));
        assert_eq!(pacer.behind(Duration::from_secs(1)), Duration::ZERO);
        let mut unpaced = Pacer::new(None);
        assert_eq!(unpaced.due(15_000), None);
    }
}
