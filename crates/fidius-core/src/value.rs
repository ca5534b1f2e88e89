//! The neutral [`Value`] tree, shaped after the WebAssembly Component-Model value space,
//! and its serde bridge: [`to_value`], [`from_value`] and `Serialize`/`Deserialize` for it.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize, SerializeMap, Serializer};
use serde::{forward_to_deserialize_any, Deserialize, Deserializer};
use std::fmt;

/// A self-describing value, independent of any wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 8-bit integer.
    S8(i8),
    /// A signed 16-bit integer.
    S16(i16),
    /// A signed 32-bit integer.
    S32(i32),
    /// A signed 64-bit integer.
    S64(i64),
    /// An unsigned 8-bit integer.
    U8(u8),
    /// An unsigned 16-bit integer.
    U16(u16),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// A Unicode scalar value.
    Char(char),
    /// A UTF-8 string.
    String(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// An optional value.
    Option(Option<Box<Value>>),
    /// A sequence (also used for tuples).
    List(Vec<Value>),
    /// Named fields in declaration order (structs, string-keyed maps).
    Record(Vec<(String, Value)>),
    /// Key/value pairs in insertion order, for maps whose keys are not all strings.
    Map(Vec<(Value, Value)>),
    /// An enum case with its payload ([`Value::Unit`] for a unit case).
    Variant {
        /// The case name.
        name: String,
        /// The payload.
        value: Box<Value>,
    },
    /// The unit value `()`.
    Unit,
}

impl Value {
    /// The name of this value's variant, e.g. `"List"`, as used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "Bool",
            Value::S8(_) => "S8",
            Value::S16(_) => "S16",
            Value::S32(_) => "S32",
            Value::S64(_) => "S64",
            Value::U8(_) => "U8",
            Value::U16(_) => "U16",
            Value::U32(_) => "U32",
            Value::U64(_) => "U64",
            Value::F32(_) => "F32",
            Value::F64(_) => "F64",
            Value::Char(_) => "Char",
            Value::String(_) => "String",
            Value::Bytes(_) => "Bytes",
            Value::Option(_) => "Option",
            Value::List(_) => "List",
            Value::Record(_) => "Record",
            Value::Map(_) => "Map",
            Value::Variant { .. } => "Variant",
            Value::Unit => "Unit",
        }
    }

    /// The error for finding `self` where `expected` was wanted.
    fn unexpected(&self, expected: &str) -> ValueError {
        ValueError(format!("expected {expected}, found {}", self.kind()))
    }
}

/// An error converting between a Rust type and a [`Value`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("value conversion error: {0}")]
pub struct ValueError(
    /// What went wrong.
    pub String,
);

impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

/// Converts any serializable value into a [`Value`] tree.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer)
}

/// Rebuilds a `T` from a [`Value`] tree, consuming it.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

// ---------------------------------------------------------------------------
// Serializer: Rust -> Value
// ---------------------------------------------------------------------------

/// The serde serializer whose output is a [`Value`].
struct ValueSerializer;

/// Collects sequence, tuple and tuple-variant elements.
struct ListBuilder {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

/// Collects struct and struct-variant fields.
struct RecordBuilder {
    fields: Vec<(String, Value)>,
    variant: Option<&'static str>,
}

/// Collects map entries.
struct MapBuilder {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

/// What every serializer method returns.
type Built = Result<Value, ValueError>;

fn variant(name: &str, value: Value) -> Value {
    let value = Box::new(value);
    Value::Variant {
        name: name.to_owned(),
        value,
    }
}

fn list(len: usize, variant: Option<&'static str>) -> Result<ListBuilder, ValueError> {
    Ok(ListBuilder {
        items: Vec::with_capacity(len),
        variant,
    })
}

fn record(len: usize, variant: Option<&'static str>) -> Result<RecordBuilder, ValueError> {
    Ok(RecordBuilder {
        fields: Vec::with_capacity(len),
        variant,
    })
}

macro_rules! serialize_scalars {
    ($($method:ident($ty:ty) => $variant:ident),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Built {
            Ok(Value::$variant(v))
        })*
    };
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = ListBuilder;
    type SerializeTuple = ListBuilder;
    type SerializeTupleStruct = ListBuilder;
    type SerializeTupleVariant = ListBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = RecordBuilder;
    type SerializeStructVariant = RecordBuilder;

