//! The serde layer of [`super::parse_bytes`]: a delivery body read straight
//! from its bytes into the few values the rules look at.
//!
//! Goals, in order:
//! 1. The same verdict as decoding into a `serde_json::Value` first, for every
//!    input. So nothing here ever fails on a *type*: every value is read with
//!    `deserialize_any` and classified ([`Val`]), and the rules judge it
//!    afterwards, in their own order. The only errors are serde_json's syntax
//!    errors, raised by the same parser code at the same place as for a
//!    `Value` (same text, same line and column). Duplicate object keys: the
//!    last one wins, as in a `Value`'s map.
//! 2. No heap allocation for a well-formed delivery: strings are borrowed from
//!    the body (`Cow::Borrowed`; only a string with escapes is copied), object
//!    keys are matched without being kept, arrays and unused objects are not
//!    stored.
//!
//! Unused values are skipped with [`Skip`], not `serde::de::IgnoredAny`:
//! serde_json's `IgnoredAny` fast path does not check the recursion limit,
//! UTF-8, lone surrogates in `\u` escapes or number range (`1e400`), so a body
//! a `Value` refuses as "not JSON" would pass. [`Skip`] goes through
//! `deserialize_any` like a `Value` does, and still allocates nothing.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One JSON value, as far as the rules need it. Arrays and objects are
/// reduced while they are read, by `S` ([`FromSeq`]) and `O` ([`FromMap`]).
#[derive(Debug)]
pub(super) enum Val<'de, O = Skipped, S = Skipped> {
    Null,
    Bool,
    Num(Number),
    Str(Cow<'de, str>),
    Array(S),
    Object(O),
}

impl<O, S> Val<'_, O, S> {
    /// The object, when this is one (`Value::get` sees through nothing else).
    pub(super) fn object(this: &Option<Self>) -> Option<&O> {
        match this {
            Some(Val::Object(o)) => Some(o),
            _ => None,
        }
    }

    /// The string, when this is one.
    pub(super) fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// What an object reduces to: its `Default` with every entry applied in order.
pub(super) trait FromMap<'de>: Default {
    /// Read the value of the entry named `names[index]` (`None`: an unknown name).
    fn entry<A: MapAccess<'de>>(
        &mut self,
        index: Option<usize>,
        map: &mut A,
    ) -> Result<(), A::Error>;
    /// The names this object cares about.
    const NAMES: &'static [&'static str];
}

/// What an array reduces to: its `Default` with every element read in order.
pub(super) trait FromSeq<'de>: Default {
    fn elements<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<(), A::Error>;
}

/// An array or object whose content is not used (but is still checked).
#[derive(Debug, Default)]
pub(super) struct Skipped;

impl<'de> FromMap<'de> for Skipped {
    const NAMES: &'static [&'static str] = &[];
    fn entry<A: MapAccess<'de>>(&mut self, _: Option<usize>, map: &mut A) -> Result<(), A::Error> {
        map.next_value::<Skip>().map(drop)
    }
}

impl<'de> FromSeq<'de> for Skipped {
    fn elements<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<(), A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(())
    }
}

/// Any JSON value, read and checked exactly like a `Value` would be, kept as nothing.
pub(super) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor::<Skipped, Skipped>(PhantomData))
            .map(|_| Skip)
    }
}

impl<'de, O: FromMap<'de>, S: FromSeq<'de>> Deserialize<'de> for Val<'de, O, S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor(PhantomData))
    }
}

struct ValVisitor<O, S>(PhantomData<(O, S)>);

impl<'de, O: FromMap<'de>, S: FromSeq<'de>> Visitor<'de> for ValVisitor<O, S> {
    type Value = Val<'de, O, S>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Val::Bool)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Val::Num(n.into()))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Val::Num(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        // As `Value` does: a float that is not finite becomes null.
        Ok(Number::from_f64(n).map_or(Val::Null, Val::Num))
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut s = S::default();
        s.elements(&mut seq)?;
        Ok(Val::Array(s))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut o = O::default();
        while let Some(index) = map.next_key_seed(KeyIndex(O::NAMES))? {
            o.entry(index, &mut map)?;
        }
        Ok(Val::Object(o))
    }
}

/// An object key, matched (after unescaping) against a list of names
/// without being kept.
struct KeyIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIndex {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == s))
    }
}

/// Implements [`FromMap`] for a struct of `Option` fields: the entry named
/// `$name` is read into field `$field` (a later duplicate replaces it).
macro_rules! object {
    ($ty:ident { $($i:literal => $field:ident: $name:literal),* $(,)? }) => {
        impl<'de> FromMap<'de> for $ty<'de> {
            const NAMES: &'static [&'static str] = &[$($name),*];
            fn entry<A: MapAccess<'de>>(
                &mut self,
                index: Option<usize>,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match index {
                    $(Some($i) => self.$field = Some(map.next_value()?),)*
                    _ => map.next_value::<Skip>().map(drop)?,
                }
                Ok(())
            }
        }
    };
}

/// The whole delivery (when it is an object).
#[derive(Debug, Default)]
pub(super) struct Top<'de> {
    pub issue: Option<Val<'de, Issue<'de>>>,
    pub timestamp: Option<Val<'de>>,
    pub changelog: Option<Val<'de, Changelog<'de>>>,
}
object!(Top { 0 => issue: "issue", 1 => timestamp: "timestamp", 2 => changelog: "changelog" });

#[derive(Debug, Default)]
pub(super) struct Issue<'de> {
    pub key: Option<Val<'de>>,
    pub fields: Option<Val<'de, Fields<'de>>>,
}
object!(Issue { 0 => key: "key", 1 => fields: "fields" });

