//! Interned strings for values that repeat on every event (session ids).
//!
//! A [`Symbol`] is a `&'static str` taken from a process-wide intern table:
//! 16 bytes, `Copy`, compared by content. Serialising writes the string, and
//! deserialising interns it again, so symbols cross process boundaries
//! unchanged. The table only grows: it is meant for values with few distinct
//! members (a session id), not for per-event identifiers.

use std::collections::HashSet;
use std::fmt;
use std::sync::{OnceLock, RwLock};

/// An interned string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(&'static str);

fn table() -> &'static RwLock<HashSet<&'static str>> {
    static TABLE: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Symbol {
    /// Interns `text`, allocating only the first time it is seen.
    pub fn intern(text: &str) -> Symbol {
        if let Some(found) = table()
            .read()
            .expect("symbol table lock is never poisoned")
            .get(text)
        {
            return Symbol(found);
        }
        let mut write = table().write().expect("symbol table lock is never poisoned");
        if let Some(found) = write.get(text) {
            return Symbol(found);
        }
        let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
        write.insert(leaked);
        Symbol(leaked)
    }

    /// The interned text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Symbol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Symbol, E> {
                Ok(Symbol::intern(v))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_pointer() {
        let a = Symbol::intern("2026-monaco-R");
        let b = Symbol::intern(&String::from("2026-monaco-R"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, b);
        assert_ne!(a, Symbol::intern("2026-monaco-Q"));
    }

    #[test]
    fn serde_round_trip() {
        let a = Symbol::intern("s1");
        let json = serde_json::to_string(&a).expect("serialise");
        let back: Symbol = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(a, back);
    }
}
