//! The interface hash: FNV-1a 64 over the sorted canonical signature strings
//! of an interface's required methods (byte-compatible with fidius 0.5).

/// FNV-1a 64-bit offset basis.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, usable in `const` contexts.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Hash of a set of signature strings: sorted bytewise, joined with `\n`, FNV-1a.
pub fn interface_hash(signatures: &[&str]) -> u64 {
    let mut sorted: Vec<&str> = signatures.to_vec();
    sorted.sort_unstable();
    fnv1a(sorted.join("\n").as_bytes())
}

/// The canonical signature string of one method:
/// `name:arg1,arg2->ret` followed by `!raw`, `!stream`, `<stream` markers.
///
/// Types are given as the compiler's token printer spells them
/// (`Vec < u8 >`); for server streams `ret` is the item type, for a client
/// stream argument the item type stands in the argument list.
pub fn signature_string(
    name: &str,
    arg_types: &[&str],
    ret: &str,
    wire_raw: bool,
    server_streaming: bool,
    client_streaming: bool,
) -> String {
    let mut s = format!("{name}:{}->{ret}", arg_types.join(","));
    if wire_raw {
        s.push_str("!raw");
    }
    if server_streaming {
        s.push_str("!stream");
    }
    if client_streaming {
        s.push_str("<stream");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_values() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"fidius"), 0x2a1260675ba3ee67);
        let byte_pipe = [
            signature_string("reverse", &["Vec < u8 >"], "Vec < u8 >", true, false, false),
            signature_string("name", &[], "String", false, false, false),
        ];
        let refs: Vec<&str> = byte_pipe.iter().map(String::as_str).collect();
        assert_eq!(interface_hash(&refs), 0xDF233D1A5936EB5C);
        let tick = signature_string("tick", &["u32"], "u64", false, true, false);
        assert_eq!(tick, "tick:u32->u64!stream");
        assert_eq!(interface_hash(&[&tick]), 0xFD152C8AA1112FC3);
    }

    #[test]
    fn order_independent() {
        assert_eq!(
            interface_hash(&["a:->u32", "b:->u32"]),
            interface_hash(&["b:->u32", "a:->u32"])
        );
        assert_ne!(interface_hash(&["a:->u32"]), interface_hash(&["a:->u64"]));
    }
}
