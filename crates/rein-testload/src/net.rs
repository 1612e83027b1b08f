//! Network workloads for the network-control tests: a network namespace of the test's
//! own (so traffic never leaves the machine, and its loopback has an Ethernet MTU), and
//! a TCP or UDP sender and receiver over it that measure what they moved.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn die(what: &str, e: std::io::Error) -> ! {
    eprintln!("rein-testload: {what}: {e}");
    std::process::exit(1)
}

/// Joins the network namespace at `path` ("-": stay).
#[allow(unsafe_code)]
fn join(path: &str) {
    if path == "-" {
        return;
    }
    let f = std::fs::File::open(path).unwrap_or_else(|e| die(path, e));
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an fd we own, for a network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        die("setns", std::io::Error::last_os_error());
    }
}

/// `struct ifreq` with the name and a 4-byte union member (flags or MTU).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    value: i32,
    _pad: [u8; 20],
}

#[allow(unsafe_code)]
fn lo_up_with_mtu(mtu: i32) -> std::io::Result<()> {
    // SAFETY: a plain datagram socket for interface ioctls, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut req = IfReq { name: [0; 16], value: 0, _pad: [0; 20] };
    req.name[..2].copy_from_slice(b"lo");
    let run = |op: libc::c_ulong, req: &mut IfReq| {
        // SAFETY: the request is a valid, live struct ifreq for these ioctls.
        if unsafe { libc::ioctl(fd, op as _, req as *mut IfReq) } != 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    req.value = mtu;
    let r = run(libc::SIOCSIFMTU, &mut req).and_then(|()| {
        req.value = 0;
        run(libc::SIOCGIFFLAGS, &mut req)?;
        req.value |= libc::IFF_UP;
        run(libc::SIOCSIFFLAGS, &mut req)
    });
    // SAFETY: the socket opened above.
    unsafe { libc::close(fd) };
    r
}

/// `netns`: a new network namespace with lo up at `mtu` (1500 unless told: an Ethernet
/// path; 65536 is loopback's own); holds it until stdin closes.
#[allow(unsafe_code)]
pub fn hold_netns(mtu: i32) {
    // SAFETY: unshare of this process's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        die("unshare(CLONE_NEWNET)", std::io::Error::last_os_error());
    }
    lo_up_with_mtu(mtu).unwrap_or_else(|e| die("bring lo up", e));
    println!("ready {}", std::process::id());
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// `recv`: one TCP connection read to its end, or UDP datagrams until 1 s of silence.
pub fn recv(proto: &str, ns: &str, port: u16) {
    join(ns);
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    match proto {
        "tcp" => {
            let l = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| die("bind", e));
            println!("ready");
            let _ = std::io::stdout().flush();
            let (mut c, _) = l.accept().unwrap_or_else(|e| die("accept", e));
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        first.get_or_insert_with(Instant::now);
                        last = Instant::now();
                        bytes += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => die("read", e),
                }
            }
        }
        "udp" => {
            let s = UdpSocket::bind(("127.0.0.1", port)).unwrap_or_else(|e| die("bind", e));
            println!("ready");
            let _ = std::io::stdout().flush();
            s.set_read_timeout(Some(Duration::from_secs(60))).ok();
            loop {
                match s.recv(&mut buf) {
                    Ok(n) => {
                        first.get_or_insert_with(Instant::now);
                        last = Instant::now();
                        bytes += n as u64;
                        s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        _ => die("recv", std::io::Error::other("tcp or udp")),
    }
    let secs = first.map(|f| last.duration_since(f).as_secs_f64()).unwrap_or(0.0);
    println!("{bytes} {secs:.3}");
}

/// `send`: as fast as the socket takes it for `secs`; then (TCP) waits until the
/// receiver has read everything and closed.
pub fn send(proto: &str, ns: &str, port: u16, secs: f64) {
    join(ns);
    let buf = vec![0x5au8; 1 << 16];
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut bytes = 0u64;
    match proto {
        "tcp" => {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| die("connect", e));
            c.set_write_timeout(Some(Duration::from_millis(100))).ok();
            while Instant::now() < end {
                match c.write(&buf) {
                    Ok(n) => bytes += n as u64,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => die("write", e),
                }
            }
            c.set_write_timeout(None).ok();
            let _ = c.shutdown(std::net::Shutdown::Write);
            let mut sink = [0u8; 64];
            let _ = c.read(&mut sink);
        }
        "udp" => {
            let s = UdpSocket::bind(("127.0.0.1", 0)).unwrap_or_else(|e| die("bind", e));
            s.connect(("127.0.0.1", port)).unwrap_or_else(|e| die("connect", e));
            while Instant::now() < end {
                // Datagrams of 1400 bytes; the ones over the limit are dropped (ENOBUFS
                // or silently): what arrives is the measure.
                if let Ok(n) = s.send(&buf[..1400]) {
                    bytes += n as u64;
                }
            }
        }
        _ => die("send", std::io::Error::other("tcp or udp")),
    }
    println!("{bytes}");
}

/// `sendall`: writes `bytes` into a TCP connection, or as much as goes in before a write
/// makes no progress for 1 s (a peer that does not read), then closes it and returns at
/// once, leaving the kernel to send what is queued (the socket becomes an orphan).
pub fn sendall(ns: &str, port: u16, bytes: u64) {
    join(ns);
    let buf = vec![0x5au8; 1 << 16];
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| die("connect", e));
    c.set_write_timeout(Some(Duration::from_secs(1))).ok();
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(buf.len() as u64) as usize;
        match c.write(&buf[..n]) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(e) => die("write", e),
        }
    }
    drop(c);
    println!("{sent}");
}

/// `recv-stalled`: a peer that accepts and never reads, with a small receive buffer, so
/// that a sender's queue stays full; held until stdin closes.
#[allow(unsafe_code)]
pub fn recv_stalled(ns: &str, port: u16) {
    join(ns);
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| die("bind", e));
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on the listener we own, with a c_int option value; accepted
    // connections inherit the size.
    let r = unsafe {
        libc::setsockopt(
            l.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        die("setsockopt(SO_RCVBUF)", std::io::Error::last_os_error());
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let (c, _) = l.accept().unwrap_or_else(|e| die("accept", e));
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(c);
}
