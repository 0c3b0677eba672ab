-- entry_list: the session's entry list as silver holds it: one row per car
-- (session_id, car_number) with the entry that is in force (silver joins
-- every row of a car with its entry's highest revision, so all of a car's
-- rows carry the same one).
--
-- session_id     the session
-- car_number     the car
-- driver_code    three-letter driver code (null while no entry is known)
-- team           the team
-- track          the track
-- session_type   P1..P3, Q, SQ, S or R
SELECT
  session_id,
  car_number,
  max(driver_code) AS driver_code,
  max(team) AS team,
  max(track) AS track,
  max(session_type) AS session_type
FROM silver.telemetry_enriched
GROUP BY session_id, car_number
ORDER BY session_id, car_number
