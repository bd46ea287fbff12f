//! The one checked layer between hostcalls and guest memory.
//!
//! Hostcall bodies never index guest memory themselves: they read and write through
//! [`GuestMem`], which bounds-checks every access, counts the bytes moved (for the
//! trace) and implements the ABI's output-buffer rules (buffer too small → BUFLEN
//! with the needed length; multi-value cursors). No argument a guest passes can make
//! these functions panic.

use crate::status::Status;

/// A guest pointer or length that does not fit guest memory, or bad UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    /// `ptr..ptr+len` is outside guest memory.
    #[error("pointer {ptr:#x}+{len} is outside guest memory ({size} bytes)")]
    OutOfBounds {
        /// Guest address.
        ptr: u32,
        /// Length of the access.
        len: u64,
        /// Size of guest memory.
        size: usize,
    },
    /// The bytes are not valid UTF-8 where the ABI requires text.
    #[error("string at {ptr:#x} is not valid UTF-8")]
    InvalidUtf8 {
        /// Guest address.
        ptr: u32,
    },
}

/// Checked access to one guest's linear memory, counting bytes read and written.
pub struct GuestMem<'a> {
    data: &'a mut [u8],
    /// Bytes read from guest memory so far.
    pub bytes_read: u64,
    /// Bytes written to guest memory so far.
    pub bytes_written: u64,
}

impl<'a> GuestMem<'a> {
    /// Wrap a linear memory.
    pub fn new(data: &'a mut [u8]) -> Self {
        GuestMem {
            data,
            bytes_read: 0,
            bytes_written: 0,
        }
    }

