//! Handles: opaque tokens resolved through a registry, never dereferenced.
//!
//! A handle a C caller holds (`mtp_session *` and friends) is not the
//! address of a Rust object. Its pointer value encodes a token: a type tag,
//! a slot index and the slot's generation. Every call looks the token up in
//! the registry of its type under a mutex and gets an `Arc` of the object,
//! or "not found". So a freed handle (its slot's generation moved on), a
//! handle of another type (another tag), a garbage pointer or a double free
//! is an `MTP_ERR_INVALID_HANDLE`, never a use-after-free. The lowest bit
//! of a token is always 1, so no aligned pointer to real memory is ever
//! mistaken for a live handle.
//!
//! Freeing removes the registry's `Arc`; the object itself is dropped when
//! the last call that was using it returns, outside the registry lock (so a
//! drop that joins threads or runs callbacks cannot deadlock with callers).

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{mtp_result::MTP_ERR_INTERNAL, Fail, FfiResult};

const TAG_BITS: u32 = 4;
#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 24;
#[cfg(not(target_pointer_width = "64"))]
const INDEX_BITS: u32 = 16;
const GEN_SHIFT: u32 = 1 + TAG_BITS + INDEX_BITS;
const GEN_BITS: u32 = usize::BITS - GEN_SHIFT;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GEN_MASK: usize = usize::MAX >> GEN_SHIFT;
/// Live handles of one type at most (16.7 million on 64-bit targets).
const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// The type tags (distinct per registry, 1..16).
pub(crate) mod tag {
    pub(crate) const RUNTIME: usize = 1;
    pub(crate) const SESSION: usize = 2;
    pub(crate) const BUFFER: usize = 3;
    pub(crate) const UPDATE_BATCH: usize = 4;
    pub(crate) const SCHEMA: usize = 5;
}

struct Slot<T> {
    generation: usize,
    value: Option<Arc<T>>,
}

struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// The live handles of one type.
pub(crate) struct Registry<T> {
    tag: usize,
    slab: Mutex<Slab<T>>,
}

impl<T> Registry<T> {
    pub(crate) const fn new(tag: usize) -> Self {
        Registry {
            tag,
            slab: Mutex::new(Slab {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slab<T>> {
        // Every critical section leaves the slab consistent, so a panic in
        // another thread while holding it (there is none) is harmless.
        self.slab.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token(&self, index: usize, generation: usize) -> usize {
        1 | (self.tag << 1) | (index << (1 + TAG_BITS)) | (generation << GEN_SHIFT)
    }

    /// The slot index of a token of this registry, with its generation.
    fn decode(&self, token: usize) -> Option<(usize, usize)> {
        if token & 1 != 1 || (token >> 1) & ((1 << TAG_BITS) - 1) != self.tag {
            return None;
        }
        let index = (token >> (1 + TAG_BITS)) & INDEX_MASK;
        let generation = token >> GEN_SHIFT;
        Some((index, generation))
    }

    /// Registers `value` and returns its token.
    pub fn insert(&self, value: Arc<T>) -> FfiResult<usize> {
        let mut slab = self.lock();
        let index = match slab.free.pop() {
            Some(i) => i,
            None => {
                if slab.slots.len() >= MAX_SLOTS {
                    return Err(Fail::new(
                        MTP_ERR_INTERNAL,
                        "too many live handles of one type; free some",
                    ));
                }
                // Generation 0 is never handed out, so a token with a zero
                // generation field is never valid.
                slab.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                slab.slots.len() - 1
            }
        };
        let slot = &mut slab.slots[index];
        slot.generation = next_generation(slot.generation);
        slot.value = Some(value);
        let generation = slot.generation;
        drop(slab);
        Ok(self.token(index, generation))
    }

    /// The object behind a live token.
    pub fn get(&self, token: usize) -> Option<Arc<T>> {
        let (index, generation) = self.decode(token)?;
        let slab = self.lock();
        let slot = slab.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.clone()
    }

    /// Unregisters a token; the caller drops the returned object (outside
    /// the lock). `None` for a token that is not live.
    pub fn remove(&self, token: usize) -> Option<Arc<T>> {
        let (index, generation) = self.decode(token)?;
        let mut slab = self.lock();
        let slot = slab.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let value = slot.value.take()?;
        slab.free.push(index);
        Some(value)
    }

    /// Every live object (for tests and shutdown).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock()
            .slots
            .iter()
            .filter(|s| s.value.is_some())
            .count()
    }
}

/// The next generation of a reused slot: never 0, wrapping within the bits
/// a token has for it.
fn next_generation(g: usize) -> usize {
    let next = (g + 1) & GEN_MASK;
    if next == 0 {
        1
    } else {
        next
    }
}

// `GEN_BITS` documents the layout; keep the compiler honest about it.
const _: () = assert!(GEN_BITS >= 7);

/// Converts a token to the opaque pointer type the header declares, and
/// back. Only the address is used; the pointer is never dereferenced.
pub(crate) fn to_ptr<P>(token: usize) -> *mut P {
    std::ptr::without_provenance_mut(token)
}

pub(crate) fn from_ptr<P>(ptr: *const P) -> usize {
    ptr.addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_and_foreign_tokens_are_not_found() {
        let a: Registry<u32> = Registry::new(tag::BUFFER);
        let b: Registry<u32> = Registry::new(tag::SCHEMA);
        let t = a.insert(Arc::new(7)).unwrap();
        assert_eq!(*a.get(t).unwrap(), 7);
        assert!(b.get(t).is_none(), "a token of another type is refused");
        assert!(a.remove(t).is_some());
        assert!(a.remove(t).is_none(), "a double free is refused");
        assert!(a.get(t).is_none());
        let t2 = a.insert(Arc::new(8)).unwrap();
        assert_ne!(t, t2, "a reused slot gets a new generation");
        assert!(a.get(t).is_none());
        assert_eq!(*a.get(t2).unwrap(), 8);
        for garbage in [0usize, 1, 8, 0x1000, usize::MAX, t2 & !1] {
            assert!(a.get(garbage).is_none(), "{garbage:#x}");
        }
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn generations_wrap_without_reaching_zero() {
        assert_eq!(next_generation(GEN_MASK), 1);
        assert_eq!(next_generation(0), 1);
    }
}
