//! A feed's record after each poll: failures and backoff, redirects, and
//! when it is due again.

use chrono::{DateTime, TimeDelta, Utc};

use crate::cadence;
use crate::config::{Config, FeedConfig};
use crate::feed_state::FeedState;
use crate::fetch::{FetchError, ResponseInfo};
use crate::store::{Feeds, StoreError};

/// A 2xx or 304: clears the failure state, counts redirects and sets the
/// next poll time.
pub(super) fn record_success(
    config: &Config,
    feed: &FeedConfig,
    state: &mut FeedState,
    info: &ResponseInfo,
    now: DateTime<Utc>,
) {
    state.last_success = Some(now);
    state.last_error = None;
    state.gone = false;
    state.failures = 0;
    state.next_attempt = None;
    state.retry_after = None;
    // Where redirects led, for `status`; the configured URL stays the key.
    state.redirected_to = info.final_url.clone();
    if let Some(url) = state.note_redirect(info.permanent_redirect.as_deref()) {
        tracing::warn!(
            feed = %feed.key,
            new_url = %url,
            "the feed has moved permanently; polling the new URL from now on (update the config)"
        );
    }
    state.http_hint_secs = info.cache_hint.map(|hint| hint.num_seconds());
    state.hints_recorded = true;
    state.next_poll = Some(cadence::next_poll(now, &feed.key, wait(config, feed, state)));
}

/// How long after a good poll the feed is due again: its interval, raised by
/// the hints of its last answer, within the bounds.
fn wait(config: &Config, feed: &FeedConfig, state: &FeedState) -> TimeDelta {
    let base = feed.interval.unwrap_or(match &config.poll {
        crate::config::PollSchedule::Every(every) => *every,
        crate::config::PollSchedule::Cron(_) => config.fetch.min_interval,
    });
    let hints = cadence::Hints {
        http: state.http_hint_secs.map(TimeDelta::seconds),
        feed: state.feed_hint_secs.map(TimeDelta::seconds),
    };
    let base = TimeDelta::from_std(base).unwrap_or(TimeDelta::MAX);
    cadence::wait(base, hints, config.fetch.bounds())
}

/// After a reload: the next-poll time of every healthy feed, from its last
/// good poll and the new config, so a changed `poll`, `interval` or bound
/// applies now rather than after the next poll. A failing feed keeps its
/// backoff. Returns how many feeds were rescheduled.
pub async fn reschedule<S: Feeds>(config: &Config, store: &S) -> Result<usize, StoreError> {
    let mut changed = 0;
    for feed in &config.feeds {
        let Some(mut state) = store.feed_state(&feed.key).await? else {
            continue;
        };
        let Some(last) = state.last_success.filter(|_| state.failures == 0) else {
            continue;
        };
        let mut next = cadence::next_poll(last, &feed.key, wait(config, feed, &state));
        if !state.hints_recorded {
            // Polled before hints were kept: the server may have asked for
            // more time than the new interval; never earlier than planned.
            next = next.max(state.next_poll.unwrap_or(next));
        }
        if state.next_poll != Some(next) {
            state.next_poll = Some(next);
            store.put_feed_state(&feed.key, &state).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// A failed poll: counts it and backs off (5 minutes doubling to
/// `max_interval`), or waits for the server's Retry-After if that is later.
pub(super) fn record_failure(
    config: &Config,
    feed: &FeedConfig,
    state: &mut FeedState,
    message: String,
    now: DateTime<Utc>,
) {
    // The caller reports the failure (a warning in the daemon, a line from `poll`).
    tracing::debug!(feed = %feed.key, error = %message, "feed poll failed");
    state.last_error = Some(message);
    state.last_error_at = Some(now);
    state.failures = state.failures.saturating_add(1);
    let bounds = config.fetch.bounds();
    state.next_attempt = Some(now + FeedState::backoff(state.failures, bounds.max).max(bounds.min));
    // A failing feed is due again when its backoff ends, or the server's
    // Retry-After if that is later.
    state.next_poll = state.next_attempt.max(state.retry_after.filter(|at| *at > now));
}

/// A fetch that failed: a 410 marks the feed gone, a 429/503 keeps the
/// server's Retry-After, an adopted new URL that answers 404/410 is given up
/// for the configured one; then [`record_failure`].
pub(super) fn record_fetch_failure(
    config: &Config,
    feed: &FeedConfig,
    state: &mut FeedState,
    error: &FetchError,
    now: DateTime<Utc>,
) {
    state.gone = matches!(error, FetchError::Status { status, .. } if *status == reqwest::StatusCode::GONE);
    if let FetchError::Status { retry_after, .. } = error {
        state.retry_after = *retry_after;
    }
    // The feed's adopted new URL is failing for good: go back to the
    // configured one rather than lose the feed.
    if let (Some(moved), FetchError::Status { status, .. }) = (&state.moved_to, error)
        && matches!(status.as_u16(), 404 | 410)
    {
        tracing::warn!(feed = %feed.key, moved = %moved, %status, "the feed's new URL fails; back to the configured one");
        state.moved_to = None;
        state.gone = false;
    }
    record_failure(config, feed, state, error.to_string(), now);
}

#[cfg(test)]
mod tests;