    /// Size of guest memory in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn range(&self, ptr: u32, len: u64) -> Result<std::ops::Range<usize>, MemError> {
        let start = ptr as u64;
        let end = start.checked_add(len);
        match end {
            Some(end) if end <= self.data.len() as u64 => Ok(start as usize..end as usize),
            _ => Err(MemError::OutOfBounds {
                ptr,
                len,
                size: self.data.len(),
            }),
        }
    }

    /// Borrow `len` bytes at `ptr`.
    pub fn slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], MemError> {
        let r = self.range(ptr, len as u64)?;
        self.bytes_read += len as u64;
        Ok(&self.data[r])
    }

    /// Copy `len` bytes at `ptr`.
    pub fn read_bytes(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, MemError> {
        self.slice(ptr, len).map(<[u8]>::to_vec)
    }

    /// Read UTF-8 text of `len` bytes at `ptr`.
    pub fn read_str(&mut self, ptr: u32, len: u32) -> Result<String, MemError> {
        let bytes = self.read_bytes(ptr, len)?;
        String::from_utf8(bytes).map_err(|_| MemError::InvalidUtf8 { ptr })
    }

    /// Read a little-endian `u32` at `ptr`.
    pub fn read_u32(&mut self, ptr: u32) -> Result<u32, MemError> {
        let b = self.slice(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Read a little-endian `u64` at `ptr`.
    pub fn read_u64(&mut self, ptr: u32) -> Result<u64, MemError> {
        let b = self.slice(ptr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Write `bytes` at `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), MemError> {
        let r = self.range(ptr, bytes.len() as u64)?;
        self.data[r].copy_from_slice(bytes);
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// Write a little-endian `u8` at `ptr`.
    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), MemError> {
        self.write(ptr, &[v])
    }

    /// Write a little-endian `u16` at `ptr`.
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<(), MemError> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Write a little-endian `u32` at `ptr`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), MemError> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Write a little-endian `u64` at `ptr`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), MemError> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Write a little-endian `i64` at `ptr`.
    pub fn write_i64(&mut self, ptr: u32, v: i64) -> Result<(), MemError> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// The ABI's `(buf, buf_len, nwritten_out)` rule: write `value` into the buffer if it
    /// fits and set `*nwritten_out` to its length (OK); otherwise set `*nwritten_out` to
    /// the length needed and return BUFLEN without touching the buffer.
    pub fn write_out_buf(
        &mut self,
        buf: u32,
        buf_len: u32,
        nwritten_out: u32,
        value: &[u8],
    ) -> Result<Status, MemError> {
        if value.len() > buf_len as usize {
            self.write_u32(nwritten_out, value.len() as u32)?;
            return Ok(Status::BUFLEN);
        }
        self.write(buf, value)?;
        self.write_u32(nwritten_out, value.len() as u32)?;
        Ok(Status::OK)
    }

    /// The ABI's multi-value cursor rule, for `header_names_get`, `header_values_get` and
    /// their kin: starting at item `cursor`, write as many whole items as fit, each
    /// followed by NUL; `*ending_cursor_out` is -1 when every item was written, else the
    /// index of the next item; if not one item fits, BUFLEN with `*nwritten_out` = that
    /// item's length + 1. No items left: OK with `nwritten` 0 and cursor -1.
    pub fn write_multi<T: AsRef<[u8]>>(
        &mut self,
        items: &[T],
        buf: u32,
        buf_len: u32,
        cursor: u32,
        ending_cursor_out: u32,
        nwritten_out: u32,
    ) -> Result<Status, MemError> {
        let start = cursor as usize;
        let mut out: Vec<u8> = Vec::new();
        let mut next = start;
        while next < items.len() {
            let item = items[next].as_ref();
            if out.len() + item.len() + 1 > buf_len as usize {
                break;
            }
            out.extend_from_slice(item);
            out.push(0);
            next += 1;
        }
        if next == start && start < items.len() {
            let need = items[start].as_ref().len() as u32 + 1;
            self.write_u32(nwritten_out, need)?;
            return Ok(Status::BUFLEN);
        }
        self.write(buf, &out)?;
        self.write_u32(nwritten_out, out.len() as u32)?;
        let ending: i64 = if next >= items.len() { -1 } else { next as i64 };
        self.write_i64(ending_cursor_out, ending)?;
        Ok(Status::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_is_an_error_not_a_panic() {
        let mut data = vec![0u8; 16];
        let mut m = GuestMem::new(&mut data);
        assert!(m.read_bytes(10, 10).is_err());
        assert!(m.read_bytes(u32::MAX, 2).is_err());
        assert!(m.write(15, &[1, 2]).is_err());
        assert!(m.read_u64(12).is_err());
        assert_eq!(m.read_bytes(12, 4).unwrap(), vec![0; 4]);
    }

    #[test]
    fn buffer_too_small_reports_needed_length() {
        let mut data = vec![0u8; 64];
        let mut m = GuestMem::new(&mut data);
        assert_eq!(m.write_out_buf(0, 3, 60, b"hello").unwrap(), Status::BUFLEN);
        assert_eq!(m.read_u32(60).unwrap(), 5);
        assert_eq!(m.write_out_buf(0, 5, 60, b"hello").unwrap(), Status::OK);
        assert_eq!(m.read_bytes(0, 5).unwrap(), b"hello");
    }

    #[test]
    fn cursor_writes_whole_items_and_continues() {
        let mut data = vec![0u8; 128];
        let mut m = GuestMem::new(&mut data);
        let items = ["aa", "bbb", "c"];
        // 7 bytes: "aa\0bbb\0" fits, "c\0" does not.
        assert_eq!(
            m.write_multi(&items, 0, 7, 0, 100, 120).unwrap(),
            Status::OK
        );
        assert_eq!(m.read_bytes(0, 7).unwrap(), b"aa\0bbb\0");
        assert_eq!(m.read_u64(100).unwrap() as i64, 2);
        assert_eq!(
            m.write_multi(&items, 0, 7, 2, 100, 120).unwrap(),
            Status::OK
        );
        assert_eq!(m.read_u64(100).unwrap() as i64, -1);
        assert_eq!(m.read_u32(120).unwrap(), 2);
        // Not one item fits.
        assert_eq!(
            m.write_multi(&items, 0, 2, 1, 100, 120).unwrap(),
            Status::BUFLEN
        );
        assert_eq!(m.read_u32(120).unwrap(), 4);
        // Past the end: nothing written, done.
        assert_eq!(
            m.write_multi(&items, 0, 8, 3, 100, 120).unwrap(),
            Status::OK
        );
        assert_eq!(m.read_u32(120).unwrap(), 0);
        assert_eq!(m.read_u64(100).unwrap() as i64, -1);
    }
}
