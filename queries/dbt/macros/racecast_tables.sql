{#
  racecast_tables(data): the tables racecast's views read, as DuckDB views
  over the Delta tables under `data` (delta_scan applies deletion vectors):
  - bronze.telemetry_events, bronze.quarantine, silver.telemetry_enriched,
    gold.lap_metrics, gold.session_metrics and
    quality.expectation_results, each with `_file`, the data
    file's path relative to its table (as the Delta log names it);
  - racecast.checkpoints and racecast.files, from the tables' Delta logs
    (_delta_log/*.json), with the columns racecast gives them;
  - silver.entry_list, the entry in force per car. racecast decodes it from
    bronze's entry records; DuckDB cannot decode their protobuf form, so
    here it comes from silver (each car's rows carry its entry): the same
    rows for every car with telemetry, none for an entrant without any.
  dbt reads the latest version of each table: run it against tables no run
  is writing (racecast query --as-of-checkpoint is for live tables).
#}
{% macro racecast_tables(data) %}
  {% set tables = [
    ('bronze', 'telemetry_events'),
    ('bronze', 'quarantine'),
    ('silver', 'telemetry_enriched'),
    ('gold', 'lap_metrics'),
    ('gold', 'session_metrics'),
    ('quality', 'expectation_results'),
  ] %}
  {% for schema in ['bronze', 'silver', 'gold', 'quality', 'racecast'] %}
    CREATE SCHEMA IF NOT EXISTS {{ schema }};
  {% endfor %}
  {% for schema, name in tables %}
    {% set dir = data ~ '/' ~ schema ~ '/' ~ name %}
    CREATE OR REPLACE VIEW {{ schema }}.{{ name }} AS
    SELECT * EXCLUDE (filename),
      substr(filename, length('{{ dir }}/') + 1) AS _file
    FROM delta_scan('{{ dir }}', filename = true);
  {% endfor %}
  CREATE OR REPLACE VIEW silver.entry_list AS
  SELECT
    session_id, car_number,
    max(driver_code) AS driver_code, max(team) AS team, max(track) AS track,
    max(session_type) AS session_type, max(entry_revision) AS entry_revision
  FROM silver.telemetry_enriched
  WHERE entry_revision IS NOT NULL
  GROUP BY session_id, car_number;
  CREATE OR REPLACE VIEW racecast.log_lines AS
  SELECT
    regexp_extract(filename, '([a-z]+/[a-z_]+)/_delta_log/[0-9]+\.json$', 1) AS table_name,
    CAST(regexp_extract(filename, '([0-9]+)\.json$', 1) AS BIGINT) AS version,
    json
  FROM read_ndjson_objects('{{ data }}/*/*/_delta_log/*.json', filename = true);
  CREATE OR REPLACE VIEW racecast.checkpoints AS
  WITH commits AS (
    SELECT
      table_name,
      CAST(json_extract(json, '$.commitInfo."racecast.checkpoint"') AS BIGINT) AS checkpoint,
      version,
      json_extract_string(json, '$.commitInfo."racecast.run_id"') AS run_id,
      make_timestamptz(1000 * CAST(json_extract(json, '$.commitInfo."racecast.started_ms"') AS BIGINT)) AS started_at,
      make_timestamptz(1000 * CAST(json_extract(json, '$.commitInfo.timestamp') AS BIGINT)) AS committed_at,
      CAST(json_extract(json, '$.commitInfo."racecast.positions"') AS VARCHAR) AS positions
    FROM racecast.log_lines
    WHERE json_extract(json, '$.commitInfo."racecast.checkpoint"') IS NOT NULL
  )
  SELECT
    table_name, checkpoint, version, run_id, started_at, committed_at,
    count(*) OVER (PARTITION BY checkpoint) = {{ tables | length }} AS complete,
    positions
  FROM commits;
  CREATE OR REPLACE VIEW racecast.files AS
  SELECT
    l.table_name,
    json_extract_string(l.json, '$.add.path') AS path,
    regexp_replace(json_extract_string(l.json, '$.add.path'), '^.*/', '') AS file_name,
    c.checkpoint,
    l.version
  FROM racecast.log_lines AS l
  JOIN racecast.checkpoints AS c
    ON c.table_name = l.table_name AND c.version = l.version
  WHERE json_extract(l.json, '$.add') IS NOT NULL;
{% endmacro %}
