//! State that crosses versions: a component's fields in a versioned,
//! self-describing serde form (CBOR), and in-process resources that cannot
//! be serialised (sockets, files) handed over by value.
//!
//! The serialised form, not the memory layout, is what a new version reads,
//! so a migration works whether the new code was compiled into this binary
//! or loaded from a rebuilt library.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;

/// A component's exported state: which component and version wrote it, and
/// its fields in CBOR.
#[derive(Clone, Debug)]
pub struct State {
    /// Component type that exported it.
    pub component: String,
    /// Version of that component.
    pub version: u32,
    bytes: Vec<u8>,
}

/// Exporting, importing or migrating state failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateError(pub String);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

impl State {
    /// Serialises `value` as the state of `component` at `version`.
    pub fn encode<T: Serialize + ?Sized>(
        component: &str,
        version: u32,
        value: &T,
    ) -> Result<Self, StateError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(|e| {
            StateError(format!(
                "cannot serialise the state of `{component}` v{version}: {e}"
            ))
        })?;
        Ok(State {
            component: component.to_owned(),
            version,
            bytes,
        })
    }

    /// Reads the state as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, StateError> {
        ciborium::from_reader(self.bytes.as_slice()).map_err(|e| {
            StateError(format!(
                "cannot read the state of `{}` v{} as `{}`: {e}",
                self.component,
                self.version,
                std::any::type_name::<T>()
            ))
        })
    }

    /// Size of the serialised form in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if the serialised form is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Values handed from an old instance to its replacement in-process: what
/// cannot be serialised, such as an open listener socket. The old version
/// puts them in its `#[handover]` method, the new one takes them in its
/// `#[takeover]` method, at the moment of the swap.
#[derive(Default)]
pub struct Resources {
    items: HashMap<String, Box<dyn Any + Send>>,
}

impl Resources {
    /// Puts `value` under `key`, replacing any value there.
    pub fn put<T: Send + 'static>(&mut self, key: &str, value: T) {
        self.items.insert(key.to_owned(), Box::new(value));
    }

    /// Takes the value under `key` if there is one of type `T`.
    pub fn take<T: Send + 'static>(&mut self, key: &str) -> Option<T> {
        let item = self.items.remove(key)?;
        match item.downcast::<T>() {
            Ok(v) => Some(*v),
            Err(item) => {
                self.items.insert(key.to_owned(), item);
                None
            }
        }
    }

    /// Keys of the values not taken yet.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }
}
