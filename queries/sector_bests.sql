-- sector_bests: per car, its best time in each sector and its ideal lap
-- (the sum of its three best sectors, null while a sector has no time),
-- beside its best lap; and whether each of its bests is the session's.
--
-- session_id, car_number, driver_code   the car
-- best_sector1_ms .. best_sector3_ms    its best time in each sector
-- ideal_lap_ms                          the sum of the three
-- best_lap_ms                           its best whole lap
-- session_best_sector1_ms .. 3          the session's best in each sector
-- session_ideal_lap_ms                  the sum of the session's best sectors
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  b.session_id,
  b.car_number,
  e.driver_code,
  b.best_sector1_ms,
  b.best_sector2_ms,
  b.best_sector3_ms,
  b.best_sector1_ms + b.best_sector2_ms + b.best_sector3_ms AS ideal_lap_ms,
  b.best_lap_ms,
  min(b.best_sector1_ms) OVER session AS session_best_sector1_ms,
  min(b.best_sector2_ms) OVER session AS session_best_sector2_ms,
  min(b.best_sector3_ms) OVER session AS session_best_sector3_ms,
  min(b.best_sector1_ms) OVER session + min(b.best_sector2_ms) OVER session
    + min(b.best_sector3_ms) OVER session AS session_ideal_lap_ms
FROM (
  SELECT
    session_id,
    car_number,
    min(sector1_ms) AS best_sector1_ms,
    min(sector2_ms) AS best_sector2_ms,
    min(sector3_ms) AS best_sector3_ms,
    min(lap_time_ms) AS best_lap_ms
  FROM gold.lap_metrics
  GROUP BY session_id, car_number
) AS b
LEFT JOIN entry_list AS e
  ON e.session_id = b.session_id AND e.car_number = b.car_number
WINDOW session AS (PARTITION BY b.session_id)
ORDER BY b.session_id, b.car_number
