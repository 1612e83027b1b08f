//! Microbenchmarks of rein's parsers and conversions live in `benches/parsers.rs`
//! (`cargo bench -p rein-bench`); this crate has no code of its own.
