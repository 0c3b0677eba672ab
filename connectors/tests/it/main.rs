//! racecast-connectors' integration tests, one binary: the Kafka source
//! against a real broker (`kafka_source`), and the simulator's files
//! against the JSON Schemas (`schema`).

mod kafka_source;
mod schema;
