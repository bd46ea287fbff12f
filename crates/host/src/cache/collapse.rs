//! Request collapsing: who is fetching (or inserting) what right now.
//!
//! On the platform, concurrent misses for one cache key make one origin fetch: the
//! first request gets the obligation to insert (or update) the object, the others wait
//! until it has done so, or given up, and then look again. That is not service state
//! anyone persists, only an in-memory table per service, shared by every execution of
//! it ([`crate::service::Service`]): a claim per cache key, held by an owner (one
//! execution), released when it inserts, cancels, or ends ([`Claims`] releases what it
//! holds when dropped, so a trapping or stopped guest never leaves waiters behind).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Who holds a claim: one execution.
pub type Owner = u64;

/// The outcome of [`Collapser::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key now (or already did): it must insert, update or
    /// cancel.
    Won,
    /// Another execution holds it: wait and look again.
    Busy,
}

#[derive(Debug, Default)]
struct Inner {
    next_owner: Owner,
    claims: HashMap<Vec<u8>, Owner>,
}

/// A service's table of claims. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Collapser(Arc<Mutex<Inner>>);

impl Collapser {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new owner, and the guard that releases its claims when dropped.
    pub fn owner(&self) -> Claims {
        let mut i = self.inner();
        i.next_owner += 1;
        Claims {
            collapser: self.clone(),
            owner: i.next_owner,
        }
    }

    /// Claim `key` for `owner`.
    pub fn claim(&self, key: &[u8], owner: Owner) -> Claim {
        let mut i = self.inner();
        match i.claims.get(key) {
            Some(o) if *o != owner => Claim::Busy,
            _ => {
                i.claims.insert(key.to_vec(), owner);
                Claim::Won
            }
        }
    }

    /// True when someone other than `owner` holds `key`.
    pub fn busy(&self, key: &[u8], owner: Owner) -> bool {
        self.inner().claims.get(key).is_some_and(|o| *o != owner)
    }

    /// Who holds `key`, if anyone.
    pub fn holder(&self, key: &[u8]) -> Option<Owner> {
        self.inner().claims.get(key).copied()
    }

    /// Release `owner`'s claim on `key` (nothing if it holds none).
    pub fn release(&self, key: &[u8], owner: Owner) {
        let mut i = self.inner();
        if i.claims.get(key) == Some(&owner) {
            i.claims.remove(key);
        }
    }

    /// Release every claim of `owner`.
    pub fn release_all(&self, owner: Owner) {
        self.inner().claims.retain(|_, o| *o != owner);
    }

    /// How many keys are claimed now.
    pub fn len(&self) -> usize {
        self.inner().claims.len()
    }

    /// True when nothing is claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One execution's identity in the table; dropping it releases its claims.
#[derive(Debug)]
pub struct Claims {
    collapser: Collapser,
    owner: Owner,
}

impl Claims {
    /// A new owner in the same table (one per request that may collapse, so two
    /// requests of one execution collapse too).
    pub fn another(&self) -> Claims {
        self.collapser.owner()
    }

    /// The owner id.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Claim `key`.
    pub fn claim(&self, key: &[u8]) -> Claim {
        self.collapser.claim(key, self.owner)
    }

    /// True when another execution holds `key`.
    pub fn busy(&self, key: &[u8]) -> bool {
        self.collapser.busy(key, self.owner)
    }

    /// True when this owner holds `key`.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.collapser.holder(key) == Some(self.owner)
    }

    /// Release the claim on `key`.
    pub fn release(&self, key: &[u8]) {
        self.collapser.release(key, self.owner)
    }

    /// Release every claim it holds (the execution ended; the guard may live on).
    pub fn release_all(&self) {
        self.collapser.release_all(self.owner)
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        self.collapser.release_all(self.owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_at_a_time_and_dropping_releases() {
        let c = Collapser::default();
        let a = c.owner();
        let b = c.owner();
        assert_eq!(a.claim(b"k"), Claim::Won);
        assert_eq!(a.claim(b"k"), Claim::Won);
        assert_eq!(b.claim(b"k"), Claim::Busy);
        assert!(b.busy(b"k") && !a.busy(b"k"));
        b.release(b"k");
        assert_eq!(c.len(), 1, "b holds nothing to release");
        a.release(b"k");
        assert_eq!(b.claim(b"k"), Claim::Won);
        assert_eq!(b.claim(b"other"), Claim::Won);
        drop(b);
        assert!(c.is_empty());
        // An ended execution lets go of everything while its guard lives on.
        let d = c.owner();
        d.claim(b"x");
        d.claim(b"y");
        d.release_all();
        assert!(c.is_empty());
        assert_eq!(d.claim(b"x"), Claim::Won, "the guard can claim again");
    }
}
