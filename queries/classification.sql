-- classification: the session's order, as a timing tower shows it: every
-- car of gold.session_metrics by position, with its driver and team from
-- the entry list, the gap to the leader and the interval to the car ahead.
--
-- session_id         the session
-- position           1-based (laps completed desc, total time asc, car number asc)
-- car_number         the car
-- driver_code        three-letter driver code (null while no entry is known)
-- team               the team
-- laps_completed     laps with a lap time
-- total_time_ms      the sum of those laps' times
-- gap_to_leader_ms   total time minus the leader's, when on the leader's lap count
-- interval_ms        total time minus the car ahead's, when on its lap count
-- laps_behind_ahead  laps fewer than the car ahead (0 on the same lap)
-- best_lap_ms        the car's best lap time, and best_lap the lap that set it
-- fastest_lap        true for the session's fastest lap
-- top_speed_kph      the car's top speed
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  s.session_id,
  s.position,
  s.car_number,
  e.driver_code,
  e.team,
  s.laps_completed,
  s.total_time_ms,
  s.gap_to_leader_ms,
  CASE
    WHEN s.position = 1 THEN NULL
    WHEN s.laps_completed = lag(s.laps_completed) OVER w
      THEN s.total_time_ms - lag(s.total_time_ms) OVER w
  END AS interval_ms,
  coalesce(lag(s.laps_completed) OVER w - s.laps_completed, 0) AS laps_behind_ahead,
  s.best_lap_ms,
  s.best_lap,
  s.fastest_lap,
  s.top_speed_kph
FROM gold.session_metrics AS s
LEFT JOIN entry_list AS e
  ON e.session_id = s.session_id AND e.car_number = s.car_number
WINDOW w AS (PARTITION BY s.session_id ORDER BY s.position)
ORDER BY s.session_id, s.position
