//! A configured guest with user records and variants, written the fidius 0.5
//! way (`#[derive(WitType)]`, a `fidius-build` build script).

use fidius_guest::PluginError;
use fidius_macro::{plugin_impl, plugin_interface, WitType};
use serde::{Deserialize, Serialize};

/// A language.
#[derive(WitType, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Lang {
    En,
    Fr,
    Other(String),
}

/// A greeting.
#[derive(WitType, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Greeting {
    pub text: String,
    pub lang: Lang,
    pub exclaim: bool,
}

/// The plugin's configuration.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct GreeterConfig {
    pub prefix: String,
    pub exclaim: bool,
}

#[plugin_interface(version = 1, buffer = PluginAllocated, crate = "fidius_guest")]
pub trait Greeter: Send + Sync {
    fn greet(&self, name: String, lang: Lang) -> Greeting;
    fn checked(&self, name: String) -> Result<Greeting, PluginError>;
    fn prefix(&self) -> String;
    fn calls(&self) -> u32;
}

pub struct PrefixGreeter {
    cfg: GreeterConfig,
    calls: std::sync::atomic::AtomicU32,
}

impl PrefixGreeter {
    pub fn configure(cfg: GreeterConfig) -> Self {
        PrefixGreeter {
            cfg,
            calls: Default::default(),
        }
    }
}

#[plugin_impl(Greeter, crate = "fidius_guest", config = GreeterConfig)]
impl Greeter for PrefixGreeter {
    fn greet(&self, name: String, lang: Lang) -> Greeting {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let word = match &lang {
            Lang::En => "hello".to_string(),
            Lang::Fr => "bonjour".to_string(),
            Lang::Other(w) => w.clone(),
        };
        Greeting {
            text: format!("{} {word} {name}", self.cfg.prefix),
            lang,
            exclaim: self.cfg.exclaim,
        }
    }
    fn checked(&self, name: String) -> Result<Greeting, PluginError> {
        if name.is_empty() {
            return Err(PluginError::new("EMPTY", "no name"));
        }
        Ok(self.greet(name, Lang::En))
    }
    fn prefix(&self) -> String {
        self.cfg.prefix.clone()
    }
    fn calls(&self) -> u32 {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}
