//! Giving freed memory back to the system between rounds. glibc keeps what a
//! poll or a prune freed in its per-thread arenas, so without this an idle
//! daemon would hold its busiest moment's memory for good.

/// Returns the free memory at the top and in the holes of every malloc arena
/// to the system (glibc's `malloc_trim`). Elsewhere, nothing to do.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free() {
    // SAFETY: malloc_trim takes no pointers; it only walks glibc's own arenas,
    // under their locks, and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free() {}
