-- freshness: per table, the last checkpoint it committed, when that
-- checkpoint's commits started, and the source positions it covers (how
-- far into each input the table is), from the tables' Delta logs
-- (racecast.checkpoints).
--
-- table_name        e.g. gold/lap_metrics
-- checkpoint        its last checkpoint
-- version           the table's Delta version for it
-- started_at        when that checkpoint's commits started (UTC)
-- complete          whether every table has that checkpoint
-- positions         the source positions, as JSON
SELECT
  c.table_name,
  c.checkpoint,
  c.version,
  c.started_at,
  c.complete,
  c.positions
FROM racecast.checkpoints AS c
JOIN (
  SELECT table_name, max(checkpoint) AS checkpoint
  FROM racecast.checkpoints
  GROUP BY table_name
) AS last
  ON last.table_name = c.table_name AND last.checkpoint = c.checkpoint
ORDER BY c.table_name
