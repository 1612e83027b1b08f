//! `rein-testload`: small, predictable workloads for the real-kernel tests, so the same
//! tests run on the host and in a busybox VM without python.
//!
//! ```text
//! rein-testload alloc MB [HOLD_SECS]   allocate and touch MB MiB, then hold them
//! rein-testload grow MB STEP_MB STEP_MS  allocate STEP_MB MiB every STEP_MS ms up to MB, then hold 1 s
//! rein-testload spin SECS              burn one CPU for SECS of wall time
//! rein-testload spin-threads N SECS    burn N CPUs (N threads) for SECS of wall time
//! rein-testload thrash MB MARKER       allocate, touch and free MB MiB over and over (memory
//!                                      pressure under a lower memory.high); on SIGUSR1 free
//!                                      everything, create the file MARKER and sleep
//! rein-testload fork N [HOLD_SECS]     fork N children that sleep; print how many forks worked
//! rein-testload write PATH MB          O_DIRECT write of MB MiB; print seconds taken
//! rein-testload affinity               print the CPUs this process may run on (0-1)
//! rein-testload sleep SECS             sleep
//! rein-testload tick SECS              print a line every 10 ms for SECS (to see freezes)
//! rein-testload raise SIGNUM           die of signal SIGNUM, with its default action and no core
//! rein-testload dev DIR c|b MAJ MIN ACC  try one device access, print allowed or denied
//! rein-testload netns [MTU]            a new network namespace (lo up, MTU 1500 unless
//!                                      given): print `ready PID`, hold it until stdin closes
//! rein-testload recv tcp|udp NS PORT   receive on 127.0.0.1:PORT in netns NS (a path, or -):
//!                                      print `ready`, then `BYTES SECONDS` (first to last byte)
//! rein-testload send tcp|udp NS PORT SECS  send to 127.0.0.1:PORT for SECS: print BYTES
//! rein-testload sendall NS PORT BYTES  write BYTES into a TCP connection to 127.0.0.1:PORT
//!                                      (stop early when a write makes no progress for 1 s),
//!                                      close it and exit at once: print the bytes written
//! rein-testload recv-stalled NS PORT   accept one TCP connection on 127.0.0.1:PORT with a
//!                                      4 KiB receive buffer: print `ready`, never read, hold
//!                                      it until stdin closes
//! ```
//!
//! `dev` asks the device controller one question the way a program meets it: access `m`
//! makes a node `c|b MAJ:MIN` in DIR (mknod), `r`, `w` or `rw` opens the node
//! `DIR/c-MAJ-MIN` (made beforehand, outside the group) for that access. EPERM is the
//! controller's no: `denied`; anything else (success, or ENXIO from a number no driver
//! has) got past it: `allowed`. Other errors (no such node, a nodev mount) exit 2.
//!
//! `raise` exists because shells differ: busybox ash ignores SIGQUIT, so `sh -c 'kill -QUIT
//! $$'` does not die of it there, and a signal ignored on entry cannot be reset by a shell.

use std::time::{Duration, Instant};

mod net;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!("rein-testload: expected {what} as argument {i}");
        std::process::exit(2)
    })
}

