-- entry_list: the session's entry list: one row per car (session_id,
-- car_number) with the entry in force, its highest valid revision (the one
-- silver joins every row of that car with). It reads silver.entry_list,
-- which racecast decodes from bronze's entry records, so it costs the same
-- on a long race as on a short one.
--
-- session_id     the session
-- car_number     the car
-- driver_code    three-letter driver code
-- team           the team
-- track          the track
-- session_type   P1..P3, Q, SQ, S or R
SELECT
  session_id,
  car_number,
  driver_code,
  team,
  track,
  session_type
FROM silver.entry_list
ORDER BY session_id, car_number
