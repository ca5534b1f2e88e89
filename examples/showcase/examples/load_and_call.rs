//! Define an interface, implement it, and call it through the typed client.
//! (In process here; the same client works for a cdylib loaded with `PluginHost`.)

use fidius::{plugin_impl, CallError, PluginError};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Greeter: Send + Sync {
    fn greet(&self, name: String) -> String;
    fn divide(&self, a: i64, b: i64) -> Result<i64, PluginError>;
    #[optional(since = 2)]
    fn shout(&self, text: String) -> String {
        text.to_uppercase()
    }
}

pub struct Polite;

#[plugin_impl(Greeter)]
impl Greeter for Polite {
    fn greet(&self, name: String) -> String {
        format!("Hello, {name}!")
    }
    fn divide(&self, a: i64, b: i64) -> Result<i64, PluginError> {
        if b == 0 {
            Err(PluginError::new("DIV_ZERO", "cannot divide by zero"))
        } else {
            Ok(a / b)
        }
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = GreeterClient::in_process("Polite")?;
    println!("{}", client.greet("fidius")?);
    println!("7 / 2 = {}", client.divide(&7, &2)?);
    match client.divide(&1, &0) {
        Err(CallError::Plugin(e)) => println!("typed plugin error: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    match client.shout("hi") {
        Err(CallError::NotImplemented { bit }) => {
            println!("optional method not implemented (bit {bit})")
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
