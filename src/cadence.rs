//! When to poll a feed next: the configured interval, raised by what the
//! server and the feed hint (Cache-Control, Expires, `<ttl>`, `sy:update*`),
//! bounded, plus a little jitter so a thousand feeds do not fire together.
//! Pure: no I/O, no clock.

use chrono::{DateTime, TimeDelta, Utc};

/// How often the server or the feed says it changes, at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// `Cache-Control: max-age` or `Expires`, from the last response.
    pub http: Option<TimeDelta>,
    /// RSS `<ttl>` or `sy:updatePeriod`/`sy:updateFrequency`, from the last body.
    pub feed: Option<TimeDelta>,
}

/// Bounds on the wait between two polls of one feed.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: TimeDelta,
    pub max: TimeDelta,
}

/// The wait before the next poll, without jitter: the longest of the base
/// interval and the hints, within the bounds.
pub fn wait(base: TimeDelta, hints: Hints, bounds: Bounds) -> TimeDelta {
    let wanted = [Some(base), hints.http, hints.feed]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(base);
    wanted.clamp(bounds.min, bounds.max.max(bounds.min))
}

/// `now + wait`, plus up to a tenth of the wait (at most 15 minutes) of
/// jitter, derived from the feed and the time so it differs per feed and per poll.
pub fn next_poll(now: DateTime<Utc>, feed_key: &str, wait: TimeDelta) -> DateTime<Utc> {
    let spread = (wait / 10).min(TimeDelta::minutes(15));
    let spread_ms = u64::try_from(spread.num_milliseconds()).unwrap_or(0);
    let jitter_ms = match spread_ms {
        0 => 0,
        n => crate::fnv::fnv1a(feed_key.bytes().chain(now.timestamp_millis().to_le_bytes())) % n,
    };
    now + wait + TimeDelta::milliseconds(i64::try_from(jitter_ms).unwrap_or(0))
}

/// The freshness a response declares: `Cache-Control: max-age` (which wins),
/// else `Expires` minus the response's `Date` (or `now`). `no-store`,
/// `no-cache` and dates in the past give none.
pub fn http_hint(
    cache_control: Option<&str>,
    expires: Option<&str>,
    date: Option<&str>,
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    if let Some(cache_control) = cache_control {
        let mut max_age = None;
        for directive in cache_control.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return None;
            }
            if let Some(value) = lower.strip_prefix("max-age=") {
                max_age = value.trim_matches('"').parse::<i64>().ok();
            }
        }
        if let Some(seconds) = max_age {
            // Clamped: a hostile header must not overflow a time.
            return TimeDelta::try_seconds(seconds.clamp(0, MAX_HINT_SECONDS))
                .filter(|d| *d > TimeDelta::zero());
        }
    }
    let expires = http_date(expires?)?;
    let origin = date.and_then(http_date).unwrap_or(now);
    Some((expires - origin).min(TimeDelta::seconds(MAX_HINT_SECONDS))).filter(|d| *d > TimeDelta::zero())
}

