//! Example plugin crate: `Brighten` adds a fixed amount to every pixel,
//! saturating at 255. Its type has a field, so it implements `Default`.

use my_api::{plugin_impl, ApplyInput, ApplyOutput, ImageFilter};

/// Brightens by `amount`.
pub struct Brighten {
    amount: u8,
}

impl Default for Brighten {
    fn default() -> Self {
        Self { amount: 40 }
    }
}

#[plugin_impl(ImageFilter)]
impl ImageFilter for Brighten {
    fn apply(&self, input: ApplyInput) -> ApplyOutput {
        ApplyOutput {
            pixels: input
                .pixels
                .iter()
                .map(|p| p.saturating_add(self.amount))
                .collect(),
        }
    }
}

fidius::fidius_plugin_registry!();