    serialize_scalars! {
        serialize_bool(bool) => Bool, serialize_i8(i8) => S8, serialize_i16(i16) => S16,
        serialize_i32(i32) => S32, serialize_i64(i64) => S64, serialize_u8(u8) => U8,
        serialize_u16(u16) => U16, serialize_u32(u32) => U32, serialize_u64(u64) => U64,
        serialize_f32(f32) => F32, serialize_f64(f64) => F64, serialize_char(char) => Char,
    }
    fn serialize_i128(self, _: i128) -> Built {
        Err(ValueError("i128/u128 are not supported".into()))
    }
    fn serialize_u128(self, _: u128) -> Built {
        Err(ValueError("i128/u128 are not supported".into()))
    }
    fn serialize_str(self, v: &str) -> Built {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Built {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Built {
        Ok(Value::Option(None))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Built {
        Ok(Value::Option(Some(Box::new(to_value(value)?))))
    }
    fn serialize_unit(self) -> Built {
        Ok(Value::Unit)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Built {
        Ok(Value::Unit)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, name: &'static str) -> Built {
        Ok(variant(name, Value::Unit))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Built {
        to_value(v)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        value: &T,
    ) -> Built {
        Ok(variant(name, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListBuilder, ValueError> {
        list(len.unwrap_or(0), None)
    }
    fn serialize_tuple(self, len: usize) -> Result<ListBuilder, ValueError> {
        list(len, None)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<ListBuilder, ValueError> {
        list(len, None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        len: usize,
    ) -> Result<ListBuilder, ValueError> {
        list(len, Some(name))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, ValueError> {
        let entries = Vec::with_capacity(len.unwrap_or(0));
        Ok(MapBuilder { entries, key: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<RecordBuilder, ValueError> {
        record(len, None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        len: usize,
    ) -> Result<RecordBuilder, ValueError> {
        record(len, Some(name))
    }
}

/// Wraps a finished list or record in its variant, if it has one.
fn finish(variant_name: Option<&str>, value: Value) -> Built {
    Ok(match variant_name {
        Some(name) => variant(name, value),
        None => value,
    })
}

macro_rules! impl_list_builder {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for ListBuilder {
            type Ok = Value;
            type Error = ValueError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
                self.items.push(to_value(value)?);
                Ok(())
            }
            fn end(self) -> Built {
                finish(self.variant, Value::List(self.items))
            }
        })*
    };
}

impl_list_builder!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! impl_record_builder {
    ($($trait:ident),*) => {
        $(impl ser::$trait for RecordBuilder {
            type Ok = Value;
            type Error = ValueError;
            fn serialize_field<T>(&mut self, key: &'static str, value: &T) -> Result<(), ValueError>
            where
                T: Serialize + ?Sized,
            {
                self.fields.push((key.to_owned(), to_value(value)?));
                Ok(())
            }
            fn end(self) -> Built {
                finish(self.variant, Value::Record(self.fields))
            }
        })*
    };
}

impl_record_builder!(SerializeStruct, SerializeStructVariant);

impl SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.key = Some(to_value(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError("map value serialized before its key".into()))?;
        self.entries.push((key, to_value(value)?));
        Ok(())
    }
    fn end(self) -> Built {
        Ok(entries_to_value(self.entries))
    }
}

/// A [`Value::Record`] when every key is a string, else a [`Value::Map`].
fn entries_to_value(entries: Vec<(Value, Value)>) -> Value {
    if !entries.iter().all(|(k, _)| matches!(k, Value::String(_))) {
        return Value::Map(entries);
    }
    let fields = entries.into_iter().filter_map(|(k, v)| match k {
        Value::String(k) => Some((k, v)),
        _ => None,
    });
    Value::Record(fields.collect())
}

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

// ---------------------------------------------------------------------------
// Value as a serde data type
// ---------------------------------------------------------------------------

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::S8(v) => serializer.serialize_i8(*v),
            Value::S16(v) => serializer.serialize_i16(*v),
            Value::S32(v) => serializer.serialize_i32(*v),
            Value::S64(v) => serializer.serialize_i64(*v),
            Value::U8(v) => serializer.serialize_u8(*v),
            Value::U16(v) => serializer.serialize_u16(*v),
            Value::U32(v) => serializer.serialize_u32(*v),
            Value::U64(v) => serializer.serialize_u64(*v),
            Value::F32(v) => serializer.serialize_f32(*v),
            Value::F64(v) => serializer.serialize_f64(*v),
            Value::Char(v) => serializer.serialize_char(*v),
            Value::String(v) => serializer.serialize_str(v),
            Value::Bytes(v) => serializer.serialize_bytes(v),
            Value::Option(None) => serializer.serialize_none(),
            Value::Option(Some(v)) => serializer.serialize_some(v.as_ref()),
            Value::List(items) => serializer.collect_seq(items),
            Value::Record(fields) => serializer.collect_map(fields.iter().map(|(k, v)| (k, v))),
            Value::Map(entries) => serializer.collect_map(entries.iter().map(|(k, v)| (k, v))),
            Value::Variant { name, value } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(name, value)?;
                map.end()
            }
            Value::Unit => serializer.serialize_unit(),
        }
    }
}

macro_rules! visit_scalars {
    ($($method:ident($ty:ty) => $variant:ident),* $(,)?) => {
        $(fn $method<E>(self, v: $ty) -> Result<Value, E> {
            Ok(Value::$variant(v))
        })*
    };
}

/// Builds a [`Value`] from whatever a self-describing deserializer reports.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    visit_scalars! {
        visit_bool(bool) => Bool, visit_i64(i64) => S64, visit_u64(u64) => U64,
        visit_f64(f64) => F64, visit_string(String) => String, visit_byte_buf(Vec<u8>) => Bytes,
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Option(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Ok(Value::Option(Some(Box::new(Value::deserialize(d)?))))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Unit)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(entries_to_value(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;
    use Value as V;

    /// Typed value -> Value -> typed value; returns the Value.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(original: T) -> Value {
        let value = to_value(&original).expect("to_value");
        assert_eq!(
            from_value::<T>(value.clone()).expect("from_value"),
            original
        );
        value
    }

    /// Typed value -> Value -> JSON -> Value -> typed value.
    fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(original: T) {
        let json = serde_json::to_value(to_value(&original).unwrap()).unwrap();
        let value: Value = serde_json::from_value(json).unwrap();
        assert_eq!(from_value::<T>(value).unwrap(), original);
    }

    /// The error message of a conversion that must fail.
    fn fails<T: DeserializeOwned + Debug>(value: Value) -> String {
        from_value::<T>(value).unwrap_err().0
    }

    fn s(text: &str) -> Value {
        V::String(text.to_owned())
    }

    fn var(name: &str, value: Value) -> Value {
        variant(name, value)
    }

    fn rec(fields: &[(&str, Value)]) -> Value {
        V::Record(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn some(value: Value) -> Value {
        V::Option(Some(Box::new(value)))
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        label: String,
        weight: f64,
    }

    fn inner(label: &str, weight: f64) -> Inner {
        Inner {
            label: label.into(),
            weight,
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        id: u32,
        inner: Inner,
        tags: Vec<String>,
        note: Option<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair(i32, String);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Meters(f64);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Marker;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, u32),
        Named { name: String, sides: u8 },
    }

    /// A byte buffer that goes through `serialize_bytes` / `deserialize_byte_buf`.
    #[derive(Debug, PartialEq)]
    struct Buf(Vec<u8>);

    impl Serialize for Buf {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Buf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct BufVisitor;
            impl Visitor<'_> for BufVisitor {
                type Value = Buf;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
                    Ok(Buf(v))
                }
            }
            deserializer.deserialize_byte_buf(BufVisitor)
        }
    }

    #[test]
    fn primitives_of_every_width() {
        assert_eq!(round_trip(true), V::Bool(true));
        assert_eq!(round_trip(-8i8), V::S8(-8));
        assert_eq!(round_trip(-16i16), V::S16(-16));
        assert_eq!(round_trip(i32::MIN), V::S32(i32::MIN));
        assert_eq!(round_trip(i64::MAX), V::S64(i64::MAX));
        assert_eq!(round_trip(u8::MAX), V::U8(u8::MAX));
        assert_eq!(round_trip(16u16), V::U16(16));
        assert_eq!(round_trip(32u32), V::U32(32));
        assert_eq!(round_trip(u64::MAX), V::U64(u64::MAX));
        assert_eq!(round_trip(1.5f32), V::F32(1.5));
        assert_eq!(round_trip(-2.25f64), V::F64(-2.25));
        assert_eq!(round_trip('λ'), V::Char('λ'));
        assert_eq!(round_trip(()), V::Unit);
    }

    #[test]
    fn strings_and_chars() {
        assert_eq!(round_trip("héllo".to_string()), s("héllo"));
        assert_eq!(to_value("borrowed").unwrap(), s("borrowed"));
        assert_eq!(from_value::<char>(s("x")).unwrap(), 'x');
        assert_eq!(from_value::<String>(V::Char('y')).unwrap(), "y");
        assert!(fails::<char>(s("xy")).contains("expected a char"));
    }

    #[test]
    fn bytes() {
        assert_eq!(round_trip(Buf(vec![0, 1, 255])), V::Bytes(vec![0, 1, 255]));
        let list = V::List(vec![V::U8(1), V::S64(2), V::U64(255)]);
        assert_eq!(from_value::<Buf>(list).unwrap(), Buf(vec![1, 2, 255]));
        assert_eq!(from_value::<Buf>(s("ab")).unwrap(), Buf(b"ab".to_vec()));
        assert!(fails::<Buf>(V::List(vec![V::S32(256)])).contains("256"));
        assert!(fails::<Buf>(V::List(vec![s("1")])).contains("found String"));
        // A plain Vec<u8> is a sequence, but accepts Bytes too.
        assert_eq!(from_value::<Vec<u8>>(V::Bytes(vec![7, 8])).unwrap(), [7, 8]);
        assert_eq!(to_value(&V::Bytes(vec![9])).unwrap(), V::Bytes(vec![9]));
    }

    #[test]
    fn options() {
        assert_eq!(round_trip(None::<i32>), V::Option(None));
        assert_eq!(round_trip(Some(3u8)), some(V::U8(3)));
        assert_eq!(round_trip(Some(None::<u8>)), some(V::Option(None)));
        assert_eq!(round_trip(Some(Some(1u16))), some(some(V::U16(1))));
        assert_eq!(from_value::<Option<i32>>(V::Unit).unwrap(), None);
        assert_eq!(from_value::<Option<i32>>(V::S32(4)).unwrap(), Some(4));
    }

    #[test]
    fn sequences_and_tuples() {
        let ints = V::List(vec![V::S32(1), V::S32(2), V::S32(3)]);
        assert_eq!(round_trip(vec![1i32, 2, 3]), ints);
        assert_eq!(
            round_trip((1u8, "a".to_string())),
            V::List(vec![V::U8(1), s("a")])
        );
        assert_eq!(round_trip(Vec::<String>::new()), V::List(vec![]));
        round_trip(vec![vec![true], vec![]]);
        round_trip([1u64, 2, 3]);
    }

    #[test]
    fn string_keyed_map_is_a_record() {
        let map: HashMap<String, i32> = [("a".to_string(), 1), ("b".to_string(), -2)].into();
        let V::Record(mut fields) = round_trip(map) else {
            panic!("expected a Record")
        };
        fields.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            V::Record(fields),
            rec(&[("a", V::S32(1)), ("b", V::S32(-2))])
        );
    }

    #[test]
    fn non_string_keyed_map_is_a_map() {
        let map: BTreeMap<u32, String> = [(2, "two".to_string()), (1, "one".to_string())].into();
        let expected = V::Map(vec![(V::U32(1), s("one")), (V::U32(2), s("two"))]);
        assert_eq!(round_trip(map), expected);
    }

    #[test]
    fn list_of_pairs_into_a_map() {
        let pairs = V::List(vec![
            V::List(vec![V::U8(1), s("one")]),
            V::List(vec![V::S64(2), s("two")]),
        ]);
        let map: BTreeMap<u32, String> = from_value(pairs).unwrap();
        assert_eq!(map, [(1, "one".to_string()), (2, "two".to_string())].into());
        let err = fails::<BTreeMap<u32, String>>(V::List(vec![V::List(vec![V::U8(1)])]));
        assert!(err.contains("pair") && err.contains("found List"), "{err}");
    }

    #[test]
    fn nested_structs_keep_field_order() {
        let outer = Outer {
            id: 7,
            inner: inner("x", 0.5),
            tags: vec!["t".into()],
            note: None,
        };
        let expected = rec(&[
            ("id", V::U32(7)),
            ("inner", rec(&[("label", s("x")), ("weight", V::F64(0.5))])),
            ("tags", V::List(vec![s("t")])),
            ("note", V::Option(None)),
        ]);
        assert_eq!(round_trip(outer), expected);
    }

    #[test]
    fn structs_from_positional_lists_and_maps() {
        let list = V::List(vec![s("y"), V::F32(2.0)]);
        assert_eq!(from_value::<Inner>(list).unwrap(), inner("y", 2.0));
        let map = V::Map(vec![(s("weight"), V::S8(3)), (s("label"), s("z"))]);
        assert_eq!(from_value::<Inner>(map).unwrap(), inner("z", 3.0));
        assert!(fails::<Inner>(V::List(vec![s("y")])).contains("invalid length"));
        let extra = V::List(vec![s("y"), V::F64(1.0), V::Unit]);
        assert!(fails::<Inner>(extra).contains("invalid length 3"));
    }

    #[test]
    fn tuple_newtype_and_unit_structs() {
        assert_eq!(
            round_trip(Pair(-1, "p".into())),
            V::List(vec![V::S32(-1), s("p")])
        );
        assert_eq!(round_trip(Meters(3.5)), V::F64(3.5));
        assert_eq!(round_trip(Marker), V::Unit);
        assert_eq!(from_value::<Marker>(V::List(vec![])).unwrap(), Marker);
        from_value::<()>(V::List(vec![])).unwrap();
        assert_eq!(fails::<()>(V::Bool(false)), "expected unit, found Bool");
    }

    #[test]
    fn enum_variants() {
        assert_eq!(round_trip(Shape::Empty), var("Empty", V::Unit));
        assert_eq!(round_trip(Shape::Circle(1.0)), var("Circle", V::F64(1.0)));
        let rect = var("Rect", V::List(vec![V::U32(2), V::U32(3)]));
        assert_eq!(round_trip(Shape::Rect(2, 3)), rect);
        let named = Shape::Named {
            name: "tri".into(),
            sides: 3,
        };
        let fields = rec(&[("name", s("tri")), ("sides", V::U8(3))]);
        assert_eq!(round_trip(named), var("Named", fields));

        assert_eq!(from_value::<Shape>(s("Empty")).unwrap(), Shape::Empty);
        assert_eq!(
            from_value::<Shape>(var("Empty", V::List(vec![]))).unwrap(),
            Shape::Empty
        );
        let positional = var("Named", V::List(vec![s("sq"), V::U64(4)]));
        let expected = Shape::Named {
            name: "sq".into(),
            sides: 4,
        };
        assert_eq!(from_value::<Shape>(positional).unwrap(), expected);

        assert!(fails::<Shape>(s("Circle")).contains("bare variant name"));
        assert!(fails::<Shape>(var("Rect", V::U8(1))).contains("found U8"));
        assert!(fails::<Shape>(var("Empty", V::U8(1))).contains("found U8"));
        assert!(fails::<Shape>(s("Hexagon")).contains("unknown variant"));
    }

    #[test]
    fn lenient_integer_widths() {
        assert_eq!(from_value::<i32>(V::U64(5)).unwrap(), 5);
        assert_eq!(from_value::<u8>(V::S64(200)).unwrap(), 200);
        assert_eq!(from_value::<i64>(V::S8(-3)).unwrap(), -3);
        assert_eq!(from_value::<u16>(V::U32(65535)).unwrap(), 65535);
        assert_eq!(from_value::<i8>(V::U16(127)).unwrap(), 127);
        assert_eq!(from_value::<f64>(V::F32(0.5)).unwrap(), 0.5);
        assert_eq!(from_value::<f64>(V::U8(2)).unwrap(), 2.0);
        assert_eq!(from_value::<f32>(V::F64(0.25)).unwrap(), 0.25);
        assert!(from_value::<u8>(V::S64(300)).is_err());
        assert!(from_value::<u32>(V::S64(-1)).is_err());
        assert!(from_value::<i32>(V::F64(1.5)).is_err());
    }

    #[test]
    fn json_round_trips() {
        let note = Some("n".to_string());
        let tags = vec!["a".into(), "b".into()];
        json_round_trip(Outer {
            id: 1,
            inner: inner("j", -1.25),
            tags,
            note,
        });
        json_round_trip(vec![Shape::Empty, Shape::Circle(2.0), Shape::Rect(1, 2)]);
        json_round_trip(Shape::Named {
            name: "n".into(),
            sides: 5,
        });
        json_round_trip(HashMap::from([("k".to_string(), vec![1i8, -1])]));
        json_round_trip((Pair(3, "q".into()), Meters(1.0), None::<u8>, 'c', Marker));

        // A JSON-shaped tree (sorted keys, S64 only for negatives) comes back unchanged.
        let tree = rec(&[
            ("a", V::List(vec![V::U64(1), V::S64(-2), V::F64(0.5)])),
            ("b", V::Bool(true)),
            ("c", V::Unit),
            ("d", rec(&[("x", s("y"))])),
        ]);
        let json = serde_json::to_value(&tree).unwrap();
        let expected =
            serde_json::json!({"a": [1, -2, 0.5], "b": true, "c": null, "d": {"x": "y"}});
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_value::<Value>(json).unwrap(), tree);
        let parsed: Value = serde_json::from_str(r#"{"1": [], "2": "z"}"#).unwrap();
        assert_eq!(parsed, rec(&[("1", V::List(vec![])), ("2", s("z"))]));
    }

    #[test]
    fn value_serializes_into_itself() {
        let tree = V::List(vec![
            V::S16(-1),
            V::Char('c'),
            V::Bytes(vec![1]),
            some(V::Unit),
            rec(&[("f", V::U16(2))]),
            V::Map(vec![(V::U8(1), V::Bool(false))]),
        ]);
        assert_eq!(to_value(&tree).unwrap(), tree);
        // A variant becomes a single-entry map, which is a Record.
        let variant = var("V", V::U8(1));
        assert_eq!(to_value(&variant).unwrap(), rec(&[("V", V::U8(1))]));
        // Value's own Deserialize widens integers and sees variants as maps.
        let back: Value = from_value(V::List(vec![V::S8(-1), V::U16(2), variant])).unwrap();
        let expected = V::List(vec![V::S64(-1), V::U64(2), rec(&[("V", V::U64(1))])]);
        assert_eq!(back, expected);
    }

    #[test]
    fn errors_say_what_was_expected_and_found() {
        let err = from_value::<u32>(s("12")).unwrap_err();
        let message = "value conversion error: expected an integer (u32), found String";
        assert_eq!(err.to_string(), message);
        assert_eq!(
            fails::<HashMap<String, i32>>(V::Bool(true)),
            "expected a map, found Bool"
        );
        assert_eq!(fails::<Vec<i32>>(rec(&[])), "expected a list, found Record");
        assert!(fails::<Outer>(rec(&[("id", V::U32(1))])).contains("missing field"));
        let unsupported = ValueError("i128/u128 are not supported".into());
        assert_eq!(to_value(&1i128).unwrap_err(), unsupported);
        assert_eq!(to_value(&1u128).unwrap_err(), unsupported);
        let err = fails::<Shape>(V::Unit);
        assert!(
            err.starts_with("expected an enum") && err.ends_with("found Unit"),
            "{err}"
        );
    }
}
