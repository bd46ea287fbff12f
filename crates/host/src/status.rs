//! Status codes a hostcall returns: `FastlyStatus` for the `fastly_*` modules and
//! WASI `errno` for `wasi_snapshot_preview1`.

/// A `FastlyStatus` code, as every `fastly_*` hostcall returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(pub i32);

impl Status {
    /// Success.
    pub const OK: Status = Status(0);
    /// Generic failure.
    pub const ERROR: Status = Status(1);
    /// Bad argument (also "not present" for `header_value_get` / `header_remove`).
    pub const INVAL: Status = Status(2);
    /// Invalid, unknown or already used handle.
    pub const BADF: Status = Status(3);
    /// Output buffer too small; `nwritten_out` holds the size needed.
    pub const BUFLEN: Status = Status(4);
    /// Not supported by this host.
    pub const UNSUPPORTED: Status = Status(5);
    /// Misaligned pointer.
    pub const BADALIGN: Status = Status(6);
    /// Invalid HTTP method, URI, header name or value.
    pub const HTTPINVALID: Status = Status(7);
    /// HTTP misuse by the guest.
    pub const HTTPUSER: Status = Status(8);
    /// A stream ended early.
    pub const HTTPINCOMPLETE: Status = Status(9);
    /// Optional value absent.
    pub const NONE: Status = Status(10);
    /// Message head too large.
    pub const HTTPHEADTOOLARGE: Status = Status(11);
    /// Invalid status code.
    pub const HTTPINVALIDSTATUS: Status = Status(12);
    /// Too many resources.
    pub const LIMITEXCEEDED: Status = Status(13);
    /// Not available yet.
    pub const AGAIN: Status = Status(14);

    /// The status name as the witx spells it (`ok`, `inval`, ...).
    pub fn name(self) -> &'static str {
        fastly_status_name(self.0)
    }
}

/// The witx name of a `FastlyStatus` code.
pub fn fastly_status_name(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "error",
        2 => "inval",
        3 => "badf",
        4 => "buflen",
        5 => "unsupported",
        6 => "badalign",
        7 => "httpinvalid",
        8 => "httpuser",
        9 => "httpincomplete",
        10 => "none",
        11 => "httpheadtoolarge",
        12 => "httpinvalidstatus",
        13 => "limitexceeded",
        14 => "again",
        _ => "unknown",
    }
}

/// WASI preview1 `errno` values the host uses.
pub mod errno {
    /// No error.
    pub const SUCCESS: i32 = 0;
    /// Permission denied.
    pub const ACCES: i32 = 2;
    /// Bad file descriptor.
    pub const BADF: i32 = 8;
    /// Bad address (a pointer outside guest memory).
    pub const FAULT: i32 = 21;
    /// Invalid argument.
    pub const INVAL: i32 = 28;
    /// I/O error.
    pub const IO: i32 = 29;
    /// No such file or directory.
    pub const NOENT: i32 = 44;
    /// Function not supported.
    pub const NOSYS: i32 = 52;
    /// Not a directory.
    pub const NOTDIR: i32 = 54;
    /// Not a socket.
    pub const NOTSOCK: i32 = 57;
    /// Not supported.
    pub const NOTSUP: i32 = 58;
    /// Invalid seek.
    pub const SPIPE: i32 = 70;
    /// Capabilities insufficient.
    pub const NOTCAPABLE: i32 = 76;
}

/// The WASI name of an errno value.
pub fn errno_name(code: i32) -> &'static str {
    match code {
        0 => "success",
        2 => "acces",
        8 => "badf",
        21 => "fault",
        28 => "inval",
        29 => "io",
        44 => "noent",
        52 => "nosys",
        54 => "notdir",
        57 => "notsock",
        58 => "notsup",
        70 => "spipe",
        76 => "notcapable",
        _ => "errno",
    }
}
