//! Compile test for fidius 0.5 source compatibility: everything is in
//! `tests/api.rs`, written against the fidius 0.5 public API only.
