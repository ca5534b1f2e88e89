//! The fidius interface model: a `#[plugin_interface]` trait parsed and
//! validated once ([`ir`]), with its hash, WIT world ([`wit`]) and the
//! code-generation helpers the macros, `fidius-build` and the CLI share.
//!
//! Nothing here is a proc macro: the same model runs inside `fidius-macro`
//! (where spans point at user code) and in ordinary programs such as
//! `fidius wit`, which read a crate's source with [`source`].

#![warn(missing_docs)]

extern crate proc_macro;

pub mod attrs;
pub mod ir;
pub mod names;
pub mod python;
pub mod source;
pub mod tokens;
pub mod types;
pub mod wit;

pub use ir::{Interface, Method, Ret};
