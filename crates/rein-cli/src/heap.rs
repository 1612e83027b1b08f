//! The allocator of musl builds: dlmalloc (the allocator glibc's descends from, in Rust;
//! the one std uses on wasm) behind std's mutex.
//!
//! Why not musl's own: measured on a `rein exec`, it made ~60 mmap/munmap pairs and gave
//! back what the musl start-up saved; with dlmalloc the musl build starts ~0.3 ms sooner
//! than the glibc one (docs/BENCHMARKS.md). Why not dlmalloc's own global allocator: it
//! takes a pthread mutex around every call, and musl's `pthread_mutex_unlock` alone was
//! ~10% of the instructions of a `rein run` (callgrind). std's mutex is a futex word: an
//! uncontended lock and unlock are one atomic instruction each, and no system call.
//!
//! Forks: a child rein forks only makes async-signal-safe calls before execve (see
//! rein::launch), so a lock held by another thread at the fork is never needed there.
//! glibc builds keep glibc's allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The heap: dlmalloc over anonymous mappings.
struct Heap(dlmalloc::Dlmalloc);

// SAFETY: the heap holds pointers only into the mappings it made itself, which belong to
// no thread; the mutex lets one thread at a time use it.
unsafe impl Send for Heap {}

static HEAP: Mutex<Heap> = Mutex::new(Heap(dlmalloc::Dlmalloc::new()));

/// rein's global allocator on musl.
pub struct Dlmalloc;

fn heap() -> MutexGuard<'static, Heap> {
    // A panic while the lock was held (with panic = "abort" in release builds, only in
    // tests) leaves dlmalloc's state as consistent as its own code leaves it.
    HEAP.lock().unwrap_or_else(PoisonError::into_inner)
}

// SAFETY: each call forwards to dlmalloc with the layout std gives, under the lock;
// dlmalloc returns memory aligned as asked, or null.
unsafe impl GlobalAlloc for Dlmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { heap().0.malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { heap().0.calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc's contract).
        unsafe { heap().0.free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as dealloc, and `new_size` is non-zero (GlobalAlloc's contract).
        unsafe { heap().0.realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}
