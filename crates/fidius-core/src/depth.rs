//! A nesting limit for any serde `Deserializer`: bytes that nest deeper than
//! the limit (recursive types) are a decoding error, never a stack overflow.
//!
//! [`Limited`] wraps a deserializer and every visitor, accessor and seed it
//! hands out, counting one level per sequence, map, enum, `Some` and
//! newtype entered. Scalars pass straight through.

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use std::fmt;

/// How deeply the fidius wire lets a value nest (ample for real data: each
/// level costs the decoder a few hundred bytes of stack).
pub const MAX_DEPTH: u32 = 512;

/// A deserializer that refuses nesting deeper than its limit.
pub struct Limited<D> {
    inner: D,
    left: u32,
}

impl<D> Limited<D> {
    /// Wraps `inner`, allowing `max` levels of nesting.
    pub fn new(inner: D, max: u32) -> Self {
        Self { inner, left: max }
    }
}

fn deeper<E: de::Error>(left: u32) -> Result<u32, E> {
    left.checked_sub(1)
        .ok_or_else(|| E::custom("the value nests deeper than the decoder allows"))
}

/// A visitor of one level.
struct V<X> {
    inner: X,
    left: u32,
}

macro_rules! forward_scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, X: Visitor<'de>> Visitor<'de> for V<X> {
    type Value = X::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_scalars! {
        visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
        visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
        visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char,
        visit_str: &str, visit_borrowed_str: &'de str, visit_string: String,
        visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>,
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let left = deeper(self.left)?;
        self.inner.visit_some(Limited { inner: d, left })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let left = deeper(self.left)?;
        self.inner.visit_newtype_struct(Limited { inner: d, left })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        let left = deeper(self.left)?;
        self.inner.visit_seq(Access { inner: a, left })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        let left = deeper(self.left)?;
        self.inner.visit_map(Access { inner: a, left })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        let left = deeper(self.left)?;
        self.inner.visit_enum(Access { inner: a, left })
    }
}

/// A seed whose value is decoded at the level of its container.
struct Seed<S> {
    inner: S,
    left: u32,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(Limited {
            inner: d,
            left: self.left,
        })
    }
}

/// A sequence, map, enum or variant accessor one level down.
struct Access<A> {
    inner: A,
    left: u32,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(Seed {
            inner: seed,
            left: self.left,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Seed {
            inner: seed,
            left: self.left,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(Seed {
            inner: seed,
            left: self.left,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let left = self.left;
        let (value, variant) = self.inner.variant_seed(Seed { inner: seed, left })?;
        Ok((
            value,
            Access {
                inner: variant,
                left,
            },
        ))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            left: self.left,
        })
    }

    fn tuple_variant<X: Visitor<'de>>(self, len: usize, visitor: X) -> Result<X::Value, A::Error> {
        self.inner.tuple_variant(
            len,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn struct_variant<X: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: X,
    ) -> Result<X::Value, A::Error> {
        self.inner.struct_variant(
            fields,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }
}

macro_rules! forward_plain {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<X: Visitor<'de>>(self, visitor: X) -> Result<X::Value, D::Error> {
                self.inner.$method(V { inner: visitor, left: self.left })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_any, deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32,
        deserialize_i64, deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32,
        deserialize_u64, deserialize_u128, deserialize_f32, deserialize_f64, deserialize_char,
        deserialize_str, deserialize_string, deserialize_bytes, deserialize_byte_buf,
        deserialize_option, deserialize_unit, deserialize_seq, deserialize_map,
        deserialize_identifier, deserialize_ignored_any,
    }

    fn deserialize_unit_struct<X: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_unit_struct(
            name,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn deserialize_newtype_struct<X: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_newtype_struct(
            name,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn deserialize_tuple<X: Visitor<'de>>(
        self,
        len: usize,
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_tuple(
            len,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn deserialize_tuple_struct<X: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_tuple_struct(
            name,
            len,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn deserialize_struct<X: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn deserialize_enum<X: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: X,
    ) -> Result<X::Value, D::Error> {
        self.inner.deserialize_enum(
            name,
            variants,
            V {
                inner: visitor,
                left: self.left,
            },
        )
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    /// A recursive type, as a plugin's return type may be.
    #[derive(Debug, Deserialize, PartialEq)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
    }

    /// `depth` nested `Node`s around a `Leaf`, in the fidius wire encoding.
    fn nested(depth: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(depth * 4 + 4);
        for _ in 0..depth {
            bytes.extend_from_slice(&1u32.to_le_bytes());
        }
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes
    }

    #[test]
    fn shallow_values_decode_and_deep_ones_are_errors() {
        let mut t: Tree = crate::wire::deserialize(&nested(100)).unwrap();
        let mut depth = 0;
        while let Tree::Node(inner) = t {
            t = *inner;
            depth += 1;
        }
        assert_eq!(depth, 100);
        // Far past any stack: an error, not an overflow.
        let e = crate::wire::deserialize::<Tree>(&nested(1_000_000)).unwrap_err();
        assert!(e.to_string().contains("nests deeper"), "{e}");
        // Nesting through sequences and options counts too.
        let mut seqs = Vec::new();
        for _ in 0..10_000 {
            seqs.extend_from_slice(&1u64.to_le_bytes());
        }
        seqs.extend_from_slice(&0u64.to_le_bytes());
        #[derive(Debug, Deserialize)]
        struct Nest(#[allow(dead_code)] Vec<Nest>);
        assert!(crate::wire::deserialize::<Nest>(&seqs).is_err());
        assert!(crate::wire::deserialize::<Vec<Vec<Option<u8>>>>(
            &crate::wire::serialize(&vec![vec![Some(1u8)]]).unwrap()
        )
        .is_ok());
    }
}
