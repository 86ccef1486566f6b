//! A subscriber's delivery state and how each outcome changes it. Pure: the
//! store keeps these records, the callers decide what they become.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A subscriber who asked for no more digests: it overrides the config
/// until they (or the operator) undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub since: DateTime<Utc>,
    pub by: OptOutWay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptOutWay {
    /// A mail provider's RFC 8058 one-click POST.
    OneClick,
    /// The button on the unsubscribe page.
    Page,
    /// `feed-digest subscribers unsubscribe`.
    Operator,
}

impl std::fmt::Display for OptOutWay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptOutWay::OneClick => "one-click (mail provider)",
            OptOutWay::Page => "the unsubscribe page",
            OptOutWay::Operator => "the operator",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberState {
    /// When the subscriber first appeared in the config: nothing older is sent.
    pub added_at: DateTime<Utc>,
    /// The last schedule slot handled: a digest sent, or nothing to send.
    #[serde(default)]
    pub last_slot: Option<DateTime<Utc>>,
    pub last_sent: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Failed attempts since the last success; drives the retry backoff.
    #[serde(default)]
    pub failures: u32,
}

impl SubscriberState {
    /// A subscriber seen for the first time at `now`: nothing older is sent.
    pub fn new(now: DateTime<Utc>) -> SubscriberState {
        SubscriberState {
            added_at: now,
            last_slot: None,
            last_sent: None,
            last_attempt: None,
            last_error: None,
            failures: 0,
        }
    }

    /// After the server accepted a digest at `now`: the slot is done and the
    /// failures are forgotten.
    pub fn sent(&self, now: DateTime<Utc>) -> SubscriberState {
        SubscriberState {
            last_sent: Some(now),
            last_slot: Some(now),
            last_attempt: Some(now),
            last_error: None,
            failures: 0,
            ..self.clone()
        }
    }

    /// A schedule slot at `now` with nothing to send: done, and the next
    /// article waits for the next slot.
    pub fn slot_handled(&self, now: DateTime<Utc>) -> SubscriberState {
        SubscriberState {
            last_slot: Some(now),
            ..self.clone()
        }
    }

    /// A send that failed at `now`: one more failure, which lengthens the
    /// retry backoff. The slot stays open.
    pub fn failed(&self, now: DateTime<Utc>, error: String) -> SubscriberState {
        SubscriberState {
            last_attempt: Some(now),
            last_error: Some(error),
            failures: self.failures.saturating_add(1),
            ..self.clone()
        }
    }

    /// The moment the schedule counts from at `now`: the last slot; a day
    /// before `now` when that is over an hour after `now` (the clock ran
    /// fast and was set back since: counted from it, no digest would go
    /// until the clock caught up; from a day ago, the slot missed meanwhile
    /// makes one due, as after any outage).
    pub fn since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let since = self.last_slot.unwrap_or(self.added_at);
        if since > now + chrono::TimeDelta::hours(1) {
            now - chrono::TimeDelta::days(1)
        } else {
            since
        }
    }

    /// When the daemon may try again after failures: 5 minutes, doubling per
    /// failure, at most 6 hours. `feed-digest send` ignores it.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        if self.failures == 0 {
            return None;
        }
        let minutes = (5i64 << self.failures.saturating_sub(1).min(10)).min(6 * 60);
        self.last_attempt
            .map(|at| at + chrono::TimeDelta::minutes(minutes))
    }

    /// Whether `now` is within the backoff; not after an attempt on record
    /// over an hour after `now` (the clock was set back since).
    pub fn in_retry_backoff(&self, now: DateTime<Utc>) -> bool {
        let stepped_back = self
            .last_attempt
            .is_some_and(|at| at > now + chrono::TimeDelta::hours(1));
        !stepped_back && self.retry_at().is_some_and(|at| now < at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_changes_what_it_should_and_nothing_else() {
        let at = |minutes: i64| DateTime::from_timestamp(1_795_000_000 + minutes * 60, 0).unwrap_or_default();
        let fresh = SubscriberState::new(at(0));
        assert_eq!(fresh.since(at(0)), at(0));
        let once = fresh.failed(at(10), "421 try later".to_owned());
        let twice = once.failed(at(20), "421 again".to_owned());
        // (state, failures, retry after, schedule counts from)
        let table = [
            (&fresh, 0, None, at(0)),
            (&once, 1, Some(at(15)), at(0)),
            (&twice, 2, Some(at(30)), at(0)),
        ];
        for (state, failures, retry, since) in table {
            assert_eq!(
                (
                    state.failures,
                    state.retry_at(),
                    state.since(at(0) + chrono::TimeDelta::days(365))
                ),
                (failures, retry, since)
            );
        }
        assert!(twice.in_retry_backoff(at(29)) && !twice.in_retry_backoff(at(30)));
        let sent = twice.sent(at(40));
        assert_eq!(
            sent,
            SubscriberState {
                added_at: at(0),
                last_slot: Some(at(40)),
                last_sent: Some(at(40)),
                last_attempt: Some(at(40)),
                last_error: None,
                failures: 0,
            }
        );
        let quiet = sent.slot_handled(at(1440));
        assert_eq!((quiet.since(at(2000)), quiet.last_sent), (at(1440), Some(at(40))));
        // The clock set back a month after that slot: counted from now, and
        // a backoff made a month ahead does not hold.
        let month = 30 * 1440;
        let back = at(1440 - month);
        assert_eq!(quiet.since(back), back - chrono::TimeDelta::days(1));
        let daily = crate::schedule::Schedule::parse("07:00").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            daily.is_due(quiet.since(back), chrono_tz::Tz::UTC, back),
            "the slot missed while the clock was wrong is due"
        );
        let sent_now = quiet.sent(back);
        assert!(!daily.is_due(sent_now.since(back), chrono_tz::Tz::UTC, back));
        assert!(!twice.in_retry_backoff(at(29 - month)));
        assert!(twice.in_retry_backoff(at(29 - 30)), "within the hour's slack");
        // Backoff is capped at six hours.
        let mut many = fresh.clone();
        for n in 0..20 {
            many = many.failed(at(n), "down".to_owned());
        }
        assert_eq!(many.retry_at(), Some(at(19 + 6 * 60)));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let at = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        let mut state = SubscriberState {
            added_at: at,
            last_slot: None,
            last_sent: None,
            last_attempt: Some(at),
            last_error: Some("451".to_owned()),
            failures: 0,
        };
        assert_eq!(state.retry_at(), None);
        let waits: Vec<i64> = (1..=9)
            .map(|n| {
                state.failures = n;
                state.retry_at().map_or(0, |t| (t - at).num_minutes())
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 360, 360]);
    }
}
