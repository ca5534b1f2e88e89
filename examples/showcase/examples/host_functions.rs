//! Host functions: the plugin calls back into the host mid-call.

use fidius::{plugin_impl, PluginError};
use std::sync::Arc;

#[fidius::host_interface(version = 1)]
pub trait Storage: Send + Sync {
    fn get(&self, key: String) -> Result<String, PluginError>;
    fn log(&self, line: String);
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Renderer: Send + Sync {
    fn render(&self, template: String) -> Result<String, PluginError>;
}

pub struct TemplateRenderer;

#[plugin_impl(Renderer)]
impl Renderer for TemplateRenderer {
    fn render(&self, template: String) -> Result<String, PluginError> {
        let host =
            StorageClient::bound().map_err(|e| PluginError::new("NO_HOST", e.to_string()))?;
        let mut out = String::new();
        for word in template.split(' ') {
            let piece = match word.strip_prefix('$') {
                Some(key) => host
                    .get(key)
                    .map_err(|e| PluginError::new("LOOKUP", e.to_string()))?,
                None => word.to_string(),
            };
            out.push_str(&piece);
            out.push(' ');
        }
        let _ = host.log(&format!("rendered {} words", template.split(' ').count()));
        Ok(out.trim_end().to_string())
    }
}

fidius::fidius_plugin_registry!();

struct MapStorage;

impl Storage for MapStorage {
    fn get(&self, key: String) -> Result<String, PluginError> {
        match key.as_str() {
            "name" => Ok("fidius".into()),
            "mood" => Ok("delighted".into()),
            _ => Err(PluginError::new("MISSING", format!("no value for {key}"))),
        }
    }
    fn log(&self, line: String) {
        println!("  [host log] {line}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let renderer = RendererClient::in_process("TemplateRenderer")?;
    match renderer.render("hello $name") {
        Err(e) => println!("before binding: {e}"),
        Ok(v) => println!("unexpected: {v}"),
    }
    StorageBinding::bind_in_process(Arc::new(MapStorage))?;
    println!("{}", renderer.render("hello $name , I am $mood")?);
    match renderer.render("hello $nobody") {
        Err(e) => println!("host error surfaced: {e}"),
        Ok(v) => println!("unexpected: {v}"),
    }
    Ok(())
}
