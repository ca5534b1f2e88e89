//! Dynamic message plugins for the fidius-bus tests: a counter that stops
//! with the count on `u32::MAX`, one that panics on 13, and a configured one.

use fidius_bus::{decode, plugin_impl, MessagePlugin};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Counts messages; stops with the count (mod 256) on `u32::MAX`.
#[derive(Default)]
pub struct Counter {
    seen: Mutex<Vec<u32>>,
}

#[plugin_impl(MessagePlugin)]
impl MessagePlugin for Counter {
    fn handle_message(&self, message: Vec<u8>) -> Option<u8> {
        let v: u32 = decode(&message).expect("a u32 message");
        let mut seen = self.seen.lock().unwrap();
        if v == u32::MAX {
            // In order and complete, or a distinctive failure code.
            let ordered = seen.iter().enumerate().all(|(i, x)| *x == i as u32);
            return Some(if ordered {
                (seen.len() % 256) as u8
            } else {
                255
            });
        }
        seen.push(v);
        None
    }
}

/// Panics on 13.
pub struct Unlucky;

#[plugin_impl(MessagePlugin)]
impl MessagePlugin for Unlucky {
    fn handle_message(&self, message: Vec<u8>) -> Option<u8> {
        let v: u32 = decode(&message).expect("a u32 message");
        if v == 13 {
            panic!("unlucky number {v}");
        }
        None
    }
}

/// Configuration of [`Threshold`] (the constructor argument).
#[derive(Serialize, Deserialize)]
pub struct ThresholdConfig {
    /// Stop code returned at the first message above `limit`.
    pub code: u8,
    /// The limit.
    pub limit: u32,
}

/// Stops with `code` at the first message above `limit`.
pub struct Threshold {
    cfg: ThresholdConfig,
}

impl Threshold {
    /// Built once per instance from its config.
    pub fn configure(cfg: ThresholdConfig) -> Self {
        Self { cfg }
    }
}

#[plugin_impl(MessagePlugin, config = ThresholdConfig)]
impl MessagePlugin for Threshold {
    fn handle_message(&self, message: Vec<u8>) -> Option<u8> {
        let v: u32 = decode(&message).expect("a u32 message");
        (v > self.cfg.limit).then_some(self.cfg.code)
    }
}

fidius::fidius_plugin_registry!();
