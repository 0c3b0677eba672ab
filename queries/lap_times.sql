-- lap_times: every completed lap (a lap time is known) with its sectors,
-- marked as a timing screen marks them: the car's own best (personal
-- best, "green") and the session's best (overall best, "purple"), for the
-- lap and for each sector.
--
-- session_id, car_number, lap        the lap
-- driver_code                        the car's driver
-- lap_time_ms                        the lap's time
-- sector1_ms, sector2_ms, sector3_ms the sectors (null while not known)
-- personal_best, overall_best        the lap time is the car's / the session's best
-- sectorN_personal_best              sector N is the car's best sector N
-- sectorN_overall_best               sector N is the session's best sector N
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  l.session_id,
  l.car_number,
  e.driver_code,
  l.lap,
  l.lap_time_ms,
  l.sector1_ms,
  l.sector2_ms,
  l.sector3_ms,
  l.lap_time_ms = min(l.lap_time_ms) OVER car AS personal_best,
  l.lap_time_ms = min(l.lap_time_ms) OVER session AS overall_best,
  coalesce(l.sector1_ms = min(l.sector1_ms) OVER car, false) AS sector1_personal_best,
  coalesce(l.sector1_ms = min(l.sector1_ms) OVER session, false) AS sector1_overall_best,
  coalesce(l.sector2_ms = min(l.sector2_ms) OVER car, false) AS sector2_personal_best,
  coalesce(l.sector2_ms = min(l.sector2_ms) OVER session, false) AS sector2_overall_best,
  coalesce(l.sector3_ms = min(l.sector3_ms) OVER car, false) AS sector3_personal_best,
  coalesce(l.sector3_ms = min(l.sector3_ms) OVER session, false) AS sector3_overall_best
FROM gold.lap_metrics AS l
LEFT JOIN entry_list AS e
  ON e.session_id = l.session_id AND e.car_number = l.car_number
WHERE l.lap_time_ms IS NOT NULL
WINDOW
  car AS (PARTITION BY l.session_id, l.car_number),
  session AS (PARTITION BY l.session_id)
ORDER BY l.session_id, l.car_number, l.lap
