//! The imports every fidius component may use, bound with wit-bindgen: the
//! host's client-stream items and host-function calls (fidius 0.5 shapes).
//!
//! Only what a guest calls ends up imported by its component (the component
//! encoder drops unused imports), so plugins that stream nothing and call no
//! host function import neither.

wit_bindgen::generate!({
    inline: r#"
package fidius:guest-runtime@0.1.0;

world runtime {
    import fidius:stream-pull/pull@0.1.0;
    import fidius:host-call/host@0.1.0;
}

package fidius:stream-pull@0.1.0 {
    interface pull {
        next: func() -> option<list<u8>>;
    }
}

package fidius:host-call@0.1.0 {
    interface host {
        call: func(interface-name: string, version: u32, hash: u64, index: u32, args: list<u8>) -> tuple<s32, list<u8>>;
    }
}
"#,
    world: "fidius:guest-runtime/runtime",
    generate_all,
});

pub(crate) use self::fidius::host_call::host::call as host_call;
pub(crate) use self::fidius::stream_pull::pull::next as pull_next;
