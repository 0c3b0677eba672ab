//! racecast-dataflow's integration tests, one binary: the decoder against
//! SPEC §1 (`codec`), and the incremental dataflow against the batch
//! reference on hostile simulated races (`replay`).

mod codec;
mod expect;
mod replay;
