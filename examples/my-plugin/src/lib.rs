//! Example plugin crate: the `Invert` filter of the fidius README, written
//! exactly as the README shows it.

use my_api::{plugin_impl, ApplyInput, ApplyOutput, ImageFilter};

pub struct Invert;

#[plugin_impl(ImageFilter)]
impl ImageFilter for Invert {
    fn apply(&self, input: ApplyInput) -> ApplyOutput {
        ApplyOutput {
            pixels: input.pixels.into_iter().map(|p| 255 - p).collect(),
        }
    }
}

fidius::fidius_plugin_registry!();
