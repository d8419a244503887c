//! JSON objects whose member names are unique at every depth.
//!
//! serde_json keeps the last of two equal member names, as most parsers do; RFC 7515 section 4
//! and RFC 7519 section 4 allow that or a rejection. Keeping one silently lets a token mean
//! different things to different parsers (`{"alg":"none","alg":"ES256"}`), so the header and
//! the claims are read here instead, with names compared after unescaping.

use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::MalformedJwt;

/// Parses `bytes` as one JSON object with no duplicate member names, at any depth.
///
/// serde_json's own recursion limit (128 levels) bounds the nesting.
pub(crate) fn object(bytes: &[u8]) -> Result<Map<String, Value>, MalformedJwt> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Err(_) if duplicate.get() => Err(MalformedJwt::DuplicateMember),
        _ => Err(MalformedJwt::Json),
    }
}

/// A JSON value, built like `serde_json::Value`, that fails on a repeated member name and
/// says so in `duplicate` (serde's errors carry only text).
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so every number serde_json reads converts.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = map.next_value_seed(self)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_like_serde_json() {
        let text = br#"{"a":1,"b":-2,"c":1.5,"d":"x\u0041","e":[true,null,{"f":[]}],"g":{}}"#;
        let ours = object(text).unwrap();
        let theirs: Map<String, Value> = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours["d"], "xA");
    }

    #[test]
    fn duplicates_are_refused_at_any_depth_and_after_unescaping() {
        for text in [
            r#"{"alg":"none","alg":"ES256"}"#,
            r#"{"alg":"none","\u0061lg":"ES256"}"#,
            r#"{"x":{"y":1,"y":2}}"#,
            r#"{"x":[{"y":1,"y":1}]}"#,
        ] {
            assert_eq!(
                object(text.as_bytes()),
                Err(MalformedJwt::DuplicateMember),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_but_one_object_is_refused() {
        for text in ["[1]", "1", "\"x\"", "null", "{} {}", "{", "", "{\"a\":1}x"] {
            assert_eq!(object(text.as_bytes()), Err(MalformedJwt::Json), "{text}");
        }
        // Deep nesting hits serde_json's recursion limit instead of the stack.
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(object(deep.as_bytes()), Err(MalformedJwt::Json));
    }
}
