//! `null` as the zero value, as Go's `yaml.v2` decodes it.
//!
//! yaml.v2 sets a field written as `name:`, `name: ~` or `name: null` to
//! its type's zero value: `""`, `false`, `0`, an empty list or map.
//! serde-saphyr refuses null for anything but `Option` and `()`.
//! [`Nullable`] wraps a deserializer, at every depth, so that each request
//! for a string, number, boolean, sequence, map or struct first asks
//! whether the node is null (through `deserialize_option`) and, if it is,
//! hands the visitor that type's zero value instead. A struct's zero value
//! is an empty mapping, so a null struct decodes as `{}` would: its fields'
//! defaults, or "missing field" where there are none. Everything else is
//! passed through unchanged.

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use std::fmt;

/// A deserializer that decodes null as the zero value of what is asked
/// for; see the module's notes.
pub(super) struct Nullable<D>(pub(super) D);

/// What was asked for, to ask again for a node that is not null and to
/// give the zero value for one that is.
#[derive(Clone, Copy)]
enum Want {
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Str,
    String,
    Bytes,
    ByteBuf,
    Seq,
    Map,
    Struct(&'static str, &'static [&'static str]),
}

/// Asks for `want` through `deserialize_option`, to learn first whether
/// the node is null.
fn ask<'de, D: Deserializer<'de>, V: Visitor<'de>>(
    d: D,
    want: Want,
    visitor: V,
) -> Result<V::Value, D::Error> {
    d.deserialize_option(OrZero { want, visitor })
}

struct OrZero<V> {
    want: Want,
    visitor: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for OrZero<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        let v = self.visitor;
        match self.want {
            Want::Bool => v.visit_bool(false),
            Want::I8 | Want::I16 | Want::I32 | Want::I64 => v.visit_i64(0),
            Want::I128 => v.visit_i128(0),
            Want::U8 | Want::U16 | Want::U32 | Want::U64 => v.visit_u64(0),
            Want::U128 => v.visit_u128(0),
            Want::F32 | Want::F64 => v.visit_f64(0.0),
            Want::Str | Want::String => v.visit_str(""),
            Want::Bytes | Want::ByteBuf => v.visit_bytes(&[]),
            Want::Seq => v.visit_seq(de::value::SeqDeserializer::<_, E>::new(
                std::iter::empty::<()>(),
            )),
            Want::Map | Want::Struct(..) => v.visit_map(de::value::MapDeserializer::<_, E>::new(
                std::iter::empty::<((), ())>(),
            )),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let v = Wrap(self.visitor);
        match self.want {
            Want::Bool => d.deserialize_bool(v),
            Want::I8 => d.deserialize_i8(v),
            Want::I16 => d.deserialize_i16(v),
            Want::I32 => d.deserialize_i32(v),
            Want::I64 => d.deserialize_i64(v),
            Want::I128 => d.deserialize_i128(v),
            Want::U8 => d.deserialize_u8(v),
            Want::U16 => d.deserialize_u16(v),
            Want::U32 => d.deserialize_u32(v),
            Want::U64 => d.deserialize_u64(v),
            Want::U128 => d.deserialize_u128(v),
            Want::F32 => d.deserialize_f32(v),
            Want::F64 => d.deserialize_f64(v),
            Want::Str => d.deserialize_str(v),
            Want::String => d.deserialize_string(v),
            Want::Bytes => d.deserialize_bytes(v),
            Want::ByteBuf => d.deserialize_byte_buf(v),
            Want::Seq => d.deserialize_seq(v),
            Want::Map => d.deserialize_map(v),
            Want::Struct(name, fields) => d.deserialize_struct(name, fields, v),
        }
    }
}

macro_rules! ask {
    ($($method:ident => $want:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            ask(self.0, Want::$want, visitor)
        })*
    };
}

macro_rules! pass {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Nullable<D> {
    type Error = D::Error;

    ask! {
        deserialize_bool => Bool,
        deserialize_i8 => I8,
        deserialize_i16 => I16,
        deserialize_i32 => I32,
        deserialize_i64 => I64,
        deserialize_i128 => I128,
        deserialize_u8 => U8,
        deserialize_u16 => U16,
        deserialize_u32 => U32,
        deserialize_u64 => U64,
        deserialize_u128 => U128,
        deserialize_f32 => F32,
        deserialize_f64 => F64,
        deserialize_str => Str,
        deserialize_string => String,
        deserialize_bytes => Bytes,
        deserialize_byte_buf => ByteBuf,
        deserialize_seq => Seq,
        deserialize_map => Map,
    }

    pass! {
        deserialize_any,
        deserialize_char,
        deserialize_option,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        ask(self.0, Want::Struct(name, fields), visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor whose nested deserializers are [`Nullable`] too.
struct Wrap<V>(V);

macro_rules! forward {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward! {
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Nullable(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Nullable(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Wrap(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Wrap(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Wrap(data))
    }
}

/// A seed whose deserializer is [`Nullable`].
struct Seed<T>(T);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(Nullable(d))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(Seed(seed))
            .map(|(value, variant)| (value, Wrap(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}
