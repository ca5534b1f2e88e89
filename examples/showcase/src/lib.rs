//! Runnable examples of fidius features; see `examples/` (`cargo run -p
//! showcase --example <name>`). Each example defines an interface, an
//! in-process plugin and the host code that uses it.
