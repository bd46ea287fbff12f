//! Service state on disk: `--state-dir DIR`.
//!
//! Without `--state-dir` the service's state (KV stores, ACLs, rate counters) lives in
//! memory for as long as the process runs and starts from `fastly.toml` every time, as
//! in Viceroy. With it, the state is kept in `DIR/state.redb`, a [redb] database
//! (pure Rust, ACID, crash-safe: a commit is durable when it returns, and a torn
//! write after a crash is rolled back to the last commit on the next open).
//!
//! The core's state is a [`MemoryStorage`] either way (every read is in memory):
//! at start it is loaded from the database, seeded from the configuration
//! ([`edgeplay_host::seed`]: a store is seeded once per version of its seed, so a
//! restart with the same `fastly.toml` keeps what requests wrote), and after every
//! request the changes it made ([`Storage::take_journal`]) are committed in one
//! transaction before its response is finished. A crash mid-request therefore loses
//! at most that request's writes, never what a finished request wrote.
//!
//! A state directory another `edgeplay` holds open, or whose database is not one
//! (corrupt, another program's file), is a clear error at start; nothing in it is
//! changed or removed.
//!
//! [redb]: https://www.redb.org
//! [`Storage::take_journal`]: edgeplay_host::storage::Storage::take_journal

use anyhow::{anyhow, Context, Result};
use edgeplay_host::seed;
use edgeplay_host::storage::{Change, MemoryStorage, SharedStorage};
use edgeplay_host::Service;
use edgeplay_host::ServiceConfig;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The one table: storage key → value, as the core's [`Storage`] sees them.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

/// The database file inside a state directory.
pub const STATE_FILE: &str = "state.redb";

/// How a service's state is kept.
pub struct ServiceState {
    /// The service: its configuration and the shared in-memory state.
    pub service: Service,
    disk: Option<StateDir>,
}

impl ServiceState {
    /// The state for `config`: in memory, or loaded from `state_dir`; then seeded
    /// from the configuration (and, with `reset`, every store put back to its seed
    /// and rate-limiting state cleared). The seeding is committed at once.
    pub fn open(config: Arc<ServiceConfig>, state_dir: Option<&Path>, reset: bool) -> Result<Self> {
        let (mut storage, disk) = match state_dir {
            Some(dir) => {
                let disk = StateDir::open(dir)?;
                (disk.load()?, Some(disk))
            }
            None => (MemoryStorage::new(), None),
        };
        if reset {
            seed::reset_all(&config, &mut storage);
        }
        seed::seed_once(&config, &mut storage);
        let state = ServiceState {
            service: Service::with_state(config, SharedStorage::new(storage)),
            disk,
        };
        state.flush()?;
        Ok(state)
    }

    /// `service` as it is, in memory (nothing is persisted; the journal is dropped at
    /// every flush).
    pub fn in_memory(service: Service) -> Self {
        ServiceState {
            service,
            disk: None,
        }
    }

    /// Make the changes since the last flush durable (with a state directory) or drop
    /// the journal (in memory: the state itself is current, the journal is only the
    /// record of what to persist). Called after every request.
    pub fn flush(&self) -> Result<()> {
        let changes = self.service.state.take_journal();
        match &self.disk {
            Some(disk) if !changes.is_empty() => disk.commit(&changes),
            _ => Ok(()),
        }
    }

    /// The state directory, if the state is kept on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.dir.as_path())
    }
}

/// An open state directory.
struct StateDir {
    dir: PathBuf,
    db: Database,
}