#[derive(Debug, Default)]
pub(super) struct Fields<'de> {
    pub assignee: Option<Val<'de, Assignee<'de>>>,
    pub status: Option<Val<'de, FieldStatus<'de>>>,
}
object!(Fields { 0 => assignee: "assignee", 1 => status: "status" });

/// `issue.fields.status`: only its category is read.
#[derive(Debug, Default)]
pub(super) struct FieldStatus<'de> {
    pub category: Option<Val<'de, Category<'de>>>,
}
object!(FieldStatus { 0 => category: "statusCategory" });

#[derive(Debug, Default)]
pub(super) struct Category<'de> {
    pub key: Option<Val<'de>>,
}
object!(Category { 0 => key: "key" });

#[derive(Debug, Default)]
pub(super) struct Assignee<'de> {
    pub email: Option<Val<'de>>,
    pub name: Option<Val<'de>>,
    pub account_id: Option<Val<'de>>,
}
object!(Assignee { 0 => email: "emailAddress", 1 => name: "name", 2 => account_id: "accountId" });

/// `changelog`; `any_key` tells an empty object from one with only unknown keys.
#[derive(Debug, Default)]
pub(super) struct Changelog<'de> {
    pub any_key: bool,
    pub id: Option<Val<'de>>,
    pub items: Option<Val<'de, Skipped, Items>>,
}

impl<'de> FromMap<'de> for Changelog<'de> {
    const NAMES: &'static [&'static str] = &["id", "items"];
    fn entry<A: MapAccess<'de>>(
        &mut self,
        index: Option<usize>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        self.any_key = true;
        match index {
            Some(0) => self.id = Some(map.next_value()?),
            Some(1) => self.items = Some(map.next_value()?),
            _ => map.next_value::<Skip>().map(drop)?,
        }
        Ok(())
    }
}

/// `changelog.items`: where the first element that is not an object is,
/// whether an element is an object whose `field` or `fieldId` is
/// `"assignee"`, and the `from` / `to` of the last one naming `"status"`.
#[derive(Debug, Default)]
pub(super) struct Items {
    pub first_non_object: Option<usize>,
    pub assignee: bool,
    pub status: Option<super::StatusItem>,
    /// The last `Key` item (the issue moved): its old and new key
    /// (`fromString` / `toString`, else `from` / `to`).
    pub moved: Option<(Option<String>, Option<String>)>,
}

impl<'de> FromSeq<'de> for Items {
    fn elements<A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(item) = seq.next_element::<Val<'de, Item>>()? {
            match item {
                Val::Object(item) => {
                    self.assignee |= item.is_assignee();
                    if item.field == Named::Key {
                        self.moved = Some((
                            item.from_string.clone().or(item.from.clone()),
                            item.to_string.clone().or(item.to.clone()),
                        ));
                    }
                    if item.is_status() {
                        self.status = Some(super::StatusItem {
                            from: item.from,
                            to: item.to,
                        });
                    }
                }
                _ => {
                    self.first_non_object.get_or_insert(i);
                }
            }
            i += 1;
        }
        Ok(())
    }
}

/// One `changelog.items[]` object: the field it names, by its (last)
/// `field` or, as newer Jira does (with `field` translated, e.g.
/// "Исполнитель"), by its (last) `fieldId`; and its `from` / `to`.
#[derive(Debug, Default)]
struct Item {
    field: Named,
    field_id: Named,
    from: Option<String>,
    to: Option<String>,
    /// `fromString` / `toString` (a `Key` item's keys), when non-empty strings.
    from_string: Option<String>,
    to_string: Option<String>,
}

/// What a `field` / `fieldId` string names, as far as the rules care.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Named {
    #[default]
    Other,
    Assignee,
    Status,
    /// `Key` (only as `field`): the issue moved to another key.
    Key,
}

impl Item {
    fn is_assignee(&self) -> bool {
        self.field == Named::Assignee || self.field_id == Named::Assignee
    }

    fn is_status(&self) -> bool {
        self.field == Named::Status || self.field_id == Named::Status
    }
}

/// A status id as Jira sends it (a string, or a number): its text.
pub(super) fn id_text(v: &Val<'_>) -> Option<String> {
    match v {
        Val::Str(s) if !s.is_empty() => Some(s.to_string()),
        Val::Num(n) => Some(n.to_string()),
        _ => None,
    }
}

impl<'de> FromMap<'de> for Item {
    const NAMES: &'static [&'static str] =
        &["field", "fieldId", "from", "to", "fromString", "toString"];
    fn entry<A: MapAccess<'de>>(
        &mut self,
        index: Option<usize>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match index {
            Some(i @ (0 | 1)) => {
                let v: Val<'de> = map.next_value()?;
                let named = match v {
                    Val::Str(s) if s == "assignee" => Named::Assignee,
                    Val::Str(s) if s == "status" => Named::Status,
                    Val::Str(s) if s == "Key" && i == 0 => Named::Key,
                    _ => Named::Other,
                };
                if i == 0 {
                    self.field = named;
                } else {
                    self.field_id = named;
                }
            }
            Some(2) => self.from = id_text(&map.next_value::<Val<'de>>()?),
            Some(3) => self.to = id_text(&map.next_value::<Val<'de>>()?),
            Some(i @ (4 | 5)) => {
                let v = match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !s.is_empty() => Some(s.to_string()),
                    _ => None,
                };
                if i == 4 {
                    self.from_string = v;
                } else {
                    self.to_string = v;
                }
            }
            _ => map.next_value::<Skip>().map(drop)?,
        }
        Ok(())
    }
}
