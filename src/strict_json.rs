//! JSON read strictly: a document that names one key twice in an object is refused, with the
//! JSON pointer of the repeated key. `serde_json` keeps the last of duplicate keys silently, so
//! `{"id":"mine","id":"other"}` would be stored as `other` with nobody told; tenant files and
//! admin documents are read here instead. Everything else is `serde_json`'s own parsing
//! (its syntax errors, its nesting limit), building the same [`Value`].

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a text is not strict JSON.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    /// Not JSON at all (`serde_json`'s words, with line and column).
    #[error("{0}")]
    Syntax(serde_json::Error),
    /// An object names `key` twice; `path` is the JSON pointer of the repeated member.
    #[error("the key {key:?} appears more than once in the object at {}", parent(.path))]
    DuplicateKey { path: String, key: String },
}

impl StrictJsonError {
    /// A stable code: `invalid_json` or `duplicate_key`.
    pub fn code(&self) -> &'static str {
        match self {
            StrictJsonError::Syntax(_) => "invalid_json",
            StrictJsonError::DuplicateKey { .. } => "duplicate_key",
        }
    }

    /// The JSON pointer the problem is at (`""`: the document).
    pub fn path(&self) -> &str {
        match self {
            StrictJsonError::Syntax(_) => "",
            StrictJsonError::DuplicateKey { path, .. } => path,
        }
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "the top level",
        Some(at) => &path[..at],
    }
}

/// Parses `text`, refusing duplicate keys.
pub fn from_str(text: &str) -> Result<Value, StrictJsonError> {
    parse(&mut serde_json::Deserializer::from_str(text))
}

/// Parses `bytes` (UTF-8 JSON), refusing duplicate keys.
pub fn from_slice(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    parse(&mut serde_json::Deserializer::from_slice(bytes))
}

fn parse<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
) -> Result<Value, StrictJsonError> {
    let found = RefCell::new(None);
    let value = Node {
        path: String::new(),
        duplicate: &found,
    }
    .deserialize(&mut *de);
    if let Some((path, key)) = found.into_inner() {
        return Err(StrictJsonError::DuplicateKey { path, key });
    }
    let value = value.map_err(StrictJsonError::Syntax)?;
    de.end().map_err(StrictJsonError::Syntax)?;
    Ok(value)
}

/// One value of the document, at `path`; the first duplicate key found is put in `duplicate`.
struct Node<'a> {
    path: String,
    duplicate: &'a RefCell<Option<(String, String)>>,
}

impl Node<'_> {
    fn child(&self, segment: &str) -> Node<'_> {
        // RFC 6901: `~` and `/` in a key are written `~0` and `~1`.
        let segment = segment.replace('~', "~0").replace('/', "~1");
        Node {
            path: format!("{}/{segment}", self.path),
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&items.len().to_string()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some((child.path.clone(), key.clone()));
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(child)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_repeated_key_is_refused_with_its_path() {
        let e = from_str(r#"{"id":"mine","id":"other"}"#).expect_err("duplicate");
        assert_eq!((e.code(), e.path()), ("duplicate_key", "/id"));
        assert_eq!(
            e.to_string(),
            r#"the key "id" appears more than once in the object at the top level"#
        );
        let e = from_slice(br#"{"services":[{"id":"a"},{"id":"b","a/b":1,"a/b":2}]}"#)
            .expect_err("duplicate");
        assert_eq!(e.path(), "/services/1/a~1b");
        assert!(e.to_string().ends_with("at /services/1"), "{e}");
        // The same key in two objects is no duplicate.
        assert_eq!(
            from_str(r#"{"a":{"id":1},"b":{"id":2}}"#).expect("json"),
            json!({"a":{"id":1},"b":{"id":2}})
        );
    }

    #[test]
    fn everything_else_is_read_as_serde_json_reads_it() {
        let text = r#" {"n": -1, "u": 18446744073709551615, "f": 1.5, "s": "é\n", "b": [true, null, {}], "z": "last"} "#;
        let strict = from_str(text).expect("json");
        let loose: Value = serde_json::from_str(text).expect("json");
        assert_eq!(strict, loose);
        assert_eq!(
            strict
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(
                vec!["n", "u", "f", "s", "b", "z"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            ),
            "order kept"
        );
        for bad in ["", "{", r#"{"a":1} x"#, "[1,]", &"[".repeat(200)] {
            let e = from_str(bad).expect_err(bad);
            assert_eq!(e.code(), "invalid_json", "{bad}");
        }
    }
}
