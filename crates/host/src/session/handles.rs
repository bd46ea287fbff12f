//! Handle tables: the numbers a guest holds for requests, responses, bodies and the rest.

/// Most live handles of one kind a request may hold before calls answer LIMITEXCEEDED.
pub const MAX_HANDLES: usize = 65_536;

/// A table of handles of one kind. Handles are indices and are never reused within a
/// request, so a stale handle is always BADF.
#[derive(Debug)]
pub struct HandleTable<T> {
    items: Vec<Option<T>>,
    live: usize,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            items: Vec::new(),
            live: 0,
        }
    }
}

impl<T> HandleTable<T> {
    /// Store `v`, returning its handle, or `None` past [`MAX_HANDLES`] live handles.
    pub fn insert(&mut self, v: T) -> Option<u32> {
        if self.live >= MAX_HANDLES || self.items.len() >= (u32::MAX - 2) as usize {
            return None;
        }
        self.items.push(Some(v));
        self.live += 1;
        Some((self.items.len() - 1) as u32)
    }
    /// Use up one handle number without storing anything: the number is never live in
    /// this table. Another table can then own it, so the two share one number space
    /// (async items take their numbers from the body table this way). `None` when the
    /// numbers are exhausted.
    pub fn reserve(&mut self) -> Option<u32> {
        if self.items.len() >= (u32::MAX - 2) as usize {
            return None;
        }
        self.items.push(None);
        Some((self.items.len() - 1) as u32)
    }
    /// The value behind `h`.
    pub fn get(&self, h: u32) -> Option<&T> {
        self.items.get(h as usize).and_then(Option::as_ref)
    }
    /// The value behind `h`, mutably.
    pub fn get_mut(&mut self, h: u32) -> Option<&mut T> {
        self.items.get_mut(h as usize).and_then(Option::as_mut)
    }
    /// Remove and return the value behind `h`; the handle is dead afterwards.
    pub fn take(&mut self, h: u32) -> Option<T> {
        let v = self.items.get_mut(h as usize).and_then(Option::take);
        if v.is_some() {
            self.live -= 1;
        }
        v
    }
    /// Every live value.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }
    /// True if `h` is live.
    pub fn contains(&self, h: u32) -> bool {
        self.get(h).is_some()
    }
    /// Number of live handles.
    pub fn live(&self) -> usize {
        self.live
    }
}