// The workloads fork, exit and wait, raise signals and read their CPU affinity through libc
// (each block with its SAFETY comment): test programs, not library code.
#[allow(unsafe_code)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("alloc") => {
            let mb: usize = arg(&args, 2, "MiB");
            let hold: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0.0);
            // 1 MiB blocks filled by memset: fast even in a debug build under TCG.
            let mut v: Vec<Vec<u8>> = Vec::with_capacity(mb);
            for _ in 0..mb {
                v.push(vec![1u8; 1 << 20]);
            }
            std::hint::black_box(&v);
            println!("allocated {mb} MiB");
            std::thread::sleep(Duration::from_secs_f64(hold));
        }
        Some("grow") => {
            let mb: usize = arg(&args, 2, "MiB");
            let step: usize = arg(&args, 3, "step MiB");
            let pause: u64 = arg(&args, 4, "step milliseconds");
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            let mut have = 0;
            while have < mb {
                let n = step.min(mb - have).max(1);
                blocks.push(vec![1u8; n << 20]);
                have += n;
                std::thread::sleep(Duration::from_millis(pause));
            }
            std::hint::black_box(&blocks);
            println!("grew to {mb} MiB");
            std::thread::sleep(Duration::from_secs(1));
        }
        Some("spin") => {
            let secs: f64 = arg(&args, 2, "seconds");
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let mut x = 0u64;
            while Instant::now() < end {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
        Some("spin-threads") => {
            let n: usize = arg(&args, 2, "threads");
            let secs: f64 = arg(&args, 3, "seconds");
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let threads: Vec<_> = (0..n)
                .map(|_| {
                    std::thread::spawn(move || {
                        let mut x = 0u64;
                        while Instant::now() < end {
                            for _ in 0..10_000 {
                                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                let _ = t.join();
            }
        }
        Some("thrash") => {
            use std::sync::atomic::{AtomicBool, Ordering};
            static RELEASE: AtomicBool = AtomicBool::new(false);
            extern "C" fn on_usr1(_: libc::c_int) {
                RELEASE.store(true, Ordering::SeqCst);
            }
            let mb: usize = arg(&args, 2, "MiB");
            let marker: String = arg(&args, 3, "marker path");
            // SAFETY: the handler only stores to an atomic.
            unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
            println!("thrashing {mb} MiB");
            while !RELEASE.load(Ordering::SeqCst) {
                // Fresh pages each round: the kernel must find room for them under
                // memory.high again and again.
                let mut v: Vec<Vec<u8>> = Vec::with_capacity(mb);
                for _ in 0..mb {
                    if RELEASE.load(Ordering::SeqCst) {
                        break;
                    }
                    v.push(vec![1u8; 1 << 20]);
                }
                std::hint::black_box(&v);
            }
            std::fs::write(&marker, "released\n").expect("write the marker");
            println!("released");
            std::thread::sleep(Duration::from_secs(3600));
        }
        Some("fork") => {
            let n: usize = arg(&args, 2, "count");
            let hold: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
            let mut ok = 0;
            let mut kids = Vec::new();
            for _ in 0..n {
                // SAFETY: the child only sleeps and exits.
                match unsafe { libc::fork() } {
                    0 => {
                        std::thread::sleep(Duration::from_secs_f64(hold));
                        // SAFETY: plain exit in the child.
                        unsafe { libc::_exit(0) }
                    }
                    pid if pid > 0 => {
                        ok += 1;
                        kids.push(pid);
                    }
                    _ => {
                        let e = std::io::Error::last_os_error();
                        eprintln!("fork failed: {e}");
                    }
                }
            }
            println!("forked {ok}");
            for pid in kids {
                // SAFETY: waiting for our own children.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            }
        }
        Some("write") => {
            let path = args.get(2).cloned().unwrap_or_default();
            let mb: usize = arg(&args, 3, "MiB");
            let c = std::ffi::CString::new(path.clone()).expect("path");
            // SAFETY: open/write/close on a buffer we own, aligned for O_DIRECT.
            unsafe {
                let fd = libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_DIRECT | libc::O_CLOEXEC);
                if fd < 0 {
                    eprintln!("open {path}: {}", std::io::Error::last_os_error());
                    std::process::exit(1);
                }
                let layout = std::alloc::Layout::from_size_align(1 << 20, 4096).expect("layout");
                let buf = std::alloc::alloc_zeroed(layout);
                let start = Instant::now();
                for _ in 0..mb {
                    if libc::write(fd, buf.cast(), 1 << 20) != 1 << 20 {
                        eprintln!("write {path}: {}", std::io::Error::last_os_error());
                        std::process::exit(1);
                    }
                }
                libc::fsync(fd);
                println!("{:.3}", start.elapsed().as_secs_f64());
                libc::close(fd);
            }
        }
        Some("affinity") => {
            // SAFETY: cpu_set_t is plain data filled by the kernel.
            let cpus: Vec<usize> = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
                (0..libc::CPU_SETSIZE as usize).filter(|c| libc::CPU_ISSET(*c, &set)).collect()
            };
            println!("{}", cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","));
        }
        Some("sleep") => std::thread::sleep(Duration::from_secs_f64(arg(&args, 2, "seconds"))),
        Some("raise") => {
            let sig: i32 = arg(&args, 2, "a signal number");
            // SAFETY: process-wide settings of a process about to die; plain system calls.
            unsafe {
                let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
            }
            eprintln!("rein-testload: signal {sig} did not end this process");
            std::process::exit(3)
        }
        Some("tick") => {
            let end = Instant::now() + Duration::from_secs_f64(arg(&args, 2, "seconds"));
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                println!("{n}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Some("netns") => net::hold_netns(if args.len() > 2 { arg(&args, 2, "an MTU") } else { 1500 }),
        Some("recv") => net::recv(
            &arg::<String>(&args, 2, "tcp or udp"),
            &arg::<String>(&args, 3, "a netns path or -"),
            arg(&args, 4, "a port"),
        ),
        Some("send") => net::send(
            &arg::<String>(&args, 2, "tcp or udp"),
            &arg::<String>(&args, 3, "a netns path or -"),
            arg(&args, 4, "a port"),
            arg(&args, 5, "seconds"),
        ),
        Some("sendall") => {
            net::sendall(&arg::<String>(&args, 2, "a netns path or -"), arg(&args, 3, "a port"), arg(&args, 4, "bytes"))
        }
        Some("recv-stalled") => {
            net::recv_stalled(&arg::<String>(&args, 2, "a netns path or -"), arg(&args, 3, "a port"))
        }
        Some("dev") => {
            let dir: String = arg(&args, 2, "a directory");
            let kind: String = arg(&args, 3, "c or b");
            let major: u32 = arg(&args, 4, "a major number");
            let minor: u32 = arg(&args, 5, "a minor number");
            let access: String = arg(&args, 6, "m, r, w or rw");
            let errno = if access == "m" {
                let path = format!("{dir}/m-{}\0", std::process::id());
                let mode = if kind == "b" { libc::S_IFBLK } else { libc::S_IFCHR } | 0o600;
                // SAFETY: a NUL-terminated path and plain integers.
                let r = unsafe { libc::mknod(path.as_ptr().cast(), mode, libc::makedev(major, minor)) };
                if r == 0 {
                    // SAFETY: the same NUL-terminated path.
                    unsafe { libc::unlink(path.as_ptr().cast()) };
                    0
                } else {
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                }
            } else {
                let flags = match access.as_str() {
                    "r" => libc::O_RDONLY,
                    "w" => libc::O_WRONLY,
                    "rw" => libc::O_RDWR,
                    _ => {
                        eprintln!("rein-testload dev: access is m, r, w or rw");
                        std::process::exit(2)
                    }
                };
                let node = format!("{dir}/{kind}-{major}-{minor}");
                if std::fs::symlink_metadata(&node).is_err() {
                    eprintln!("rein-testload dev: no node {node}");
                    std::process::exit(2)
                }
                let path = format!("{node}\0");
                // SAFETY: a NUL-terminated path; the fd is closed right away.
                let fd = unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_NONBLOCK | libc::O_NOCTTY) };
                if fd >= 0 {
                    // SAFETY: the fd open returned.
                    unsafe { libc::close(fd) };
                    0
                } else {
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                }
            };
            // Past the controller, an open may still fail in the driver: no device behind
            // the number (ENXIO, ENODEV), a pts not there (EIO), a device in use (EBUSY), a
            // ptmx with no pts directory beside it (ENOENT; the node was there).
            let past = [0, libc::ENXIO, libc::ENODEV, libc::EIO, libc::EBUSY, libc::ENOMEDIUM, libc::ENOENT];
            if errno == libc::EPERM {
                println!("denied");
            } else if errno == 0 || (access != "m" && past.contains(&errno)) {
                println!("allowed");
            } else {
                eprintln!(
                    "rein-testload dev: {access} of {kind} {major}:{minor}: {}",
                    std::io::Error::from_raw_os_error(errno)
                );
                std::process::exit(2)
            }
        }
        _ => {
            eprintln!(
                "usage: rein-testload alloc|grow|spin|fork|write|affinity|sleep|tick|raise|dev|netns|recv|send ..."
            );
            std::process::exit(2);
        }
    }
}
