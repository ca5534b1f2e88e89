//! Serializing any `Serialize` type into a [`Value`] tree (`to_value`).

use super::*;

// ---------------------------------------------------------------------------
// Serializer: Rust -> Value
// ---------------------------------------------------------------------------

/// The serde serializer whose output is a [`Value`].
pub(super) struct ValueSerializer;

/// Collects sequence, tuple and tuple-variant elements.
pub(super) struct ListBuilder {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

/// Collects struct and struct-variant fields.
pub(super) struct RecordBuilder {
    fields: Vec<(String, Value)>,
    variant: Option<&'static str>,
}

/// Collects map entries.
pub(super) struct MapBuilder {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

/// What every serializer method returns.
type Built = Result<Value, ValueError>;

pub(super) fn variant(name: &str, value: Value) -> Value {
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
pub(super) fn entries_to_value(entries: Vec<(Value, Value)>) -> Value {
    if !entries.iter().all(|(k, _)| matches!(k, Value::String(_))) {
        return Value::Map(entries);
    }
    let fields = entries.into_iter().filter_map(|(k, v)| match k {
        Value::String(k) => Some((k, v)),
        _ => None,
    });
    Value::Record(fields.collect())
}
