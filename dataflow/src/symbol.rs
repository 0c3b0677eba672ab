//! Interned strings for values that repeat on every event (session ids).
//!
//! A [`Symbol`] is a pointer into a process-wide intern table: 8 bytes,
//! `Copy`. Interning makes the pointer unique per string, so equality is a
//! pointer comparison; the order is the strings' order (it decides ties
//! between events, so it must not depend on the process); the hash is the
//! string's, computed once when it is interned with a fixed seed, so it is
//! the same in every process of a cluster (exchanges route by it) and costs
//! one word per use. Serialising writes the string, and deserialising
//! interns it again, so symbols cross process boundaries unchanged. The
//! table only grows: it is meant for values with few distinct members (a
//! session id, a team), not for per-event identifiers.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{OnceLock, RwLock};

/// An interned string.
#[derive(Clone, Copy)]
pub struct Symbol(&'static Interned);

/// One interned string and its hash.
struct Interned {
    text: Box<str>,
    hash: u64,
}

/// The seed of symbols' hashes (any constant: it only has to be the same
/// in every process).
const SEED: u64 = 0x7261_6365_6361_7374;

fn table() -> &'static RwLock<HashMap<&'static str, Symbol>> {
    static TABLE: OnceLock<RwLock<HashMap<&'static str, Symbol>>> = OnceLock::new();
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
            return *found;
        }
        let mut write = table().write().expect("symbol table lock is never poisoned");
        if let Some(found) = write.get(text) {
            return *found;
        }
        let interned: &'static Interned = Box::leak(Box::new(Interned {
            text: text.into(),
            hash: foldhash::fast::FixedState::with_seed(SEED).hash_one(text),
        }));
        let symbol = Symbol(interned);
        write.insert(&interned.text, symbol);
        symbol
    }

    /// The interned text.
    pub fn as_str(&self) -> &'static str {
        &self.0.text
    }
}

impl PartialEq for Symbol {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Symbol {}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> Ordering {
        if self == other {
            Ordering::Equal
        } else {
            self.0.text.cmp(&other.0.text)
        }
    }
}

impl Hash for Symbol {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
    fn order_and_hash_follow_the_text() {
        let (a, b) = (Symbol::intern("2026-b"), Symbol::intern("2026-a"));
        assert!(b < a, "ordered by text, not by address");
        let hash = |s: Symbol| foldhash::fast::FixedState::with_seed(1).hash_one(s);
        assert_eq!(hash(a), hash(Symbol::intern("2026-b")));
        assert_ne!(hash(a), hash(b));
        assert_eq!(std::mem::size_of::<Symbol>(), 8);
    }

    #[test]
    fn serde_round_trip() {
        let a = Symbol::intern("s1");
        let json = serde_json::to_string(&a).expect("serialise");
        let back: Symbol = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(a, back);
    }
}
