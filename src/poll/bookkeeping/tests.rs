//! A feed's state after each kind of poll, as a table.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;

use super::{record_failure, record_fetch_failure, record_success};
use crate::config::Config;
use crate::feed_state::FeedState;
use crate::fetch::{FetchError, ResponseInfo};

fn config() -> Config {
    let dir = std::env::temp_dir();
    let text = "state_dir = \"state\"\n[delivery]\ntransport = \"file\"\ndir = \"mail\"\n[smtp]\nfrom = \"d@example.org\"\n\
                [[feeds]]\nurl = \"https://example.org/feed.xml\"\n[[subscribers]]\nemail = \"a@example.org\"\n";
    match Config::parse(text, None, &dir, &[]) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
}

fn status(code: u16, retry_after: Option<DateTime<Utc>>) -> FetchError {
    FetchError::Status {
        url: "https://example.org/feed.xml".to_owned(),
        status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        retry_after,
    }
}

enum Event {
    Success,
    Failure(&'static str),
    Fetch(FetchError),
}

#[test]
fn transitions() {
    let config = config();
    let feed = &config.feeds[0];
    let failing = FeedState {
        failures: 3,
        last_error: Some("boom".into()),
        last_error_at: Some(now() - TimeDelta::hours(1)),
        next_attempt: Some(now() + TimeDelta::minutes(20)),
        gone: true,
        ..FeedState::default()
    };
    let moved = FeedState {
        moved_to: Some("https://new.example.org/feed.xml".into()),
        ..FeedState::default()
    };
    let later = now() + TimeDelta::hours(2);
    type Check = fn(&FeedState) -> bool;
    let table: Vec<(&str, FeedState, Event, Check)> = vec![
        (
            "a first success schedules the next poll",
            FeedState::default(),
            Event::Success,
            |s| s.last_success == Some(now()) && s.failures == 0 && s.next_poll.is_some_and(|at| at > now()),
        ),
        (
            "a success clears the failure state",
            failing.clone(),
            Event::Success,
            |s| {
                s.failures == 0
                    && s.last_error.is_none()
                    && s.next_attempt.is_none()
                    && !s.gone
                    && !s.is_failing()
            },
        ),
        (
            "a first failure backs off 5 minutes",
            FeedState::default(),
            Event::Failure("timed out"),
            |s| {
                s.failures == 1
                    && s.next_attempt == Some(now() + TimeDelta::minutes(5))
                    && s.next_poll == s.next_attempt
                    && s.is_failing()
            },
        ),
        (
            "the backoff doubles",
            failing.clone(),
            Event::Failure("timed out"),
            |s| s.failures == 4 && s.next_attempt == Some(now() + TimeDelta::minutes(40)),
        ),
        (
            "a 410 marks the feed gone",
            FeedState::default(),
            Event::Fetch(status(410, None)),
            |s| s.gone && s.failures == 1,
        ),
        (
            "a later Retry-After wins over the backoff",
            FeedState::default(),
            Event::Fetch(status(503, Some(later))),
            |s| s.retry_after == Some(now() + TimeDelta::hours(2)) && s.next_poll == s.retry_after,
        ),
        (
            "an adopted URL that 404s is given up",
            moved,
            Event::Fetch(status(404, None)),
            |s| s.moved_to.is_none() && !s.gone,
        ),
    ];
    for (name, mut state, event, check) in table {
        match event {
            Event::Success => record_success(&config, feed, &mut state, &ResponseInfo::default(), now()),
            Event::Failure(message) => record_failure(&config, feed, &mut state, message.to_owned(), now()),
            Event::Fetch(error) => record_fetch_failure(&config, feed, &mut state, &error, now()),
        }
        assert!(check(&state), "{name}: {state:#?}");
    }
}
