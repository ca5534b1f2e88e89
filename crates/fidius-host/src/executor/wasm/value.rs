//! Serde ⇄ component values, directed by the component's own types: a
//! `Serializer` that lowers a Rust value into a [`Val`] of a given [`Type`],
//! and a `Deserializer` that lifts a [`Val`] into any `Deserialize` type.
//!
//! Records match by field name (Rust `snake_case` ⇄ WIT `kebab-case`),
//! variants by case name (`PascalCase` ⇄ `kebab-case`), maps are
//! `list<tuple<k, v>>`, and `Vec<u8>` / `&[u8]` lower to `list<u8>`.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt;
use wasmtime::component::{Type, Val};

/// A value did not fit the component's type (or the other way round).
#[derive(Debug)]
pub struct ValError(pub String);

impl fmt::Display for ValError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValError {}

impl ser::Error for ValError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValError(msg.to_string())
    }
}

impl de::Error for ValError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValError(msg.to_string())
    }
}

use fidius_core::wasm_descriptor::{kebab, upper_camel as pascal};

fn snake(s: &str) -> String {
    s.replace('-', "_")
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_name(&l.ty())),
        Type::Record(_) => "record".into(),
        Type::Tuple(_) => "tuple".into(),
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Option(o) => format!("option<{}>", type_name(&o.ty())),
        Type::Result(_) => "result".into(),
        Type::Flags(_) => "flags".into(),
        _ => "an unsupported type".into(),
    }
}

fn mismatch(ty: &Type, got: &str) -> ValError {
    ValError(format!(
        "expected a value of WIT type {}, got {got}",
        type_name(ty)
    ))
}

/// Lowers Rust values into a [`Val`] of type `ty`.
pub struct ValSerializer<'a> {
    /// The target type.
    pub ty: &'a Type,
}

fn int(ty: &Type, v: i128) -> Result<Val, ValError> {
    let range = |what: &str| ValError(format!("integer {v} does not fit WIT type {what}"));
    Ok(match ty {
        Type::S8 => Val::S8(v.try_into().map_err(|_| range("s8"))?),
        Type::U8 => Val::U8(v.try_into().map_err(|_| range("u8"))?),
        Type::S16 => Val::S16(v.try_into().map_err(|_| range("s16"))?),
        Type::U16 => Val::U16(v.try_into().map_err(|_| range("u16"))?),
        Type::S32 => Val::S32(v.try_into().map_err(|_| range("s32"))?),
        Type::U32 => Val::U32(v.try_into().map_err(|_| range("u32"))?),
        Type::S64 => Val::S64(v.try_into().map_err(|_| range("s64"))?),
        Type::U64 => Val::U64(v.try_into().map_err(|_| range("u64"))?),
        Type::Float32 => Val::Float32(v as f32),
        Type::Float64 => Val::Float64(v as f64),
        Type::Option(o) => Val::Option(Some(Box::new(int(&o.ty(), v)?))),
        other => return Err(mismatch(other, "an integer")),
    })
}

fn find_case(ty: &Type, variant: &str) -> Result<(String, Option<Type>), ValError> {
    let Type::Variant(v) = ty else {
        return Err(mismatch(ty, &format!("enum variant `{variant}`")));
    };
    let want = kebab(variant);
    v.cases()
        .find(|c| c.name == want)
        .map(|c| (c.name.to_owned(), c.ty))
        .ok_or_else(|| ValError(format!("the component's variant has no case `{want}`")))
}

