//! Thread-local pool of arena buffers lent to `Arena`-strategy plugins.
//!
//! Buffers keep `len == capacity` (fully initialised) so lending one costs
//! no zero-fill; a reentrant call on the same thread takes a second buffer.

use std::cell::RefCell;

/// Initial arena size.
pub const DEFAULT_ARENA_CAPACITY: usize = 4096;

/// Largest arena a plugin may ask for (1 GiB); bigger requests are refused.
pub const MAX_ARENA_CAPACITY: usize = 1 << 30;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

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
