//! A feed's polling state as the store keeps it: validators, health,
//! backoff, redirects, what was not queued and why. Pure: poll decides,
//! the store keeps the record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Per-feed fetch state. Validators are kept exactly as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub items_known: u64,
    /// Set by the first successful poll; before it, every item is baseline.
    pub baselined: bool,
    /// New items the last poll left for later polls (over `max_new_per_poll`).
    #[serde(default)]
    pub held_back: u64,
    /// When the feed last brought a new item (or was first polled): for "stale".
    #[serde(default)]
    pub last_new: Option<DateTime<Utc>>,
    /// Where the last fetch ended after redirects, when not at the configured URL.
    #[serde(default)]
    pub redirected_to: Option<String>,
    /// The server answered 410 Gone on the last poll.
    #[serde(default)]
    pub gone: bool,
    /// Failed polls since the last success.
    #[serde(default)]
    pub failures: u32,
    /// No request before this: the server said so (429/503 with Retry-After).
    #[serde(default)]
    pub retry_after: Option<DateTime<Utc>>,
    /// No routine poll before this: our backoff after failures.
    #[serde(default)]
    pub next_attempt: Option<DateTime<Utc>>,
    /// When the daemon polls this feed next (see [`crate::cadence`]).
    #[serde(default)]
    pub next_poll: Option<DateTime<Utc>>,
    /// The feed's own update hint (`<ttl>`, `sy:update*`) from its last body,
    /// in seconds: a 304 carries no body, so it is remembered.
    #[serde(default)]
    pub feed_hint_secs: Option<i64>,
    /// The server's freshness hint (max-age, Expires) in its last answer, in
    /// seconds: with the feed's own, a changed interval can be applied
    /// without a fetch ([`crate::poll::reschedule`]).
    #[serde(default)]
    pub http_hint_secs: Option<i64>,
    /// Whether `http_hint_secs` was recorded at the last good poll (records
    /// from before it existed say false: their server's hint is unknown).
    #[serde(default)]
    pub hints_recorded: bool,
    /// A permanent redirect (301/308) seen on the last polls, and how many
    /// polls in a row ended there.
    #[serde(default)]
    pub redirect_candidate: Option<String>,
    #[serde(default)]
    pub redirect_streak: u32,
    /// The feed's new URL, adopted after [`FeedState::MOVE_AFTER`] polls
    /// redirected there permanently. Polls go there; the config still names the old one.
    #[serde(default)]
    pub moved_to: Option<String>,
    /// Where the items this feed brought went, when not into anyone's digest.
    #[serde(default)]
    pub not_queued: NotQueued,
    /// Why the last document read yielded no items though it holds some.
    #[serde(default)]
    pub empty_reason: Option<String>,
}

/// Items of a feed recorded as seen but queued for nobody, by reason: so that
/// no article disappears without `status` saying why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotQueued {
    /// Older than `first_poll_window` at the feed's first poll (or when an
    /// earlier version had merged them with another item).
    pub baseline: u64,
    /// Stored, but no subscriber's topics or filters wanted them.
    pub unrouted: u64,
    /// A known article whose guid the publisher regenerated.
    pub regenerated_guid: u64,
    /// A copy of an article another feed brought first ("also in").
    pub copies: u64,
    /// In the last document: items listed twice (one article), and items
    /// whose guid or link repeats, told apart by title and date.
    pub listed_twice: u64,
    pub told_apart: u64,
}

impl FeedState {
    /// Consecutive polls a permanent redirect must be seen on before it is adopted.
    pub const MOVE_AFTER: u32 = 3;

    /// The last poll failed (its error is newer than the last success).
    pub fn is_failing(&self) -> bool {
        self.last_error_at
            .is_some_and(|error| self.last_success.is_none_or(|ok| error > ok))
    }

