-- lap_chart: each car's position at the end of each lap it completed, the
-- order in which the cars crossed the line to end that lap (a lap chart).
--
-- session_id, lap    the lap
-- position           1-based among the cars that completed the lap
-- car_number         the car
-- driver_code        its driver
-- lap_end_ms         when it crossed the line (the next lap's start)
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  l.session_id,
  l.lap,
  row_number() OVER (
    PARTITION BY l.session_id, l.lap
    ORDER BY l.lap_start_ms + l.lap_time_ms, l.car_number
  ) AS position,
  l.car_number,
  e.driver_code,
  l.lap_start_ms + l.lap_time_ms AS lap_end_ms
FROM gold.lap_metrics AS l
LEFT JOIN entry_list AS e
  ON e.session_id = l.session_id AND e.car_number = l.car_number
WHERE l.lap_time_ms IS NOT NULL
ORDER BY l.session_id, l.lap, position
