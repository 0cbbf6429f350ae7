//! The JSON of the HTTP events, read without losing what PHP must see.
//!
//! Maps are read into [`Pairs`] (a list, in the order the event lists them, repeated keys
//! included) rather than a hash map, because the query string is rebuilt from them and
//! header order is observable. The request path is read as bytes: a JSON string may hold
//! a lone UTF-16 surrogate escape, which no Rust `String` can, and that must become a 400
//! for the request rather than an unreadable event.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// Every field any of the event kinds uses; which ones are present tells the kinds apart.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Raw {
    pub version: Option<String>,
    pub request_context: Option<Context>,
    pub http_method: Option<String>,
    #[serde(default, deserialize_with = "bytes")]
    pub path: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "bytes")]
    pub raw_path: Option<Vec<u8>>,
    pub raw_query_string: Option<String>,
    pub headers: Option<Pairs<String>>,
    pub multi_value_headers: Option<Pairs<Vec<String>>>,
    pub query_string_parameters: Option<Pairs<String>>,
    pub multi_value_query_string_parameters: Option<Pairs<Vec<String>>>,
    pub cookies: Option<Vec<String>>,
    pub body: Option<String>,
    pub is_base64_encoded: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Context {
    /// Only an ALB's events have it; its contents do not matter here.
    pub elb: Option<IgnoredAny>,
    /// Payload 2.0.
    pub http: Option<Http>,
    /// Payload 1.0.
    pub identity: Option<Identity>,
    pub domain_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Http {
    pub method: String,
    pub source_ip: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Identity {
    pub source_ip: Option<String>,
}

/// A JSON object as the list of its members, in order, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pairs<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for Ordered<V> {
            type Value = Pairs<V>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<V>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }

        deserializer.deserialize_map(Ordered(PhantomData))
    }
}

/// A JSON string (or null) as its bytes, escapes resolved, UTF-8 not required.
fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
    struct Raw;

    impl<'de> Visitor<'de> for Raw {
        type Value = Option<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_bytes(self)
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(Some(v.to_vec()))
        }
    }

    deserializer.deserialize_option(Raw)
}
