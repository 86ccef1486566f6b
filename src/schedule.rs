//! When a subscriber's digest is due: pure date arithmetic in the subscriber's zone.
//!
//! tokio-cron-scheduler 0.15 turns a job's zone into a fixed UTC offset when the
//! job is created, so a 07:00 Europe/Berlin job would drift by an hour at a DST
//! change. The scheduler therefore only ticks; the due times are computed here with
//! chrono-tz on every tick, and stay at 07:00 local across DST changes.

use chrono::{DateTime, Days, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every day at this local time.
    Daily(NaiveTime),
    /// A 5-field cron line in local time; the text is kept for display.
    Cron(Box<Cron>, String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// Parses a standard 5-field cron line (minute hour day-of-month month day-of-week).
pub fn parse_cron(text: &str) -> Result<Cron, ScheduleError> {
    if text.split_whitespace().count() != 5 {
        return Err(ScheduleError(format!(
            "{text:?} must have 5 fields (minute hour day month weekday)"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|err| ScheduleError(format!("{text:?} is not a valid cron line: {err}")))
}

impl Schedule {
    /// `"07:00"` (daily, local time) or a 5-field cron line (`"0 7 * * 1-5"`).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
            return Ok(Schedule::Daily(time));
        }
        if text.split_whitespace().count() == 5 {
            return parse_cron(text).map(|cron| Schedule::Cron(Box::new(cron), text.to_owned()));
        }
        Err(ScheduleError(format!(
            "{text:?} is not a schedule; write a local time \"07:00\" or a 5-field cron line \"0 7 * * 1-5\""
        )))
    }

    /// The first slot strictly after `after`, evaluated in `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&zone);
        match self {
            Schedule::Daily(time) => {
                let today = local.date_naive();
                (0..3u64).find_map(|offset| {
                    let day = today.checked_add_days(Days::new(offset))?;
                    let slot = resolve_local(zone, day.and_time(*time))?;
                    (slot > after).then_some(slot)
                })
            }
            Schedule::Cron(cron, _) => cron
                .find_next_occurrence(&local, false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Is a digest due at `now`, given the last one went (or the subscriber
    /// started) at `since`? Any number of missed slots make one due digest.
    pub fn is_due(&self, since: DateTime<Utc>, zone: Tz, now: DateTime<Utc>) -> bool {
        self.next_after(since, zone).is_some_and(|slot| slot <= now)
    }

    pub fn describe(&self) -> String {
        match self {
            Schedule::Daily(time) => format!("daily at {}", time.format("%H:%M")),
            Schedule::Cron(_, text) => format!("cron \"{text}\""),
        }
    }
}

/// A local wall-clock time as an instant: the earlier one when a DST change
/// repeats the hour, and the first instant after the gap when it skips it.
fn resolve_local(zone: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        LocalResult::None => (1..=4).find_map(|quarter_hours| {
            let later = naive + chrono::Duration::minutes(15 * quarter_hours);
            zone.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }),
    }
}
