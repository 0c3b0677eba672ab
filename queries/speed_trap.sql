-- speed_trap: each car's top speed in each sector, and where it was
-- reached: the lap, the position on track and the time of the position
-- sample (the earliest, should several share the top speed).
--
-- session_id, car_number, driver_code   the car
-- sector                                1..3
-- top_speed_kph                         the highest speed_kph of its position samples in the sector
-- car_top_speed                         this is the car's top speed over the whole session
-- lap, x_m, y_m, timestamp_ms           where and when
--
-- depends_on: {{ ref('entry_list') }}
SELECT
  t.session_id,
  t.car_number,
  e.driver_code,
  t.sector,
  t.speed_kph AS top_speed_kph,
  t.speed_kph = max(t.speed_kph) OVER (PARTITION BY t.session_id, t.car_number) AS car_top_speed,
  t.lap,
  t.x_m,
  t.y_m,
  t.timestamp_ms
FROM (
  SELECT
    session_id,
    car_number,
    sector,
    speed_kph,
    lap,
    x_m,
    y_m,
    timestamp_ms,
    row_number() OVER (
      PARTITION BY session_id, car_number, sector
      ORDER BY speed_kph DESC, timestamp_ms, event_id
    ) AS rank_in_sector
  FROM silver.telemetry_enriched
  WHERE event_type = 'position'
) AS t
LEFT JOIN entry_list AS e
  ON e.session_id = t.session_id AND e.car_number = t.car_number
WHERE t.rank_in_sector = 1
ORDER BY t.session_id, t.car_number, t.sector