impl ser::Serializer for ValSerializer<'_> {
    type Ok = Val;
    type Error = ValError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = StructSer;
    type SerializeStructVariant = VariantStructSer;

    fn serialize_bool(self, v: bool) -> Result<Val, ValError> {
        match self.ty {
            Type::Bool => Ok(Val::Bool(v)),
            Type::Option(o) => Ok(Val::Option(Some(Box::new(
                ValSerializer { ty: &o.ty() }.serialize_bool(v)?,
            )))),
            t => Err(mismatch(t, "a bool")),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Val, ValError> {
        int(self.ty, v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Val, ValError> {
        int(self.ty, v)
    }
    fn serialize_u128(self, v: u128) -> Result<Val, ValError> {
        int(
            self.ty,
            v.try_into()
                .map_err(|_| ValError(format!("integer {v} is too large for any WIT type")))?,
        )
    }
    fn serialize_f32(self, v: f32) -> Result<Val, ValError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Val, ValError> {
        match self.ty {
            Type::Float32 => Ok(Val::Float32(v as f32)),
            Type::Float64 => Ok(Val::Float64(v)),
            Type::Option(o) => Ok(Val::Option(Some(Box::new(
                ValSerializer { ty: &o.ty() }.serialize_f64(v)?,
            )))),
            t => Err(mismatch(t, "a float")),
        }
    }
    fn serialize_char(self, v: char) -> Result<Val, ValError> {
        match self.ty {
            Type::Char => Ok(Val::Char(v)),
            Type::String => Ok(Val::String(v.to_string())),
            t => Err(mismatch(t, "a char")),
        }
    }
    fn serialize_str(self, v: &str) -> Result<Val, ValError> {
        match self.ty {
            Type::String => Ok(Val::String(v.to_owned())),
            Type::Char if v.chars().count() == 1 => Ok(Val::Char(v.chars().next().unwrap_or('\0'))),
            Type::Enum(_) => Ok(Val::Enum(kebab(v))),
            Type::Variant(_) => {
                let (name, _) = find_case(self.ty, v)?;
                Ok(Val::Variant(name, None))
            }
            Type::Option(o) => Ok(Val::Option(Some(Box::new(
                ValSerializer { ty: &o.ty() }.serialize_str(v)?,
            )))),
            t => Err(mismatch(t, "a string")),
        }
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Val, ValError> {
        match self.ty {
            Type::List(l) if matches!(l.ty(), Type::U8) => {
                Ok(Val::List(v.iter().map(|b| Val::U8(*b)).collect()))
            }
            Type::Option(o) => Ok(Val::Option(Some(Box::new(
                ValSerializer { ty: &o.ty() }.serialize_bytes(v)?,
            )))),
            t => Err(mismatch(t, "bytes")),
        }
    }
    fn serialize_none(self) -> Result<Val, ValError> {
        match self.ty {
            Type::Option(_) => Ok(Val::Option(None)),
            t => Err(mismatch(t, "None")),
        }
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Val, ValError> {
        match self.ty {
            Type::Option(o) => Ok(Val::Option(Some(Box::new(
                value.serialize(ValSerializer { ty: &o.ty() })?,
            )))),
            t => Err(mismatch(t, "Some(..)")),
        }
    }
    fn serialize_unit(self) -> Result<Val, ValError> {
        match self.ty {
            Type::Tuple(t) if t.types().len() == 0 => Ok(Val::Tuple(Vec::new())),
            Type::Option(_) => Ok(Val::Option(None)),
            t => Err(mismatch(t, "()")),
        }
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Val, ValError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Val, ValError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Val, ValError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Val, ValError> {
        let (name, ty) = find_case(self.ty, variant)?;
        let ty = ty.ok_or_else(|| ValError(format!("case `{name}` carries no payload")))?;
        Ok(Val::Variant(
            name,
            Some(Box::new(value.serialize(ValSerializer { ty: &ty })?)),
        ))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ValError> {
        SeqSer::new(self.ty, len)
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ValError> {
        SeqSer::new(self.ty, Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, ValError> {
        SeqSer::new(self.ty, Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqSer, ValError> {
        let (name, ty) = find_case(self.ty, variant)?;
        let ty = ty.ok_or_else(|| ValError(format!("case `{name}` carries no payload")))?;
        Ok(VariantSeqSer {
            name,
            inner: SeqSer::owned(ty, Some(len))?,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, ValError> {
        match self.ty {
            Type::List(l) => match l.ty() {
                Type::Tuple(t) if t.types().len() == 2 => {
                    let mut ts = t.types();
                    let (k, v) = (ts.next(), ts.next());
                    Ok(MapSer::Pairs {
                        key: k.unwrap_or(Type::Bool),
                        value: v.unwrap_or(Type::Bool),
                        out: Vec::with_capacity(len.unwrap_or(0)),
                        pending: None,
                    })
                }
                _ => Err(mismatch(self.ty, "a map")),
            },
            Type::Record(_) => Ok(MapSer::Record {
                fields: StructSer::new(self.ty)?,
                pending: None,
            }),
            Type::Option(o) => {
                let inner = o.ty();
                let ser = ValSerializer { ty: &inner }.serialize_map(len)?;
                Ok(MapSer::Some(Box::new(ser)))
            }
            t => Err(mismatch(t, "a map")),
        }
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<StructSer, ValError> {
        StructSer::new(self.ty)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantStructSer, ValError> {
        let (name, ty) = find_case(self.ty, variant)?;
        let ty = ty.ok_or_else(|| ValError(format!("case `{name}` carries no payload")))?;
        Ok(VariantStructSer {
            name,
            inner: StructSer::owned(ty)?,
        })
    }
}

/// Element types of a sequence being lowered.
enum Elems {
    List(Type),
    Tuple(Vec<Type>),
}

/// Lowers a sequence or tuple into `list<T>` or `tuple<…>`.
pub struct SeqSer {
    elems: Elems,
    out: Vec<Val>,
    wrap_some: bool,
}

impl SeqSer {
    fn new(ty: &Type, len: Option<usize>) -> Result<Self, ValError> {
        Self::owned(ty.clone(), len)
    }

    fn owned(ty: Type, len: Option<usize>) -> Result<Self, ValError> {
        let (elems, wrap_some) = match ty {
            Type::List(l) => (Elems::List(l.ty()), false),
            Type::Tuple(t) => (Elems::Tuple(t.types().collect()), false),
            Type::Option(o) => match o.ty() {
                Type::List(l) => (Elems::List(l.ty()), true),
                Type::Tuple(t) => (Elems::Tuple(t.types().collect()), true),
                other => return Err(mismatch(&other, "a sequence")),
            },
            other => return Err(mismatch(&other, "a sequence")),
        };
        Ok(SeqSer {
            elems,
            out: Vec::with_capacity(len.unwrap_or(0).min(1 << 16)),
            wrap_some,
        })
    }

    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        let ty = match &self.elems {
            Elems::List(t) => t.clone(),
            Elems::Tuple(ts) => ts.get(self.out.len()).cloned().ok_or_else(|| {
                ValError(format!(
                    "too many tuple elements: the component expects {}",
                    ts.len()
                ))
            })?,
        };
        self.out.push(value.serialize(ValSerializer { ty: &ty })?);
        Ok(())
    }

    fn finish(self) -> Result<Val, ValError> {
        let v = match self.elems {
            Elems::List(_) => Val::List(self.out),
            Elems::Tuple(ts) => {
                if ts.len() != self.out.len() {
                    return Err(ValError(format!(
                        "expected a tuple of {} elements, got {}",
                        ts.len(),
                        self.out.len()
                    )));
                }
                Val::Tuple(self.out)
            }
        };
        Ok(if self.wrap_some {
            Val::Option(Some(Box::new(v)))
        } else {
            v
        })
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        self.push(value)
    }
    fn end(self) -> Result<Val, ValError> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        self.push(value)
    }
    fn end(self) -> Result<Val, ValError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        self.push(value)
    }
    fn end(self) -> Result<Val, ValError> {
        self.finish()
    }
}

/// A tuple variant: its payload tuple, wrapped in the case.
pub struct VariantSeqSer {
    name: String,
    inner: SeqSer,
}

impl ser::SerializeTupleVariant for VariantSeqSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Val, ValError> {
        Ok(Val::Variant(
            self.name,
            Some(Box::new(self.inner.finish()?)),
        ))
    }
}

/// Lowers a struct into a record, by field name.
pub struct StructSer {
    fields: Vec<(String, Type)>,
    got: Vec<Option<Val>>,
    wrap_some: bool,
}

impl StructSer {
    fn new(ty: &Type) -> Result<Self, ValError> {
        Self::owned(ty.clone())
    }

    fn owned(ty: Type) -> Result<Self, ValError> {
        let (record, wrap_some) = match ty {
            Type::Record(r) => (r, false),
            Type::Option(o) => match o.ty() {
                Type::Record(r) => (r, true),
                other => return Err(mismatch(&other, "a struct")),
            },
            other => return Err(mismatch(&other, "a struct")),
        };
        let fields: Vec<(String, Type)> =
            record.fields().map(|f| (f.name.to_owned(), f.ty)).collect();
        Ok(StructSer {
            got: vec![None; fields.len()],
            fields,
            wrap_some,
        })
    }

    fn set<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result<(), ValError> {
        let want = kebab(key);
        let Some(i) = self.fields.iter().position(|(n, _)| *n == want) else {
            return Err(ValError(format!(
                "the component's record has no field `{want}`"
            )));
        };
        let ty = self.fields[i].1.clone();
        self.got[i] = Some(value.serialize(ValSerializer { ty: &ty })?);
        Ok(())
    }

    fn finish(self) -> Result<Val, ValError> {
        let mut out = Vec::with_capacity(self.fields.len());
        for ((name, ty), v) in self.fields.into_iter().zip(self.got) {
            let v = match v {
                Some(v) => v,
                None if matches!(ty, Type::Option(_)) => Val::Option(None),
                None => {
                    return Err(ValError(format!(
                        "missing field `{name}` required by the component's record"
                    )))
                }
            };
            out.push((name, v));
        }
        let v = Val::Record(out);
        Ok(if self.wrap_some {
            Val::Option(Some(Box::new(v)))
        } else {
            v
        })
    }
}

impl ser::SerializeStruct for StructSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValError> {
        self.set(key, value)
    }
    fn end(self) -> Result<Val, ValError> {
        self.finish()
    }
}

/// A struct variant: its payload record, wrapped in the case.
pub struct VariantStructSer {
    name: String,
    inner: StructSer,
}

impl ser::SerializeStructVariant for VariantStructSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValError> {
        self.inner.set(key, value)
    }
    fn end(self) -> Result<Val, ValError> {
        Ok(Val::Variant(
            self.name,
            Some(Box::new(self.inner.finish()?)),
        ))
    }
}

/// Lowers a map into `list<tuple<k, v>>` (or a string-keyed map into a record).
pub enum MapSer {
    /// `list<tuple<k, v>>`.
    Pairs {
        /// Key type.
        key: Type,
        /// Value type.
        value: Type,
        /// Pairs so far.
        out: Vec<Val>,
        /// A key waiting for its value.
        pending: Option<Val>,
    },
    /// A record.
    Record {
        /// The record so far.
        fields: StructSer,
        /// A key waiting for its value.
        pending: Option<String>,
    },
    /// `option<…>` around one of the above.
    Some(Box<MapSer>),
}

impl ser::SerializeMap for MapSer {
    type Ok = Val;
    type Error = ValError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ValError> {
        match self {
            MapSer::Pairs { key, pending, .. } => {
                *pending = Some(k.serialize(ValSerializer { ty: key })?);
                Ok(())
            }
            MapSer::Record { pending, .. } => {
                let Val::String(s) = k.serialize(ValSerializer { ty: &Type::String })? else {
                    return Err(ValError("record keys must be strings".into()));
                };
                *pending = Some(s);
                Ok(())
            }
            MapSer::Some(inner) => inner.serialize_key(k),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValError> {
        match self {
            MapSer::Pairs {
                value,
                out,
                pending,
                ..
            } => {
                let k = pending
                    .take()
                    .ok_or_else(|| ValError("map value without a key".into()))?;
                let v = v.serialize(ValSerializer { ty: value })?;
                out.push(Val::Tuple(vec![k, v]));
                Ok(())
            }
            MapSer::Record { fields, pending } => {
                let key = pending
                    .take()
                    .ok_or_else(|| ValError("map value without a key".into()))?;
                fields.set(&key, v)
            }
            MapSer::Some(inner) => inner.serialize_value(v),
        }
    }
    fn end(self) -> Result<Val, ValError> {
        match self {
            MapSer::Pairs { out, .. } => Ok(Val::List(out)),
            MapSer::Record { fields, .. } => fields.finish(),
            MapSer::Some(inner) => Ok(Val::Option(Some(Box::new(ser::SerializeMap::end(*inner)?)))),
        }
    }
}

/// Lowers the argument tuple of a call into one [`Val`] per parameter.
pub struct ArgsSerializer<'a> {
    /// Parameter types, in order.
    pub params: &'a [Type],
}

/// Collects the elements of the argument tuple.
pub struct ArgsSeq<'a> {
    params: &'a [Type],
    out: Vec<Val>,
}

impl ser::SerializeSeq for ArgsSeq<'_> {
    type Ok = Vec<Val>;
    type Error = ValError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        ser::SerializeTuple::serialize_element(self, value)
    }
    fn end(self) -> Result<Vec<Val>, ValError> {
        ser::SerializeTuple::end(self)
    }
}

impl ser::SerializeTuple for ArgsSeq<'_> {
    type Ok = Vec<Val>;
    type Error = ValError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ValError> {
        let ty = self.params.get(self.out.len()).ok_or_else(|| {
            ValError(format!(
                "too many arguments: the component's function takes {}",
                self.params.len()
            ))
        })?;
        self.out.push(value.serialize(ValSerializer { ty })?);
        Ok(())
    }
    fn end(self) -> Result<Vec<Val>, ValError> {
        if self.out.len() != self.params.len() {
            return Err(ValError(format!(
                "expected {} arguments, got {}",
                self.params.len(),
                self.out.len()
            )));
        }
        Ok(self.out)
    }
}

fn not_a_tuple() -> ValError {
    ValError("call arguments must be a tuple such as `&(a, b)`".into())
}

macro_rules! args_only {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<Vec<Val>, ValError> {
            Err(not_a_tuple())
        })*
    };
}

impl<'a> ser::Serializer for ArgsSerializer<'a> {
    type Ok = Vec<Val>;
    type Error = ValError;
    type SerializeSeq = ArgsSeq<'a>;
    type SerializeTuple = ArgsSeq<'a>;
    type SerializeTupleStruct = ser::Impossible<Vec<Val>, ValError>;
    type SerializeTupleVariant = ser::Impossible<Vec<Val>, ValError>;
    type SerializeMap = ser::Impossible<Vec<Val>, ValError>;
    type SerializeStruct = ser::Impossible<Vec<Val>, ValError>;
    type SerializeStructVariant = ser::Impossible<Vec<Val>, ValError>;

    fn serialize_unit(self) -> Result<Vec<Val>, ValError> {
        if self.params.is_empty() {
            Ok(Vec::new())
        } else {
            Err(ValError(format!(
                "expected {} arguments, got none",
                self.params.len()
            )))
        }
    }
    fn serialize_tuple(self, len: usize) -> Result<ArgsSeq<'a>, ValError> {
        Ok(ArgsSeq {
            params: self.params,
            out: Vec::with_capacity(len),
        })
    }
    args_only!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Vec<Val>, ValError> {
        Err(not_a_tuple())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Vec<Val>, ValError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Vec<Val>, ValError> {
        Err(not_a_tuple())
    }
    /// A sequence (e.g. a `Value::List`) is taken as the argument list too.
    fn serialize_seq(self, len: Option<usize>) -> Result<ArgsSeq<'a>, ValError> {
        self.serialize_tuple(len.unwrap_or(0))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ValError> {
        Err(not_a_tuple())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValError> {
        Err(not_a_tuple())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ValError> {
        Err(not_a_tuple())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ValError> {
        Err(not_a_tuple())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValError> {
        Err(not_a_tuple())
    }
}

/// Lifts a [`Val`] into any `Deserialize` type.
pub struct ValDeserializer(pub Val);

impl<'de> de::Deserializer<'de> for ValDeserializer {
    type Error = ValError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        match self.0 {
            Val::Bool(b) => visitor.visit_bool(b),
            Val::S8(v) => visitor.visit_i8(v),
            Val::U8(v) => visitor.visit_u8(v),
            Val::S16(v) => visitor.visit_i16(v),
            Val::U16(v) => visitor.visit_u16(v),
            Val::S32(v) => visitor.visit_i32(v),
            Val::U32(v) => visitor.visit_u32(v),
            Val::S64(v) => visitor.visit_i64(v),
            Val::U64(v) => visitor.visit_u64(v),
            Val::Float32(v) => visitor.visit_f32(v),
            Val::Float64(v) => visitor.visit_f64(v),
            Val::Char(c) => visitor.visit_char(c),
            Val::String(s) => visitor.visit_string(s),
            Val::List(items) | Val::Tuple(items) => visitor.visit_seq(
                de::value::SeqDeserializer::new(items.into_iter().map(ValDeserializer)),
            ),
            Val::Record(fields) => visitor.visit_map(de::value::MapDeserializer::new(
                fields
                    .into_iter()
                    .map(|(k, v)| (snake(&k), ValDeserializer(v))),
            )),
            Val::Option(None) => visitor.visit_none(),
            Val::Option(Some(v)) => visitor.visit_some(ValDeserializer(*v)),
            Val::Enum(name) => visitor.visit_string(pascal(&name)),
            Val::Variant(name, payload) => {
                visitor.visit_map(de::value::MapDeserializer::new(std::iter::once((
                    pascal(&name),
                    ValDeserializer(payload.map(|b| *b).unwrap_or(Val::Tuple(Vec::new()))),
                ))))
            }
            Val::Result(Ok(v)) => match v {
                Some(v) => ValDeserializer(*v).deserialize_any(visitor),
                None => visitor.visit_unit(),
            },
            Val::Result(Err(_)) => Err(ValError("the component returned an error result".into())),
            Val::Flags(names) => visitor.visit_seq(de::value::SeqDeserializer::new(
                names.into_iter().map(|n| ValDeserializer(Val::String(n))),
            )),
            Val::Map(pairs) => visitor.visit_map(de::value::MapDeserializer::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (ValDeserializer(k), ValDeserializer(v))),
            )),
            other => Err(ValError(format!(
                "a component value of this kind cannot become a Rust value: {other:?}"
            ))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        match self.0 {
            Val::Option(None) => visitor.visit_none(),
            Val::Option(Some(v)) => visitor.visit_some(ValDeserializer(*v)),
            other => visitor.visit_some(ValDeserializer(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        match self.0 {
            Val::List(items) => {
                let mut bytes = Vec::with_capacity(items.len());
                for v in items {
                    match v {
                        Val::U8(b) => bytes.push(b),
                        other => {
                            return Err(ValError(format!("expected a list of u8, found {other:?}")))
                        }
                    }
                }
                visitor.visit_byte_buf(bytes)
            }
            Val::String(s) => visitor.visit_byte_buf(s.into_bytes()),
            other => ValDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValError> {
        match self.0 {
            Val::List(items) => {
                let mut pairs = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Val::Tuple(mut kv) if kv.len() == 2 => {
                            let v = kv.pop().unwrap_or(Val::Bool(false));
                            let k = kv.pop().unwrap_or(Val::Bool(false));
                            pairs.push((ValDeserializer(k), ValDeserializer(v)));
                        }
                        other => {
                            return Err(ValError(format!(
                                "expected a list of key/value tuples for a map, found {other:?}"
                            )))
                        }
                    }
                }
                visitor.visit_map(de::value::MapDeserializer::new(pairs.into_iter()))
            }
            other => ValDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValError> {
        match self.0 {
            Val::Variant(name, payload) => visitor.visit_enum(EnumDe {
                name: pascal(&name),
                payload: payload.map(|b| *b),
            }),
            Val::Enum(name) => visitor.visit_enum(EnumDe {
                name: pascal(&name),
                payload: None,
            }),
            Val::String(name) => visitor.visit_enum(EnumDe {
                name,
                payload: None,
            }),
            other => Err(ValError(format!("expected a variant, found {other:?}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        seq tuple tuple_struct struct identifier ignored_any
    }
}

struct EnumDe {
    name: String,
    payload: Option<Val>,
}

impl<'de> de::EnumAccess<'de> for EnumDe {
    type Error = ValError;
    type Variant = VariantDe;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, VariantDe), ValError> {
        let name: de::value::StringDeserializer<ValError> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, VariantDe(self.payload)))
    }
}

struct VariantDe(Option<Val>);

impl<'de> de::VariantAccess<'de> for VariantDe {
    type Error = ValError;
    fn unit_variant(self) -> Result<(), ValError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, ValError> {
        seed.deserialize(ValDeserializer(self.0.unwrap_or(Val::Tuple(Vec::new()))))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, ValError> {
        de::Deserializer::deserialize_seq(
            ValDeserializer(self.0.unwrap_or(Val::Tuple(Vec::new()))),
            visitor,
        )
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValError> {
        de::Deserializer::deserialize_map(
            ValDeserializer(self.0.unwrap_or(Val::Record(Vec::new()))),
            visitor,
        )
    }
}

impl<'de> IntoDeserializer<'de, ValError> for ValDeserializer {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(kebab("type_name"), "type-name");
        assert_eq!(kebab("BigCircle"), "big-circle");
        assert_eq!(pascal("big-circle"), "BigCircle");
        assert_eq!(snake("type-name"), "type_name");
    }

    #[test]
    fn lifts_records_lists_options_and_maps() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Out {
            type_name: String,
            items: Vec<u8>,
            maybe: Option<u32>,
            tags: std::collections::BTreeMap<String, i32>,
        }
        let v = Val::Record(vec![
            ("type-name".into(), Val::String("x".into())),
            ("items".into(), Val::List(vec![Val::U8(1), Val::U8(2)])),
            ("maybe".into(), Val::Option(None)),
            (
                "tags".into(),
                Val::List(vec![Val::Tuple(vec![Val::String("a".into()), Val::S32(1)])]),
            ),
        ]);
        let out: Out = serde::Deserialize::deserialize(ValDeserializer(v)).unwrap();
        assert_eq!(
            out,
            Out {
                type_name: "x".into(),
                items: vec![1, 2],
                maybe: None,
                tags: [("a".to_string(), 1)].into_iter().collect(),
            }
        );
    }

    #[test]
    fn lifts_variants() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        enum Shape {
            Circle(f64),
            Square { side: f64 },
            Empty,
        }
        let c: Shape = serde::Deserialize::deserialize(ValDeserializer(Val::Variant(
            "circle".into(),
            Some(Box::new(Val::Float64(1.5))),
        )))
        .unwrap();
        assert_eq!(c, Shape::Circle(1.5));
        let s: Shape = serde::Deserialize::deserialize(ValDeserializer(Val::Variant(
            "square".into(),
            Some(Box::new(Val::Record(vec![(
                "side".into(),
                Val::Float64(2.0),
            )]))),
        )))
        .unwrap();
        assert_eq!(s, Shape::Square { side: 2.0 });
        let e: Shape =
            serde::Deserialize::deserialize(ValDeserializer(Val::Variant("empty".into(), None)))
                .unwrap();
        assert_eq!(e, Shape::Empty);
    }
}
