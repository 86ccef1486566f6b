//! Giving freed memory back to the system between rounds. glibc keeps what a
//! poll or a prune freed in its per-thread arenas, so without this an idle
//! daemon would hold its busiest moment's memory for good.

use std::time::{Duration, Instant};

/// Trims at most this often after ordinary polls: the minute tick nearly
/// always fetches a feed or two, and a trim walks every arena.
const MIN_GAP: Duration = Duration::from_secs(10 * 60);

/// How long after a big round (a prune, the first poll) the store is left
/// to settle before one more trim: sled's flusher goes on cleaning the log
/// segments those writes left, and what it allocates meanwhile stays in the
/// arenas (measured: the idle daemon grows from 70 to 80–92 MB in the minute
/// after the first prune, and a trim then gives back 14 MB).
const SETTLE: Duration = Duration::from_secs(3 * 60);

/// Decides when a round is worth a trim, and runs it off the async threads.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    last: Option<Instant>,
    /// When the settle trim after the last big round is due.
    settle_at: Option<tokio::time::Instant>,
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
            if pruned || self.last.is_none() {
                self.settle_at = Some(tokio::time::Instant::now() + SETTLE);
            }
            self.last = Some(Instant::now());
            // A trim of a fragmented 100 MB heap takes up to ~200 ms.
            let _ = tokio::task::spawn_blocking(release_free).await;
        }
    }

    /// Waits until the store has settled after the last big round and trims
    /// once more; never ready when no big round is pending. Cancel-safe: a
    /// dropped wait is taken up again by the next call.
    pub(crate) async fn settle(&mut self) {
        let Some(at) = self.settle_at else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(at).await;
        self.settle_at = None;
        let _ = tokio::task::spawn_blocking(release_free).await;
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

    #[tokio::test(start_paused = true)]
    async fn a_big_round_is_followed_by_one_trim_once_the_store_has_settled() {
        let mut trimmer = Trimmer::default();
        let idle = tokio::time::timeout(SETTLE * 2, trimmer.settle()).await;
        assert!(idle.is_err(), "no big round yet: nothing to wait for");
        let started = tokio::time::Instant::now();
        trimmer.after_round(0, true).await;
        assert_eq!(
            trimmer.settle_at,
            Some(started + SETTLE),
            "a prune asks for a settle trim"
        );
        // A round in between (another tick) does not move it.
        trimmer.after_round(2, false).await;
        assert_eq!(trimmer.settle_at, Some(started + SETTLE));
        trimmer.settle().await;
        assert!(tokio::time::Instant::now() >= started + SETTLE);
        assert_eq!(trimmer.settle_at, None, "once");
        let again = tokio::time::timeout(SETTLE * 2, trimmer.settle()).await;
        assert!(again.is_err(), "then nothing until the next big round");
    }
}
