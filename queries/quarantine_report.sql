-- quarantine_report: invalid records per reason, source and checkpoint (a
-- record with several reasons counts once under each). The checkpoint is
-- the one whose commit added the record's data file (racecast.files, from
-- the table's Delta log; null for files whose log entries retention has
-- deleted).
--
-- reason           a reason code, e.g. range:speed_kph, missing:lap, decode
-- source           the source the record was read from (file path or topic)
-- checkpoint       the checkpoint that committed it
-- records          how many
-- first_ingested_at, last_ingested_at   when the first and the last were read
SELECT
  r.reason,
  r.source,
  f.checkpoint,
  count(*) AS records,
  min(r.ingested_at) AS first_ingested_at,
  max(r.ingested_at) AS last_ingested_at
FROM (
  SELECT
    unnest(string_to_array(reasons, ',')) AS reason,
    source,
    ingested_at,
    regexp_replace(_file, '^.*/', '') AS file_name
  FROM bronze.quarantine
) AS r
LEFT JOIN racecast.files AS f
  ON f.table_name = 'bronze/quarantine' AND f.file_name = r.file_name
GROUP BY r.reason, r.source, f.checkpoint
ORDER BY r.reason, r.source, f.checkpoint
