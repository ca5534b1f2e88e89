//! Thread-local pool of arena buffers lent to `Arena`-strategy plugins.
//!
//! Buffers keep `len == capacity` (fully initialised) so lending one costs
//! no zero-fill; a reentrant call on the same thread takes a second buffer.

use std::cell::RefCell;

/// Initial arena size.
pub const DEFAULT_ARENA_CAPACITY: usize = 4096;

/// Largest arena a plugin may ask for (64 MiB); bigger requests are
/// refused (`CallError::BufferTooSmall`) before anything is allocated, so a
/// plugin cannot make the host allocate and zero more per call. Larger
/// outputs belong to the `PluginAllocated` strategy. Equal to the most a
/// fidius plugin keeps for a retry (`fidius_core::rt::MAX_ARENA_STASH`).
pub const MAX_ARENA_CAPACITY: usize = fidius_core::rt::MAX_ARENA_STASH;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// The arena of the outermost call on this thread (borrowed in place).
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's arena (at least `DEFAULT_ARENA_CAPACITY`
/// initialised bytes), borrowed in place; a reentrant call on the same
/// thread gets a pooled one instead.
#[inline]
pub fn with_arena<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut f = Some(f);
    let done = CURRENT.try_with(|cur| {
        let mut cur = cur.try_borrow_mut().ok()?;
        if cur.len() < DEFAULT_ARENA_CAPACITY {
            grow_arena(&mut cur, DEFAULT_ARENA_CAPACITY);
        }
        let f = f.take()?;
        let r = f(&mut cur);
        if cur.len() > MAX_KEPT_ARENA {
            *cur = Vec::new();
        }
        Some(r)
    });
    match (done, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => {
            let mut buf = acquire_arena(0);
            let r = f(&mut buf);
            release_arena(buf);
            r
        }
        (_, None) => unreachable!("the closure ran but produced no result"),
    }
}

/// Arenas grown beyond this are released after the call instead of kept.
const MAX_KEPT_ARENA: usize = 16 << 20;

/// Takes a buffer of at least `max(min, DEFAULT_ARENA_CAPACITY)` initialised bytes.
pub fn acquire_arena(min: usize) -> Vec<u8> {
    let want = min.max(DEFAULT_ARENA_CAPACITY);
    let mut buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    if buf.len() < want {
        grow_arena(&mut buf, want);
    }
    buf
}

/// Returns a buffer to this thread's pool.
pub fn release_arena(buf: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 8 {
            p.push(buf);
        }
    });
}

/// Grows `buf` to at least `needed` initialised bytes.
pub fn grow_arena(buf: &mut Vec<u8>, needed: usize) {
    if buf.len() < needed {
        buf.resize(needed, 0);
    }
}
