//! racecast-connectors' integration tests, one binary: the Delta tables'
//! schemas against `schemas/delta` (`delta_schemas`), the Kafka source
//! against a real broker (`kafka_source`), and the simulator's files
//! against the JSON Schemas (`schema`).

mod delta_schemas;
mod kafka_source;
mod schema;
