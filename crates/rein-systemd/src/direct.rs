//! The system manager's own socket, [`PRIVATE_SOCKET`]: what `systemctl` and `systemd-run`
//! use as root instead of the system bus. Every call is one hop (no bus daemon between), and
//! there is no Hello and no AddMatch: systemd sends its signals (JobRemoved among them) to
//! each direct client.
//!
//! Two things differ from a bus, and this module bridges them for zbus:
//! - the handshake: `AUTH EXTERNAL` with our uid, then `BEGIN`, done here before zbus gets the
//!   socket (as an authenticated peer-to-peer connection), without Unix fd passing, which
//!   rein's calls do not use;
//! - the sender: systemd names itself `org.freedesktop.systemd1` in the sender field of what
//!   it sends on this socket (`sd_bus_set_sender`), a well-known name where the D-Bus
//!   specification has a unique one, and zbus refuses such a message. [`Rename`] rewrites that
//!   one header field, in place, into [`SENDER`], a unique name of the same length.

use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use zbus::connection::socket::{ReadHalf, Split, WriteHalf};
use zbus::connection::{Builder, Connection};
use zruntime::{AsyncIo, Shared, SharedRuntime};

/// The system manager's private D-Bus socket (root only).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";

/// What systemd puts in the sender field on [`PRIVATE_SOCKET`].
const SYSTEMD_SENDER: &[u8; 24] = b"org.freedesktop.systemd1";

/// The unique name it becomes for zbus: the same length, so no offset in the message moves.
pub(crate) const SENDER: &str = ":systemd1.private.socket";

const _: () = assert!(SENDER.len() == SYSTEMD_SENDER.len());

/// The longest answer to AUTH rein reads (`OK <32 hex digits>\r\n` is 37 bytes).
const MAX_LINE: usize = 256;

/// Connects to [`PRIVATE_SOCKET`] as the calling (root) user, the handshake bounded by
/// `limit`; then builds the zbus connection over it (inside `zbus::block_on`).
pub(crate) async fn connect(limit: Duration) -> zbus::Result<Connection> {
    let mut stream = UnixStream::connect(PRIVATE_SOCKET)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    let uid = rustix::process::geteuid().as_raw().to_string();
    let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
    stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
    let line = read_line(&mut stream)?;
    let guid = line
        .strip_prefix("OK ")
        .ok_or_else(|| zbus::Error::Handshake(format!("systemd refused the authentication: {line}")))?
        .to_string();
    stream.write_all(b"BEGIN\r\n")?;
    stream.set_nonblocking(true)?;
    let runtime = SharedRuntime::current()?;
    let io = Arc::new(AsyncIo::<UnixStream, Shared>::new_nonblocking(&runtime, stream)?);
    let split = Split::new(
        Box::new(Rename { io: io.clone(), raw: Vec::new(), ready: Vec::new() }) as Box<dyn ReadHalf>,
        Box::new(Writer { io }) as Box<dyn WriteHalf>,
    );
    Builder::authenticated_socket(split, guid.as_str()).p2p().build().await
}

/// The server's answer to AUTH, without its `\r\n`. Until rein sends BEGIN, systemd sends
/// nothing but this line, so whatever a read returns belongs to it.
fn read_line(stream: &mut UnixStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut buf = [0u8; MAX_LINE];
    while !line.ends_with(b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || line.len() + n > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "systemd ended the handshake"));
        }
        line.extend_from_slice(&buf[..n]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a handshake line not in UTF-8"))
}

/// The read half: whole messages from the socket, each with systemd's sender renamed
/// ([`rename_sender`]), handed to zbus as it asks for bytes.
#[derive(Debug)]
struct Rename {
    io: Arc<AsyncIo<UnixStream, Shared>>,
    /// Bytes of a message not yet whole.
    raw: Vec<u8>,
    /// Bytes of whole, renamed messages not yet handed out.
    ready: Vec<u8>,
}

/// The length of the message at the start of `bytes`, once its fixed header is in.
fn message_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..16)?;
    let word = |at: usize| {
        let w: [u8; 4] = header[at..at + 4].try_into().expect("4 bytes");
        if header[0] == b'B' { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) }
    };
    let (body, fields) = (word(4) as usize, word(12) as usize);
    Some((16 + fields).next_multiple_of(8) + body)
}

/// Renames systemd's sender field in the header of the whole message `msg`, in place. The
/// field (code 7, signature `s`) is looked for in the header fields only, where its bytes
/// cannot be anything else.
pub(crate) fn rename_sender(msg: &mut [u8]) {
    let Some(len) = message_len(msg) else { return };
    if len > msg.len() {
        return;
    }
    let big = msg[0] == b'B';
    let fields_end = 16
        + (if big { u32::from_be_bytes } else { u32::from_le_bytes })(msg[12..16].try_into().expect("4 bytes"))
            as usize;
    let mut field = Vec::with_capacity(32);
    field.extend_from_slice(&[7, 1, b's', 0]);
    field.extend_from_slice(&if big { 24u32.to_be_bytes() } else { 24u32.to_le_bytes() });
    field.extend_from_slice(SYSTEMD_SENDER);
    field.push(0);
    let region = &mut msg[16..fields_end.min(len)];
    // Header fields start 8-aligned from the message's start (offset 16).
    let mut at = 0;
    while at + field.len() <= region.len() {
        if region[at..at + field.len()] == field[..] {
            region[at + 8..at + 8 + SENDER.len()].copy_from_slice(SENDER.as_bytes());
            return;
        }
        at += 8;
    }
}

