//! Inserts under way, readable while they are written.
//!
//! On the platform a core cache object can be read while it is still being inserted:
//! a lookup (or a transaction that would otherwise wait for the inserting execution's
//! claim) finds it with the insert's options, and its body gives the bytes as the
//! writer writes them, then the end once the insert completes, or an error when the
//! writer abandons it. Like request collapsing ([`super::collapse`]) this is live
//! state, never persisted: a small in-memory table per service
//! ([`crate::service::Service::streams`]) of the inserts being written, by cache key.
//!
//! The writer holds a [`Writer`]; its bytes go into the shared [`Live`] object, which
//! readers hold too ([`std::sync::Arc`]), so a reader that found an insert keeps
//! reading it after it has left the table (stored or failed). A `Writer` dropped
//! before it finished (a trapping or stopped guest) fails the insert and leaves the
//! table, so no reader is left waiting.

use super::collapse::Owner;
use super::Found;
use crate::http::Headers;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a reader gets at a position of a live object ([`Live::read`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// These bytes (never empty).
    Bytes(Vec<u8>),
    /// Nothing yet: the writer is still writing.
    Wait,
    /// The end: the insert was stored, and every byte is read.
    End,
    /// The insert stored nothing (why).
    Failed(String),
}

/// How an insert ended.
#[derive(Clone, Debug)]
pub enum Ended {
    /// Stored: the object as the engine stored it.
    Stored(Box<Found>),
    /// Nothing was stored (why).
    Failed(String),
}

#[derive(Debug, Default)]
struct Progress {
    bytes: Vec<u8>,
    ended: Option<Ended>,
}

/// An insert being written (or just ended), shared by its writer and its readers.
#[derive(Debug)]
pub struct Live {
    /// The execution writing it (its collapsing identity, [`super::collapse::Claims`]).
    pub writer: Owner,
    /// The object as the insert will store it (its meta carries the insert's options
    /// and vary rule; `inserted_ns` is when the insert started).
    pub object: Found,
    progress: Mutex<Progress>,
}

impl Live {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes from `pos` up to `end` (exclusive; `None`: no end): what is written
    /// there so far, or why there is nothing.
    pub fn read(&self, pos: u64, end: Option<u64>) -> Read {
        let p = self.progress();
        if let Some(Ended::Failed(why)) = &p.ended {
            return Read::Failed(why.clone());
        }
        let have = p.bytes.len() as u64;
        let stop = end.map_or(have, |e| e.min(have));
        if pos < stop {
            return Read::Bytes(p.bytes[pos as usize..stop as usize].to_vec());
        }
        if p.ended.is_some() || end.is_some_and(|e| pos >= e) {
            return Read::End;
        }
        Read::Wait
    }

    /// Every byte written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.progress().bytes.clone()
    }

    /// How many bytes are written so far.
    pub fn written(&self) -> u64 {
        self.progress().bytes.len() as u64
    }

    /// How the insert ended, once it has.
    pub fn ended(&self) -> Option<Ended> {
        self.progress().ended.clone()
    }
}

type Table = HashMap<Vec<u8>, Vec<Arc<Live>>>;

/// A service's table of inserts being written. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Streams(Arc<Mutex<Table>>);

impl Streams {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start an insert of `object` by `writer`: readers find it from now on.
    pub fn start(&self, writer: Owner, object: Found) -> Writer {
        let live = Arc::new(Live {
            writer,
            object,
            progress: Mutex::new(Progress::default()),
        });
        self.table()
            .entry(live.object.meta.key.clone())
            .or_default()
            .push(live.clone());
        Writer {
            streams: self.clone(),
            live,
            done: false,
        }
    }

    /// The newest insert being written under `key` whose variant `request` selects.
    pub fn find(&self, key: &[u8], request: &Headers) -> Option<Arc<Live>> {
        self.table()
            .get(key)?
            .iter()
            .rev()
            .find(|l| l.object.meta.matches(request))
            .cloned()
    }

    /// How many inserts are being written.
    pub fn len(&self) -> usize {
        self.table().values().map(Vec::len).sum()
    }

    /// True when no insert is being written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, live: &Arc<Live>) {
        let mut t = self.table();
        let key = &live.object.meta.key;
        if let Some(v) = t.get_mut(key) {
            v.retain(|l| !Arc::ptr_eq(l, live));
            if v.is_empty() {
                t.remove(key);
            }
        }
    }
}

/// The writing end of an insert. Dropping it before [`Writer::end`] fails the insert
/// (its readers' next read answers an error) and takes it out of the table.
#[derive(Debug)]
pub struct Writer {
    streams: Streams,
    live: Arc<Live>,
    done: bool,
}

impl Writer {
    /// The object being written (for readers of the writer's own execution).
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Add `bytes` to the end of the object.
    pub fn write(&self, bytes: &[u8]) {
        if !self.done {
            self.live.progress().bytes.extend_from_slice(bytes);
        }
    }

    /// The insert ended: readers read to the end (stored) or fail; new lookups no
    /// longer find it here.
    pub fn end(&mut self, how: Ended) {
        if self.done {
            return;
        }
        self.done = true;
        self.live.progress().ended = Some(how);
        self.streams.remove(&self.live);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.end(Ended::Failed(
            "the inserting execution ended before finishing the body: nothing is stored".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{unstored, WriteOptions};

    fn object(key: &[u8]) -> Found {
        unstored(key, WriteOptions::default(), 0, 0)
    }

    #[test]
    fn readers_follow_the_writer_and_outlive_the_table() {
        let streams = Streams::default();
        let mut w = streams.start(1, object(b"k"));
        let r = streams
            .find(b"k", &Headers::new())
            .expect("found while written");
        assert_eq!(r.read(0, None), Read::Wait);
        w.write(b"ab");
        assert_eq!(r.read(0, None), Read::Bytes(b"ab".to_vec()));
        assert_eq!(r.read(2, None), Read::Wait);
        assert_eq!(r.read(1, Some(2)), Read::Bytes(b"b".to_vec()));
        assert_eq!(r.read(2, Some(2)), Read::End, "a range ends at its end");
        w.write(b"c");
        w.end(Ended::Stored(Box::new(object(b"k"))));
        assert!(streams.is_empty(), "a stored insert leaves the table");
        assert_eq!(r.read(2, None), Read::Bytes(b"c".to_vec()));
        assert_eq!(r.read(3, None), Read::End);
    }

    #[test]
    fn a_dropped_writer_fails_its_readers() {
        let streams = Streams::default();
        let w = streams.start(1, object(b"k"));
        w.write(b"x");
        let r = streams.find(b"k", &Headers::new()).unwrap();
        drop(w);
        assert!(streams.find(b"k", &Headers::new()).is_none());
        assert!(matches!(r.read(0, None), Read::Failed(_)));
    }
}
