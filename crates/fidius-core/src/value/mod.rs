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
    value.serialize(into::ValueSerializer)
}

/// Rebuilds a `T` from a [`Value`] tree, consuming it.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

mod from;
mod into;

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
        Ok(into::entries_to_value(entries))
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
        into::variant(name, value)
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