#[async_trait::async_trait]
impl ReadHalf for Rename {
    async fn recvmsg(&mut self, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
        while self.ready.is_empty() {
            let mut chunk = [0u8; 4096];
            let n = self.io.read_with(|s| (&*s).read(&mut chunk)).await?;
            if n == 0 {
                // The end: hand out what is left as it is, for zbus to see the end.
                self.ready = std::mem::take(&mut self.raw);
                if self.ready.is_empty() {
                    return Ok((0, vec![]));
                }
                break;
            }
            self.raw.extend_from_slice(&chunk[..n]);
            while let Some(len) = message_len(&self.raw).filter(|len| *len <= self.raw.len()) {
                let mut msg: Vec<u8> = self.raw.drain(..len).collect();
                rename_sender(&mut msg);
                self.ready.extend_from_slice(&msg);
            }
        }
        let n = buf.len().min(self.ready.len());
        buf[..n].copy_from_slice(&self.ready[..n]);
        self.ready.drain(..n);
        Ok((n, vec![]))
    }
}

/// The write half: plain writes (rein sends no descriptors).
#[derive(Debug)]
struct Writer {
    io: Arc<AsyncIo<UnixStream, Shared>>,
}

#[async_trait::async_trait]
impl WriteHalf for Writer {
    async fn sendmsg(&mut self, buffer: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
        if !fds.is_empty() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "no descriptors on systemd's private socket"));
        }
        self.io.write_with(|s| (&*s).write(buffer)).await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.io.get_ref().shutdown(std::net::Shutdown::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as systemd 252 sends it on its private socket (captured with strace in the
    /// systemd VM, the Get of Version): the sender field names org.freedesktop.systemd1.
    fn reply(endian: u8) -> Vec<u8> {
        let word = |v: u32| if endian == b'B' { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut fields = Vec::new();
        // REPLY_SERIAL (5), u32 2.
        fields.extend_from_slice(&[5, 1, b'u', 0]);
        fields.extend_from_slice(&word(2));
        // SENDER (7), s.
        fields.extend_from_slice(&[7, 1, b's', 0]);
        fields.extend_from_slice(&word(24));
        fields.extend_from_slice(SYSTEMD_SENDER);
        fields.push(0);
        while fields.len() % 8 != 0 {
            fields.push(0);
        }
        // SIGNATURE (8), g "s".
        fields.extend_from_slice(&[8, 1, b'g', 0, 1, b's', 0]);
        let fields_len = fields.len();
        while fields.len() % 8 != 0 {
            fields.push(0);
        }
        let body = [word(3).as_slice(), b"252\0"].concat();
        let mut m = vec![endian, 2, 1, 1];
        m.extend_from_slice(&word(body.len() as u32));
        m.extend_from_slice(&word(7));
        m.extend_from_slice(&word(fields_len as u32));
        m.extend_from_slice(&fields);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn systemds_sender_becomes_a_unique_name_of_the_same_length() {
        for endian in [b'l', b'B'] {
            let mut m = reply(endian);
            assert_eq!(message_len(&m), Some(m.len()));
            let before = m.clone();
            rename_sender(&mut m);
            assert_eq!(m.len(), before.len());
            let at = before.windows(24).position(|w| w == SYSTEMD_SENDER).expect("sender in the header");
            assert_eq!(&m[at..at + 24], SENDER.as_bytes());
            // Nothing else moved.
            assert_eq!(m[..at], before[..at]);
            assert_eq!(m[at + 24..], before[at + 24..]);
        }
    }

    #[test]
    fn a_body_string_like_the_sender_is_left_alone() {
        let mut m = reply(b'l');
        // The same bytes in the body, where a string could hold them: not a header field.
        let tail = [[7u8, 1, b's', 0].as_slice(), &24u32.to_le_bytes(), SYSTEMD_SENDER, &[0]].concat();
        let body_len = u32::from_le_bytes(m[4..8].try_into().unwrap()) as usize + tail.len();
        m[4..8].copy_from_slice(&(body_len as u32).to_le_bytes());
        m.extend_from_slice(&tail);
        rename_sender(&mut m);
        assert!(m.ends_with(&tail), "the body changed");
        assert!(!m[..m.len() - tail.len()].windows(24).any(|w| w == SYSTEMD_SENDER), "the header kept the name");
    }
}
