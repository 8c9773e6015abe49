//! [`Secret`]: a string that never prints.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A password, token or header value from the configuration. `Debug`,
/// `Display` and `Serialize` print `<secret>` (as prometheus/common's
/// `Secret` marshals), so a secret shows masked in status pages, logs
/// and errors; [`Secret::expose`] is the one way to the value.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Secret(String);

/// What a secret prints as.
pub const MASK: &str = "<secret>";

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// Any scalar: YAML reads `password: 1234` as a number, and Go's YAML
    /// still takes it as the string "1234".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
                Ok(Secret::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_masked_everywhere() {
        let s: Secret = model::yaml::from_str("hunter2").unwrap();
        assert_eq!(s.expose(), "hunter2");
        let n: Secret = model::yaml::from_str("1234").unwrap();
        assert_eq!(n.expose(), "1234");
        for (how, got) in [
            ("Debug", format!("{s:?}")),
            ("Display", format!("{s}")),
            ("YAML", model::yaml::to_string(&s)),
            ("JSON", serde_json::to_string(&s).unwrap()),
            ("Debug of a struct", format!("{:?}", Some(&s))),
        ] {
            assert!(
                got.contains(MASK) && !got.contains("hunter2"),
                "{how}: got {got:?}, want {MASK}"
            );
        }
    }
}
