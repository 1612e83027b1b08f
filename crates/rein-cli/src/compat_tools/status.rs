//! The statuses and words the tools fail with: libcgroup's usage error (129 and "Wrong
//! input parameters"), its errors reported in its own words ([`Verbatim`]), its ECG*
//! error numbers (include/libcgroup/error.h, from 50000) modulo 256, which is what its
//! tools exit with, and strerror's words for an errno.

/// libcgroup's exit status for a usage error (src/tools/tools-common.h).
pub(super) const EXIT_BADARGS: u8 = 129;

/// A usage error (exit [`EXIT_BADARGS`]).
#[derive(Debug)]
pub(super) struct Usage(pub(super) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub(super) fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// An error libcgroup's tools report in these words with this status (scripts and
/// libcgroup's tests match them): printed as "TOOL: MESSAGE".
#[derive(Debug)]
pub(super) struct Verbatim(pub(super) String, pub(super) u8);

impl std::fmt::Display for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Verbatim {}

/// Words libcgroup's tools print on standard output, as they are, before exiting with
/// this status (a bad mode: "cgcreate wrong mode format 999").
#[derive(Debug)]
pub(super) struct Printed(pub(super) String, pub(super) u8);

impl std::fmt::Display for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Printed {}

/// The status libcgroup's tools exit with for a group or controller that does not exist
/// (its ECG* error number modulo 256, as measured with cgdelete of a missing group and
/// cgget of an unknown controller).
pub(super) const EXIT_NO_GROUP: u8 = ECGOTHER;

// libcgroup's statuses for a process that cannot join a group, and for the other errors
// its tools return one of its numbers for.

/// A group that does not exist.
pub(super) const ECGROUPNOTEXIST: u8 = 82;
/// A cgroup2 controller the group does not have.
pub(super) const ECGROUPNOTMOUNTED: u8 = 81;
/// A group's cgroup.procs that refuses the caller (EPERM).
pub(super) const ECGROUPNOTOWNER: u8 = 85;
/// A controller the host does not offer, or that is not a controller.
pub(super) const ECGROUPNOTALLOWED: u8 = 87;
/// An error of the system underneath (libcgroup's ECGOTHER: errno's words).
pub(super) const ECGOTHER: u8 = 96;
/// cgcreate's status for a controller it cannot add (ECGINVAL).
pub(super) const ECGINVAL: u8 = 91;
/// cgdelete's status for a controller it cannot add (ECGFAIL).
pub(super) const ECGFAIL: u8 = 93;
/// cgexec's status when the command cannot be run (its `return -1`).
pub(super) const EXIT_EXEC_FAILED: u8 = 255;

/// An I/O error in strerror's words ("No such file or directory").
pub(super) fn io_words(e: &std::io::Error) -> String {
    rein::errno::bare(e)
}

/// An errno in strerror's words.
pub(super) fn errno_words(errno: i32) -> String {
    io_words(&std::io::Error::from_raw_os_error(errno))
}