/// An HTTP date in any of the three forms RFC 9110 (§5.6.7) has a recipient
/// accept: IMF-fixdate, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and
/// asctime (`Sun Nov  6 08:49:37 1994`); and, as before, any RFC 2822 date
/// (a zone other than GMT, which servers send too).
pub(crate) fn http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    httpdate::parse_http_date(value)
        .ok()
        .map(DateTime::<Utc>::from)
        .or_else(|| {
            DateTime::parse_from_rfc2822(value)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// No hint counts for more than a year (the bounds cap it further).
const MAX_HINT_SECONDS: i64 = 365 * 24 * 3600;

/// RSS `<ttl>` (minutes) and the syndication module's update period divided
/// by its frequency; the longer one.
pub fn feed_hint(
    ttl_minutes: Option<u32>,
    update_period: Option<&str>,
    update_frequency: Option<&str>,
) -> Option<TimeDelta> {
    let ttl = ttl_minutes
        .filter(|m| *m > 0)
        .map(|m| TimeDelta::minutes(i64::from(m)));
    let period = update_period.and_then(|p| match p.trim().to_ascii_lowercase().as_str() {
        "hourly" => Some(TimeDelta::hours(1)),
        "daily" => Some(TimeDelta::days(1)),
        "weekly" => Some(TimeDelta::weeks(1)),
        "monthly" => Some(TimeDelta::days(30)),
        "yearly" => Some(TimeDelta::days(365)),
        _ => None,
    });
    let frequency = update_frequency
        .and_then(|f| f.trim().parse::<i32>().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    let sy = period.map(|p| p / frequency);
    ttl.into_iter().chain(sy).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    const BOUNDS: Bounds = Bounds {
        min: TimeDelta::minutes(5),
        max: TimeDelta::hours(24),
    };

    #[test]
    fn the_longest_of_interval_and_hints_within_bounds() {
        let m = TimeDelta::minutes;
        let cases = [
            (m(30), None, None, m(30)),
            (m(30), Some(m(60)), None, m(60)),
            (m(30), Some(m(10)), Some(m(120)), m(120)),
            (m(1), None, None, m(5)),
            (m(30), Some(TimeDelta::days(7)), None, TimeDelta::hours(24)),
        ];
        for (base, http, feed, expected) in cases {
            assert_eq!(
                wait(base, Hints { http, feed }, BOUNDS),
                expected,
                "{base} {http:?} {feed:?}"
            );
        }
    }

    #[test]
    fn jitter_is_small_and_spreads_feeds() {
        let now = at(1_795_000_000);
        let wait = TimeDelta::minutes(30);
        let times: Vec<_> = (0..1000)
            .map(|i| next_poll(now, &format!("https://example.org/feed/{i}"), wait))
            .collect();
        assert!(
            times
                .iter()
                .all(|t| *t >= now + wait && *t < now + wait + TimeDelta::minutes(3))
        );
        let distinct_seconds: std::collections::HashSet<i64> = times.iter().map(|t| t.timestamp()).collect();
        assert!(
            distinct_seconds.len() > 150,
            "{} distinct seconds",
            distinct_seconds.len()
        );
    }

    #[test]
    fn cache_control_then_expires() {
        let now = at(1_795_000_000);
        assert_eq!(
            http_hint(Some("public, max-age=3600"), None, None, now),
            Some(TimeDelta::hours(1))
        );
        assert_eq!(http_hint(Some("no-cache, max-age=3600"), None, None, now), None);
        assert_eq!(http_hint(Some("max-age=0"), None, None, now), None);
        let expires = "Thu, 26 Nov 2026 10:00:00 GMT";
        let date = "Thu, 26 Nov 2026 08:00:00 GMT";
        assert_eq!(
            http_hint(None, Some(expires), Some(date), now),
            Some(TimeDelta::hours(2))
        );
        assert_eq!(
            http_hint(Some("public"), Some(expires), Some(date), now),
            Some(TimeDelta::hours(2))
        );
        assert_eq!(http_hint(None, Some("0"), None, now), None);
        // Absurd values are clamped, never a panic.
        assert_eq!(
            http_hint(Some("max-age=10000000000000000"), None, None, now),
            Some(TimeDelta::days(365))
        );
        assert_eq!(
            http_hint(None, Some("Fri, 31 Dec 9999 23:59:59 GMT"), None, now),
            Some(TimeDelta::days(365))
        );
        assert_eq!(http_hint(None, Some(date), Some(expires), now), None);
    }

    #[test]
    fn ttl_and_syndication_module() {
        assert_eq!(feed_hint(Some(60), None, None), Some(TimeDelta::hours(1)));
        assert_eq!(
            feed_hint(None, Some("hourly"), Some("2")),
            Some(TimeDelta::minutes(30))
        );
        assert_eq!(feed_hint(None, Some("daily"), None), Some(TimeDelta::days(1)));
        assert_eq!(
            feed_hint(Some(90), Some("hourly"), None),
            Some(TimeDelta::minutes(90))
        );
        assert_eq!(feed_hint(Some(0), Some("sometimes"), Some("x")), None);
    }
}
