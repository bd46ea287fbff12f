//! A service: its configuration and the state its requests share.
//!
//! Every driver keeps one [`Service`] per service and gives a clone to each
//! execution. A new service's state is seeded from its configuration
//! ([`crate::seed`]): the KV stores and ACLs of `fastly.toml` hold their entries
//! before the first request.

use crate::cache::collapse::Collapser;
use crate::cache::stream::Streams;
use crate::config::ServiceConfig;
use crate::seed;
use crate::storage::{MemoryStorage, SharedStorage, Storage};
use std::sync::Arc;

/// A service: its configuration and the state its requests share. Cheap to clone
/// (both parts are shared); a driver keeps one per service and gives a clone to every
/// execution.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// The `fastly.toml` configuration.
    pub config: Arc<ServiceConfig>,
    /// What outlives one request.
    pub state: SharedStorage,
    /// Who is fetching or inserting which cache key right now (request collapsing):
    /// in memory, shared by the service's executions, never persisted.
    pub collapser: Collapser,
    /// Core cache inserts being written right now, which lookups of other executions
    /// read as they are written: in memory, never persisted.
    pub streams: Streams,
}

impl Service {
    /// A service with `config` and its own in-memory state, seeded from `config`.
    /// Nothing is journaled: the seed is not a change anyone must persist.
    pub fn new(config: Arc<ServiceConfig>) -> Self {
        let mut storage = MemoryStorage::new();
        seed::seed_once(&config, &mut storage);
        storage.take_journal();
        Service {
            config,
            state: SharedStorage::new(storage),
            collapser: Collapser::default(),
            streams: Streams::default(),
        }
    }

    /// A service with `config` and the given state, as it is (a driver that persists
    /// state loads it, seeds it with [`seed::seed`] and gives it here).
    pub fn with_state(config: Arc<ServiceConfig>, state: SharedStorage) -> Self {
        Service {
            config,
            state,
            collapser: Collapser::default(),
            streams: Streams::default(),
        }
    }
}

/// A configuration alone is a service with fresh, empty state (one-off runs, tests).
impl From<Arc<ServiceConfig>> for Service {
    fn from(config: Arc<ServiceConfig>) -> Self {
        Service::new(config)
    }
}

impl From<ServiceConfig> for Service {
    fn from(config: ServiceConfig) -> Self {
        Service::new(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_shares_its_state_between_clones() {
        let service = Service::from(ServiceConfig::default());
        let other = service.clone();
        service.state.lock().put(b"k", b"v".to_vec());
        assert_eq!(other.state.lock().get(b"k"), Some(b"v".to_vec()));
        assert_eq!(other.state.take_journal().len(), 1);
        assert!(service.state.take_journal().is_empty());
        // A fresh service has fresh state.
        let fresh = Service::new(service.config.clone());
        assert_eq!(fresh.state.lock().get(b"k"), None);
    }
}
