//! A D-Bus peer for the tests of the bus's bounds: a unix socket that answers as much as a
//! wedged bus daemon or manager would, so that timeouts and interrupts are tested against a
//! real connection (zbus's handshake, calls and signals) without systemd.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use zbus::Message;
use zbus::wire::Endian;
use zbus::wire::serialized::{Context, Data};

/// How the peer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Accepts the connection and reads, never writes: a wedged bus daemon.
    Silent,
    /// Authenticates and answers the bus daemon's own calls (Hello, AddMatch), none of
    /// systemd's: a live bus in front of a wedged manager.
    NoManager,
    /// Answers systemd's calls too: Version, ControlGroup; StartTransientUnit and StopUnit
    /// with a job whose JobRemoved never comes.
    JobNeverEnds,
    /// As `JobNeverEnds`, but refuses StartTransientUnit with `UnitExists`.
    Taken,
}

/// A listening fake bus; its address is for `zbus::connection::Builder::address`. It
/// serves one connection, until the client closes it.
pub(crate) struct FakeBus {
    _dir: tempfile::TempDir,
    pub(crate) address: String,
}

impl FakeBus {
    pub(crate) fn start(peer: Peer) -> FakeBus {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bus");
        let listener = UnixListener::bind(&path).expect("bind the fake bus");
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                let _ = serve(stream, peer);
            }
        });
        FakeBus { address: format!("unix:path={}", path.display()), _dir: dir }
    }
}

fn serve(stream: UnixStream, peer: Peer) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    if peer == Peer::Silent {
        let mut buf = [0u8; 4096];
        while reader.read(&mut buf)? > 0 {}
        return Ok(());
    }
    // SASL (the D-Bus specification, "Authentication protocol"): a NUL byte, then lines;
    // zbus sends AUTH, NEGOTIATE_UNIX_FD and BEGIN at once, then its Hello call.
    let mut nul = [0u8; 1];
    reader.read_exact(&mut nul)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        match line.trim_end() {
            l if l.starts_with("AUTH") => writer.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n")?,
            "NEGOTIATE_UNIX_FD" => writer.write_all(b"AGREE_UNIX_FD\r\n")?,
            "BEGIN" => break,
            _ => writer.write_all(b"ERROR\r\n")?,
        }
    }
    loop {
        // The fixed part of a message header: endianness, type, flags, version, body length,
        // serial, then the length of the header fields' array.
        let mut fixed = [0u8; 16];
        if reader.read_exact(&mut fixed).is_err() {
            return Ok(());
        }
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().unwrap()) as usize;
        let fields_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap()) as usize;
        let total = (16 + fields_len).next_multiple_of(8) + body_len;
        let mut bytes = fixed.to_vec();
        bytes.resize(total, 0);
        reader.read_exact(&mut bytes[16..])?;
        // SAFETY: a test's own peer; a malformed message only fails the parse.
        let msg = unsafe { Message::from_bytes(Data::new(bytes, Context::new(Endian::Little, 0))) }
            .expect("a message from zbus");
        let header = msg.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let reply = match (member.as_str(), peer) {
            ("Hello", _) => Some(Message::method_return(&header).build(&(":1.42",))),
            ("AddMatch" | "RemoveMatch", _) => Some(Message::method_return(&header).build(&())),
            (_, Peer::NoManager) => None,
            ("Get", _) => {
                let (_, name): (String, String) = msg.body().deserialize().expect("Get's body");
                let value = if name == "Version" { "252.39-1~deb12u2" } else { "/" };
                Some(Message::method_return(&header).build(&(zbus::Variant::from(value),)))
            }
            ("StartTransientUnit", Peer::Taken) => Some(
                Message::error(&header, "org.freedesktop.systemd1.UnitExists")
                    .build(&("Unit x.scope was already loaded or has a fragment file.",)),
            ),
            ("StartTransientUnit" | "StopUnit", _) => Some(
                Message::method_return(&header)
                    .build(&(zbus::ObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap(),)),
            ),
            _ => None,
        };
        if let Some(reply) = reply {
            writer.write_all(reply.expect("a reply").data().bytes())?;
        }
    }
}
