//! The bodies a guest holds.

use crate::http::Headers;
use crate::work::WorkId;

/// Where a body's writes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySink {
    /// An ordinary in-memory body.
    Buffer,
    /// The streaming downstream response body: writes become [`Output::BodyChunk`].
    Downstream,
    /// The streaming upload body of a `send_async_streaming` request to a mock or
    /// unreliable backend (the async item handle of its pending request): writes are
    /// buffered, and `close` starts the (simulated) fetch.
    Upload(u32),
    /// The streaming upload body of a `send_async_streaming` request whose fetch is
    /// already under way (the fetch's work id): writes become
    /// [`WorkKind::FetchBodyChunk`], `close` [`WorkKind::FetchBodyEnd`], `abandon` an
    /// aborted end.
    UploadStream(WorkId),
    /// The body of a core cache insert (`fastly_cache.insert`, `transaction_insert`,
    /// `replace_insert`; the insert's id): writes are buffered, `close` stores the
    /// object, `abandon` stores nothing.
    CacheInsert(u32),
    /// The body of an HTTP cache insert (`fastly_http_cache.transaction_insert*`, see
    /// [`super::CacheInsert`]): writes are buffered, and `close` stores the object.
    HttpCacheInsert,
}

impl BodySink {
    /// True for a write-only streaming body (the downstream response or an upload).
    pub fn is_streaming(self) -> bool {
        !matches!(self, BodySink::Buffer)
    }
}

/// A body the guest holds.
#[derive(Debug)]
pub struct Body {
    /// Unread bytes (for a buffer body).
    pub data: Vec<u8>,
    /// Read position in `data`.
    pub pos: usize,
    /// Trailers.
    pub trailers: Headers,
    /// Where writes go.
    pub sink: BodySink,
    /// The exact length, when the host knows it.
    pub known_length: Option<u64>,
    /// True once a read hit the end of the body: trailers can be read from then on
    /// (before that the trailer getters answer AGAIN, as Viceroy does).
    pub trailers_ready: bool,
    /// The error the body ends in, after `data` (a gzip response that would not
    /// decompress): the read that reaches it answers ERROR once, with this as its note,
    /// and later reads see the end, as with Viceroy's streaming decompression.
    pub error: Option<String>,
    /// The rest of a backend response body that is still arriving (after `data`).
    pub incoming: Option<Incoming>,
    /// The rest of a cached object that is still being inserted (after `data`): the
    /// body a stream-back cache handle gives.
    pub cache_tail: Option<crate::session::CacheTail>,
}

/// The part of a backend response body that has not arrived yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The fetch whose body it is ([`crate::WorkKind::FetchBodyRead`] names it).
    pub fetch: WorkId,
    /// The read under way, if any.
    pub read: Option<WorkId>,
}

impl Body {
    /// A buffer body holding `data`.
    pub fn buffer(data: Vec<u8>) -> Self {
        let len = data.len() as u64;
        Body {
            data,
            pos: 0,
            trailers: Headers::new(),
            sink: BodySink::Buffer,
            known_length: Some(len),
            trailers_ready: false,
            error: None,
            incoming: None,
            cache_tail: None,
        }
    }

    /// The body ends in `error` (if any) after its bytes; its length is then unknown.
    pub fn ending_in(mut self, error: Option<String>) -> Self {
        if error.is_some() {
            self.known_length = None;
        }
        self.error = error;
        self
    }

    /// The rest of the body arrives from the fetch `stream` (if any); its length is
    /// then what the response announced (`content-length`), if anything.
    pub fn streaming_from(mut self, stream: Option<WorkId>, length: Option<u64>) -> Self {
        if let Some(fetch) = stream {
            self.incoming = Some(Incoming { fetch, read: None });
            self.known_length = length;
        }
        self
    }

    /// The unread bytes.
    pub fn remaining(&self) -> &[u8] {
        &self.data[self.pos.min(self.data.len())..]
    }

    /// Read up to `max` unread bytes (what `http_body.read` gives the guest): the read
    /// position, the known length and the end of the body follow; a read that finds
    /// nothing at the very end (no bytes still arriving) makes the trailers readable.
    pub fn read_up_to(&mut self, max: usize) -> Vec<u8> {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(max).min(self.data.len());
        let chunk = self.data[start..end].to_vec();
        self.pos = end;
        let n = chunk.len() as u64;
        self.known_length = self.known_length.map(|l| l.saturating_sub(n));
        if self.pos >= self.data.len() {
            self.data.clear();
            self.pos = 0;
            if chunk.is_empty() && self.incoming.is_none() {
                self.trailers_ready = true;
            }
        }
        chunk
    }

    /// Take the unread bytes out of the body.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        let start = self.pos.min(self.data.len());
        self.data.split_off(start)
    }
}
