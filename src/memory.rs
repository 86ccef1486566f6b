//! Giving freed memory back to the system between rounds. glibc keeps what a
//! poll or a prune freed in its per-thread arenas, so without this an idle
//! daemon would hold its busiest moment's memory for good.

use std::time::{Duration, Instant};

/// Trims at most this often after ordinary polls: the minute tick nearly
/// always fetches a feed or two, and a trim walks every arena.
const MIN_GAP: Duration = Duration::from_secs(10 * 60);

/// Decides when a round is worth a trim, and runs it off the async threads.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    last: Option<Instant>,
}

impl Trimmer {
    /// After a round that fetched `fetched` feeds and maybe pruned the store:
    /// always after a prune or the first fetching round, otherwise at most
    /// once per [`MIN_GAP`].
    pub(crate) async fn after_round(&mut self, fetched: usize, pruned: bool) {
        let due = match self.last {
            None => fetched > 0,
            Some(last) => fetched > 0 && last.elapsed() >= MIN_GAP,
        };
        if due || pruned {
            self.last = Some(Instant::now());
            // A trim of a fragmented 100 MB heap takes up to ~200 ms.
            let _ = tokio::task::spawn_blocking(release_free).await;
        }
    }
}

/// Big allocations (4 MB and more: the sentence encoder's tables and
/// working buffers) are mapped and unmapped on their own, so they leave no
/// holes in the arenas. glibc would otherwise raise this threshold to the
/// size of the largest block freed so far, and a round of digests with the
/// model left the idle daemon 27 MB bigger even after a trim (measured:
/// 19.7 → 46.5 MB; with this, 25.1 → 26.8 MB, and encoding no slower).
/// Called once at start, before any thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure() {
    // SAFETY: mallopt only sets a malloc parameter; called before other
    // threads exist, as glibc advises for its tunables.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}

/// Returns the free memory at the top and in the holes of every malloc arena
/// to the system (glibc's `malloc_trim`). Elsewhere, nothing to do.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_free() {
    // SAFETY: malloc_trim has no preconditions and takes no pointers; it walks
    // glibc's own arenas under their locks and is thread-safe. It is never
    // called from a signal handler.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trims_after_the_first_fetching_round_and_each_prune_then_at_most_every_ten_minutes() {
        let mut trimmer = Trimmer::default();
        trimmer.after_round(0, false).await;
        assert!(trimmer.last.is_none(), "nothing fetched, nothing to give back");
        trimmer.after_round(3, false).await;
        let first = trimmer.last.expect("the first fetching round trims");
        trimmer.after_round(5, false).await;
        assert_eq!(trimmer.last, Some(first), "not again within ten minutes");
        trimmer.after_round(0, true).await;
        assert!(trimmer.last > Some(first), "a prune always trims");
        let Some(long_ago) = Instant::now().checked_sub(MIN_GAP) else {
            return; // a machine up for less than ten minutes
        };
        trimmer.last = Some(long_ago);
        trimmer.after_round(1, false).await;
        assert!(
            trimmer.last > Some(long_ago),
            "ten minutes later a fetch trims again"
        );
    }
}
