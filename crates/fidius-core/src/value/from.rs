//! Deserializing any `Deserialize` type out of a [`Value`] tree (`from_value`).

use super::*;

// ---------------------------------------------------------------------------
// Deserializer: Value -> Rust
// ---------------------------------------------------------------------------

/// Visits `items` as a sequence, failing if the visitor leaves some unread.
fn visit_list<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, ValueError> {
    let mut seq = SeqDeserializer::new(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(out)
}

/// Visits key/value pairs as a map, failing if the visitor leaves some unread.
fn visit_pairs<'de, K, I, V>(pairs: I, visitor: V) -> Result<V::Value, ValueError>
where
    K: IntoDeserializer<'de, ValueError>,
    I: Iterator<Item = (K, Value)>,
    V: Visitor<'de>,
{
    let mut map = MapDeserializer::new(pairs);
    let out = visitor.visit_map(&mut map)?;
    map.end()?;
    Ok(out)
}

impl Value {
    /// Forwards a number to the visitor with its actual width; anything else is an error.
    fn visit_number<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        expected: &str,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::S8(n) => visitor.visit_i8(n),
            Value::S16(n) => visitor.visit_i16(n),
            Value::S32(n) => visitor.visit_i32(n),
            Value::S64(n) => visitor.visit_i64(n),
            Value::U8(n) => visitor.visit_u8(n),
            Value::U16(n) => visitor.visit_u16(n),
            Value::U32(n) => visitor.visit_u32(n),
            Value::U64(n) => visitor.visit_u64(n),
            Value::F32(n) => visitor.visit_f32(n),
            Value::F64(n) => visitor.visit_f64(n),
            other => Err(other.unexpected(expected)),
        }
    }
}

macro_rules! deserialize_numbers {
    ($($method:ident => $expected:literal),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            self.visit_number(visitor, $expected)
        })*
    };
}

impl<'de> Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Char(c) => visitor.visit_char(c),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Option(None) => visitor.visit_none(),
            Value::Option(Some(v)) => visitor.visit_some(*v),
            Value::List(items) => visit_list(items, visitor),
            Value::Record(fields) => visit_pairs(fields.into_iter(), visitor),
            Value::Map(entries) => visit_pairs(entries.into_iter(), visitor),
            Value::Variant { name, value } => visit_pairs(std::iter::once((name, *value)), visitor),
            Value::Unit => visitor.visit_unit(),
            number => number.visit_number(visitor, "a number"),
        }
    }

    deserialize_numbers! {
        deserialize_i8 => "an integer (i8)",
        deserialize_i16 => "an integer (i16)",
        deserialize_i32 => "an integer (i32)",
        deserialize_i64 => "an integer (i64)",
        deserialize_u8 => "an integer (u8)",
        deserialize_u16 => "an integer (u16)",
        deserialize_u32 => "an integer (u32)",
        deserialize_u64 => "an integer (u64)",
        deserialize_f32 => "a number (f32)",
        deserialize_f64 => "a number (f64)",
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Char(c) => visitor.visit_char(c),
            Value::String(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(ValueError(format!(
                        "expected a char, found a String of {} chars",
                        s.chars().count()
                    ))),
                }
            }
            other => Err(other.unexpected("a char")),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::String(s) => visitor.visit_byte_buf(s.into_bytes()),
            Value::List(items) => {
                let bytes = items
                    .into_iter()
                    .map(u8::deserialize)
                    .collect::<Result<_, _>>()?;
                visitor.visit_byte_buf(bytes)
            }
            other => Err(other.unexpected("bytes")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Option(None) | Value::Unit => visitor.visit_none(),
            Value::Option(Some(v)) => visitor.visit_some(*v),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Unit => visitor.visit_unit(),
            Value::List(items) if items.is_empty() => visitor.visit_unit(),
            other => Err(other.unexpected("unit")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::List(items) => visit_list(items, visitor),
            Value::Bytes(b) => visit_list(b.into_iter().map(Value::U8).collect(), visitor),
            other => Err(other.unexpected("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Record(fields) => visit_pairs(fields.into_iter(), visitor),
            Value::Map(entries) => visit_pairs(entries.into_iter(), visitor),
            Value::Variant { name, value } => visit_pairs(std::iter::once((name, *value)), visitor),
            Value::List(items) => {
                let pairs = items
                    .into_iter()
                    .map(|item| match item {
                        Value::List(pair) if pair.len() == 2 => {
                            let mut pair = pair.into_iter();
                            Ok((
                                pair.next().unwrap_or(Value::Unit),
                                pair.next().unwrap_or(Value::Unit),
                            ))
                        }
                        other => Err(other.unexpected("a [key, value] pair (a List of 2)")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                visit_pairs(pairs.into_iter(), visitor)
            }
            other => Err(other.unexpected("a map")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Record(fields) => visit_pairs(fields.into_iter(), visitor),
            Value::Map(entries) => visit_pairs(entries.into_iter(), visitor),
            Value::List(items) => visit_list(items, visitor),
            other => Err(other.unexpected("a struct (a Record, Map or List)")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let (name, value) = match self {
            Value::String(name) => (name, None),
            Value::Variant { name, value } => (name, Some(*value)),
            // The shape a variant takes after a trip through a map-based format.
            Value::Record(mut fields) if fields.len() == 1 => {
                let (name, value) = fields.remove(0);
                (name, Some(value))
            }
            other => return Err(other.unexpected("an enum (a String or a Variant)")),
        };
        visitor.visit_enum(EnumAccess { name, value })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        drop(self);
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool str string identifier
    }
}

impl IntoDeserializer<'_, ValueError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

/// An enum case being deserialized: its name and payload (`None` for a bare name).
struct EnumAccess {
    name: String,
    value: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = ValueError;
    type Variant = VariantAccess;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAccess), ValueError> {
        let tag = seed.deserialize(Value::String(self.name))?;
        Ok((tag, VariantAccess { value: self.value }))
    }
}

/// The payload of an enum case.
struct VariantAccess {
    value: Option<Value>,
}

impl VariantAccess {
    fn payload(self, expected: &str) -> Result<Value, ValueError> {
        self.value.ok_or_else(|| {
            ValueError(format!(
                "expected {expected}, found a bare variant name (String)"
            ))
        })
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            None | Some(Value::Unit) => Ok(()),
            Some(Value::List(items)) if items.is_empty() => Ok(()),
            Some(other) => Err(other.unexpected("a unit variant payload (Unit)")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self.payload("a newtype variant payload")?)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.payload("a tuple variant payload (List)")? {
            list @ Value::List(_) => list.deserialize_tuple(len, visitor),
            other => Err(other.unexpected("a tuple variant payload (List)")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.payload("a struct variant payload (Record)")?
            .deserialize_struct("", fields, visitor)
    }
}
