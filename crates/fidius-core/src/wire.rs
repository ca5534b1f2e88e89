//! The fidius wire: bincode 1.x legacy encoding (little-endian, fixed-width
//! integers, `u64` length prefixes), with fast paths for byte buffers.
//!
//! Arguments always travel as a tuple (`()`, `(A,)`, `(A, B)`, …); results as
//! the bare value. [`Bytes`] and [`ByteBuf`] write and read `Vec<u8>` as one
//! length-prefixed block instead of element by element; the bytes on the wire
//! are identical either way.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::Write;

/// A wire encoding or decoding failure.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// bincode rejected the value or the bytes.
    #[error("bincode wire error: {0}")]
    Bincode(#[from] bincode::Error),
}

/// Encodes `value`.
pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    Ok(bincode::serialize(value)?)
}

/// Decodes a `T` from `bytes` (trailing bytes are allowed, as in fidius 0.5).
/// Values nesting deeper than [`crate::depth::MAX_DEPTH`] levels are an
/// error, so hostile bytes for a recursive type cannot overflow the stack.
pub fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let mut de = bincode::Deserializer::from_slice(bytes, options());
    Ok(T::deserialize(crate::depth::Limited::new(
        &mut de,
        crate::depth::MAX_DEPTH,
    ))?)
}

/// The wire's bincode configuration (bincode 1's legacy defaults, as
/// `bincode::serialize` uses them).
pub fn options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

/// The encoded size of `value`.
pub fn serialized_size<T: Serialize + ?Sized>(value: &T) -> Result<u64, WireError> {
    Ok(bincode::serialized_size(value)?)
}

/// Encodes `value` into `writer`.
pub fn serialize_into<W: Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), WireError> {
    Ok(bincode::serialize_into(writer, value)?)
}

/// Appends the encoding of `value` to `buf`.
pub fn serialize_append<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), WireError> {
    Ok(bincode::serialize_into(buf, value)?)
}

/// Borrowed bytes that serialize as one block (`u64` length + bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Owned bytes that deserialize (and serialize) as one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteBuf(pub Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte buffer")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl From<ByteBuf> for Vec<u8> {
    fn from(b: ByteBuf) -> Self {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_layout() {
        assert_eq!(
            serialize(&(1u32, 2i64)).unwrap(),
            [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            serialize(&"ab").unwrap(),
            [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']
        );
        assert_eq!(serialize(&Some(1u8)).unwrap(), [1, 1]);
        assert_eq!(serialize(&()).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn byte_fast_path_matches_generic_encoding() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let generic = serialize(&(data.clone(), 7u16)).unwrap();
        let fast = serialize(&(Bytes(&data), 7u16)).unwrap();
        assert_eq!(generic, fast);
        let (back, n): (ByteBuf, u16) = deserialize(&fast).unwrap();
        assert_eq!((back.0, n), (data, 7));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = serialize(&(Bytes(&[1, 2, 3]),)).unwrap();
        assert!(deserialize::<(ByteBuf,)>(&bytes[..bytes.len() - 1]).is_err());
        // A length prefix far beyond the input must fail, not allocate.
        let mut hostile = u64::MAX.to_le_bytes().to_vec();
        hostile.push(0);
        assert!(deserialize::<ByteBuf>(&hostile).is_err());
        assert!(deserialize::<Vec<u64>>(&hostile).is_err());
    }
}