impl StateDir {
    fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the state directory {}", dir.display()))?;
        let file = dir.join(STATE_FILE);
        let db = Database::create(&file).map_err(|e| {
            let why = match &e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    "another edgeplay process is using it; give each its own --state-dir".to_string()
                }
                other => format!("{other} (the file is not an edgeplay state database, or it is damaged; move it away to start afresh)"),
            };
            anyhow!("the state directory {} cannot be used: {}: {why}", dir.display(), file.display())
        })?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            db,
        })
    }

    fn unusable(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow!(
            "the state in {} cannot be read or written: {e}",
            self.dir.join(STATE_FILE).display()
        )
    }

    /// Everything stored, as the core's in-memory state.
    fn load(&self) -> Result<MemoryStorage> {
        let tx = self.db.begin_read().map_err(|e| self.unusable(e))?;
        let table = match tx.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(MemoryStorage::new()),
            Err(e) => return Err(self.unusable(e)),
        };
        let mut entries = Vec::new();
        for row in table.iter().map_err(|e| self.unusable(e))? {
            let (k, v) = row.map_err(|e| self.unusable(e))?;
            entries.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(MemoryStorage::with_entries(entries))
    }

    /// Apply `changes` in one transaction: all of them are durable, or none.
    fn commit(&self, changes: &[Change]) -> Result<()> {
        let tx = self.db.begin_write().map_err(|e| self.unusable(e))?;
        {
            let mut table = tx.open_table(STATE).map_err(|e| self.unusable(e))?;
            for c in changes {
                match c {
                    Change::Put { key, value } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|e| self.unusable(e))?;
                    }
                    Change::Delete { key } => {
                        table.remove(key.as_slice()).map_err(|e| self.unusable(e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.unusable(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("edgeplay-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = tempdir("restart");
        let config = Arc::new(ServiceConfig::default());
        {
            let st = ServiceState::open(config.clone(), Some(&dir), false).unwrap();
            st.service.state.lock().put(b"kv/s\0a", b"1".to_vec());
            st.service.state.lock().put(b"kv/s\0b", b"2".to_vec());
            st.service.state.lock().delete(b"kv/s\0b");
            st.flush().unwrap();
            // Written after the last flush: a crash now loses only this.
            st.service.state.lock().put(b"kv/s\0c", b"3".to_vec());
        }
        let st = ServiceState::open(config, Some(&dir), false).unwrap();
        let s = st.service.state.lock();
        assert_eq!(s.get(b"kv/s\0a"), Some(b"1".to_vec()));
        assert_eq!(s.get(b"kv/s\0b"), None);
        assert_eq!(s.get(b"kv/s\0c"), None);
        drop(s);
        drop(st);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn in_memory_state_drops_its_journal() {
        let st = ServiceState::open(Arc::new(ServiceConfig::default()), None, false).unwrap();
        st.service.state.lock().put(b"k", b"v".to_vec());
        st.flush().unwrap();
        assert!(st.service.state.take_journal().is_empty());
        assert_eq!(st.service.state.lock().get(b"k"), Some(b"v".to_vec()));
        assert!(st.dir().is_none());
    }

    #[test]
    fn a_corrupt_state_file_is_a_clear_error_and_is_left_alone() {
        let dir = tempdir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let junk = b"this is not a database, but it is somebody's data".repeat(100);
        std::fs::write(dir.join(STATE_FILE), &junk).unwrap();
        let err = ServiceState::open(Arc::new(ServiceConfig::default()), Some(&dir), false)
            .err()
            .expect("a corrupt state file is refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("cannot be used"), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert_eq!(
            std::fs::read(dir.join(STATE_FILE)).unwrap(),
            junk,
            "nothing was changed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_state_dir_in_use_is_a_clear_error() {
        let dir = tempdir("busy");
        let config = Arc::new(ServiceConfig::default());
        let _first = ServiceState::open(config.clone(), Some(&dir), false).unwrap();
        let err = ServiceState::open(config, Some(&dir), false)
            .err()
            .expect("a second open is refused");
        assert!(
            format!("{err:#}").contains("another edgeplay process"),
            "{err:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_state_dir_that_is_a_file_is_a_clear_error() {
        let dir = tempdir("file");
        std::fs::write(&dir, b"x").unwrap();
        let err = ServiceState::open(Arc::new(ServiceConfig::default()), Some(&dir), false)
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("could not create the state directory"),
            "{err:#}"
        );
        let _ = std::fs::remove_file(&dir);
    }
}