    /// "gone" (410), "failing", "new" (never polled), "stale" (nothing new
    /// for `stale_after`), or "ok".
    pub fn health(&self, now: DateTime<Utc>, stale_after: chrono::TimeDelta) -> &'static str {
        if self.gone {
            "gone"
        } else if self.is_failing() {
            "failing"
        } else if self.last_success.is_none() {
            "new"
        } else if self.last_new.is_some_and(|at| now - at > stale_after) {
            "stale"
        } else {
            "ok"
        }
    }

    /// Backoff after `failures` failed polls: 5 minutes doubling, at most `max`.
    pub fn backoff(failures: u32, max: chrono::TimeDelta) -> chrono::TimeDelta {
        let minutes = 5i64 << failures.saturating_sub(1).min(16);
        chrono::TimeDelta::minutes(minutes).min(max)
    }

    /// Counts a poll that ended, through permanent redirects only, at
    /// `permanent_target` (None: no permanent redirect). Returns the new URL
    /// when this poll made the move final.
    pub fn note_redirect(&mut self, permanent_target: Option<&str>) -> Option<String> {
        let Some(target) = permanent_target else {
            self.redirect_candidate = None;
            self.redirect_streak = 0;
            return None;
        };
        if self.redirect_candidate.as_deref() == Some(target) {
            self.redirect_streak = self.redirect_streak.saturating_add(1);
        } else {
            self.redirect_candidate = Some(target.to_owned());
            self.redirect_streak = 1;
        }
        if self.redirect_streak < Self::MOVE_AFTER {
            return None;
        }
        self.redirect_candidate = None;
        self.redirect_streak = 0;
        self.moved_to = Some(target.to_owned());
        self.moved_to.clone()
    }

    /// Whether the daemon's routine poll should fetch this feed at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.clock_stepped_back(now) || self.next_poll.is_none_or(|at| at <= now)
    }

    /// A poll on record more than an hour after `now`: the clock ran fast
    /// and was set back since. The schedule and backoff it made would keep
    /// the feed unpolled for as long as the clock was ahead.
    fn clock_stepped_back(&self, now: DateTime<Utc>) -> bool {
        let ahead = now + chrono::TimeDelta::hours(1);
        [self.last_success, self.last_error_at]
            .into_iter()
            .flatten()
            .any(|at| at > ahead)
    }

    /// Why a poll at `now` should not fetch this feed, if it should not.
    /// `force` overrides our backoff and a 410, never the server's Retry-After.
    pub fn skip_reason(&self, now: DateTime<Utc>, force: bool) -> Option<String> {
        if let Some(until) = self.retry_after.filter(|until| *until > now) {
            return Some(format!(
                "the server asked for no request before {}",
                until.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        if force {
            return None;
        }
        if self.gone {
            return Some("gone (410): no longer polled; `feed-digest poll --force` tries again".to_owned());
        }
        let backing_off = self
            .next_attempt
            .filter(|at| *at > now && !self.clock_stepped_back(now));
        backing_off.map(|at| {
            format!(
                "backing off after {} until {} (`--force` tries now)",
                crate::text::count(self.failures as usize, "failure", "failures"),
                at.format("%Y-%m-%d %H:%M UTC")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_set_back_does_not_keep_a_feed_waiting_for_it() {
        let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        let days = chrono::TimeDelta::days;
        // Polled while the clock ran 30 days fast, due an hour after that.
        let polled_ahead = FeedState {
            last_success: Some(now + days(30)),
            next_poll: Some(now + days(30) + chrono::TimeDelta::hours(1)),
            ..FeedState::default()
        };
        assert!(polled_ahead.is_due(now));
        let failed_ahead = FeedState {
            last_error_at: Some(now + days(30)),
            failures: 3,
            next_attempt: Some(now + days(30) + chrono::TimeDelta::minutes(40)),
            next_poll: Some(now + days(30) + chrono::TimeDelta::minutes(40)),
            ..FeedState::default()
        };
        assert!(failed_ahead.is_due(now));
        assert_eq!(failed_ahead.skip_reason(now, false), None);
        // Within the hour's slack (instances' clocks a little apart), and
        // a plain schedule: as they say.
        let skewed = FeedState {
            last_success: Some(now + chrono::TimeDelta::minutes(2)),
            next_poll: Some(now + chrono::TimeDelta::minutes(32)),
            ..FeedState::default()
        };
        assert!(!skewed.is_due(now));
        let backing_off = FeedState {
            last_error_at: Some(now),
            failures: 1,
            next_attempt: Some(now + chrono::TimeDelta::minutes(5)),
            ..FeedState::default()
        };
        assert!(backing_off.skip_reason(now, false).is_some());
    }

    #[test]
    fn a_feed_is_stale_after_the_configured_quiet_period() {
        let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        let state = FeedState {
            last_success: Some(now),
            last_new: Some(now - chrono::TimeDelta::days(10)),
            ..FeedState::default()
        };
        assert_eq!(state.health(now, chrono::TimeDelta::days(30)), "ok");
        assert_eq!(state.health(now, chrono::TimeDelta::days(7)), "stale");
        let failing = FeedState {
            last_error_at: Some(now),
            last_success: Some(now - chrono::TimeDelta::hours(1)),
            ..state
        };
        assert_eq!(failing.health(now, chrono::TimeDelta::days(7)), "failing");
    }

    #[test]
    fn a_permanent_redirect_is_adopted_on_the_third_poll_in_a_row() {
        let mut state = FeedState::default();
        assert_eq!(state.note_redirect(Some("https://new.example/feed")), None);
        assert_eq!(state.note_redirect(Some("https://new.example/feed")), None);
        // Interrupted: the count starts again.
        assert_eq!(state.note_redirect(None), None);
        assert_eq!(state.note_redirect(Some("https://new.example/feed")), None);
        assert_eq!(state.note_redirect(Some("https://other.example/feed")), None);
        assert_eq!(state.redirect_streak, 1);
        assert_eq!(state.note_redirect(Some("https://other.example/feed")), None);
        assert_eq!(
            state.note_redirect(Some("https://other.example/feed")).as_deref(),
            Some("https://other.example/feed")
        );
        assert_eq!(state.moved_to.as_deref(), Some("https://other.example/feed"));
    }
}
