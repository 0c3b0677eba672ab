-- tyre_degradation: per car and stint (a run of consecutive laps on one set
-- of tyres: a new stint starts at a lap whose highest tyre wear is below
-- the lap before's, after a pit stop), how fast the tyres wore and how the
-- lap time moved over the stint.
--
-- session_id, car_number, driver_code   the car
-- stint                                 1-based, in lap order
-- first_lap, last_lap, laps             the stint's laps (with any gold row)
-- start_wear_pct, end_wear_pct          highest tyre wear on its first and last lap
-- wear_per_lap_pct                      least-squares slope of the laps' highest wear per lap
-- lap_time_slope_ms                     least-squares slope of the completed laps' times per lap
-- avg_lap_time_ms                       mean time of its completed laps
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  s.session_id,
  s.car_number,
  e.driver_code,
  s.stint,
  min(s.lap) AS first_lap,
  max(s.lap) AS last_lap,
  count(*) AS laps,
  min(s.max_tire_wear_pct) AS start_wear_pct,
  max(s.max_tire_wear_pct) AS end_wear_pct,
  regr_slope(s.max_tire_wear_pct, s.lap) AS wear_per_lap_pct,
  regr_slope(s.lap_time_ms, s.lap) AS lap_time_slope_ms,
  avg(s.lap_time_ms) AS avg_lap_time_ms
FROM (
  SELECT
    w.*,
    1 + sum(w.new_stint) OVER (
      PARTITION BY w.session_id, w.car_number ORDER BY w.lap
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS stint
  FROM (
    SELECT
      session_id,
      car_number,
      lap,
      lap_time_ms,
      max_tire_wear_pct,
      CASE
        WHEN max_tire_wear_pct < lag(max_tire_wear_pct) OVER (
          PARTITION BY session_id, car_number ORDER BY lap
        ) THEN 1
        ELSE 0
      END AS new_stint
    FROM gold.lap_metrics
  ) AS w
) AS s
LEFT JOIN entry_list AS e
  ON e.session_id = s.session_id AND e.car_number = s.car_number
GROUP BY s.session_id, s.car_number, e.driver_code, s.stint
ORDER BY s.session_id, s.car_number, s.stint
