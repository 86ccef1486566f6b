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
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|err| ScheduleError(format!("{text:?} is not a valid cron line: {err}")))?;
    // A line no date matches ("0 7 30 2 *") would never run.
    if cron
        .find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, false)
        .is_err()
    {
        return Err(ScheduleError(format!(
            "{text:?} matches no date: it would never run"
        )));
    }
    Ok(cron)
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
            Schedule::Cron(cron, _) => {
                // croner searches wall-clock time: in the hour a DST change
                // repeats, it can give the hour's first pass, before `after`
                // (every round then found a slot due). Past it, search on.
                // On from the slot's wall-clock minute, read as the hour's
                // second pass: stepping by instants would go back to its
                // first. An hour of minutes is the most there is to pass.
                let mut from = local;
                for _ in 0..=60 {
                    let slot = cron.find_next_occurrence(&from, false).ok()?;
                    if slot.with_timezone(&Utc) > after {
                        return Some(slot.with_timezone(&Utc));
                    }
                    let next = slot.naive_local() + chrono::TimeDelta::minutes(1);
                    from = match zone.from_local_datetime(&next) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => t,
                        LocalResult::None => resolve_local(zone, next)?.with_timezone(&zone),
                    };
                }
                None
            }
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
        // Gaps are an hour, two at Troll (Antarctica): look three ahead.
        LocalResult::None => (1..=12).find_map(|quarter_hours| {
            let later = naive + chrono::Duration::minutes(15 * quarter_hours);
            zone.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use chrono_tz::{America, Asia, Europe};

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap_or_default()
    }

    fn daily(text: &str) -> Schedule {
        Schedule::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn berlin_stays_at_seven_local_across_spring_forward() {
        let s = daily("07:00");
        // Saturday 28 March 2026 07:00 CET is 06:00Z; Sunday is CEST (UTC+2).
        let saturday = s.next_after(utc(2026, 3, 27, 12, 0), Europe::Berlin);
        assert_eq!(saturday, Some(utc(2026, 3, 28, 6, 0)));
        let sunday = s.next_after(utc(2026, 3, 28, 6, 0), Europe::Berlin);
        assert_eq!(sunday, Some(utc(2026, 3, 29, 5, 0)));
    }

    #[test]
    fn berlin_stays_at_seven_local_across_fall_back() {
        let s = daily("07:00");
        assert_eq!(
            s.next_after(utc(2026, 10, 24, 5, 0), Europe::Berlin),
            Some(utc(2026, 10, 25, 6, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 10, 24, 4, 0), Europe::Berlin),
            Some(utc(2026, 10, 24, 5, 0))
        );
    }

    #[test]
    fn new_york_across_the_november_change() {
        let s = daily("07:00");
        // 31 Oct 2026 is EDT (UTC-4); 1 Nov 2026 is EST (UTC-5).
        assert_eq!(
            s.next_after(utc(2026, 10, 31, 0, 0), America::New_York),
            Some(utc(2026, 10, 31, 11, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 10, 31, 11, 0), America::New_York),
            Some(utc(2026, 11, 1, 12, 0))
        );
    }

    #[test]
    fn shanghai_has_no_dst() {
        let s = daily("07:00");
        assert_eq!(
            s.next_after(utc(2026, 3, 28, 23, 30), Asia::Shanghai),
            Some(utc(2026, 3, 29, 23, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 7, 1, 0, 0), Asia::Shanghai),
            Some(utc(2026, 7, 1, 23, 0))
        );
    }

    #[test]
    fn a_time_inside_the_spring_gap_goes_at_the_end_of_the_gap() {
        let s = daily("02:30");
        // 02:00–03:00 does not exist in Berlin on 29 March 2026.
        assert_eq!(
            s.next_after(utc(2026, 3, 28, 12, 0), Europe::Berlin),
            Some(utc(2026, 3, 29, 1, 0))
        );
    }

    #[test]
    fn cron_weekdays_follow_local_time_across_dst() {
        let s = daily("0 7 * * 1-5");
        // Friday 27 March (CET), then Monday 30 March (CEST).
        assert_eq!(
            s.next_after(utc(2026, 3, 26, 7, 0), Europe::Berlin),
            Some(utc(2026, 3, 27, 6, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 3, 27, 6, 0), Europe::Berlin),
            Some(utc(2026, 3, 30, 5, 0))
        );
    }

    #[test]
    fn a_time_in_a_two_hour_gap_goes_at_its_end() {
        // Troll springs from +00 to +02 at 01:00Z on 29 March 2026: local
        // 01:00 to 03:00 do not exist.
        let s = daily("01:00");
        assert_eq!(
            s.next_after(utc(2026, 3, 28, 12, 0), chrono_tz::Antarctica::Troll),
            Some(utc(2026, 3, 29, 1, 0))
        );
    }

    #[test]
    fn a_cron_slot_in_the_repeated_hour_is_not_due_again_after_it() {
        let s = daily("30 2 * * *");
        // 25 October 2026, Berlin: 02:30 CEST is 00:30Z, 02:30 CET 01:30Z.
        // Sent (after a retry) at 02:10 CET, 01:10Z: the next is tomorrow's.
        let after = utc(2026, 10, 25, 1, 10);
        assert_eq!(
            s.next_after(after, Europe::Berlin),
            Some(utc(2026, 10, 26, 1, 30))
        );
        assert!(!s.is_due(after, Europe::Berlin, utc(2026, 10, 25, 1, 11)));
        // A line of many minutes, from inside the repeated hour: a slot
        // after it, not none (three tries gave none, and no digest ever).
        let every = daily("*/15 * * * *");
        let next = every.next_after(after, Europe::Berlin);
        assert!(
            next.is_some_and(|t| t > after && t <= utc(2026, 10, 25, 2, 0)),
            "{next:?}"
        );
        let each = daily("* * * * *");
        let next = each.next_after(after, Europe::Berlin);
        assert!(
            next.is_some_and(|t| t > after && t <= utc(2026, 10, 25, 2, 1)),
            "{next:?}"
        );
        // Before the first pass, the first pass.
        assert_eq!(
            s.next_after(utc(2026, 10, 24, 23, 0), Europe::Berlin),
            Some(utc(2026, 10, 25, 0, 30))
        );
    }

    #[test]
    fn missed_slots_make_one_due_digest() {
        let s = daily("07:00");
        let down_since = utc(2026, 11, 20, 8, 0);
        let now = utc(2026, 11, 26, 12, 0);
        assert!(s.is_due(down_since, Tz::UTC, now));
        // Once sent now, the next slot is tomorrow: nothing more is due today.
        assert!(!s.is_due(now, Tz::UTC, now + chrono::Duration::hours(5)));
        assert!(s.is_due(now, Tz::UTC, utc(2026, 11, 27, 7, 0)));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(Schedule::parse("7am").is_err());
        assert!(Schedule::parse("25:00").is_err());
        assert!(Schedule::parse("0 7 * *").is_err());
        assert!(Schedule::parse("61 7 * * *").is_err());
        let never = Schedule::parse("0 7 30 2 *").map(|_| ()).unwrap_err().to_string();
        assert!(never.contains("matches no date"), "{never}");
        // Leap days come.
        assert!(Schedule::parse("0 7 29 2 *").is_ok());
    }
}
