//! Each kind of bad config gives its own precise message.

use std::path::Path;

use feed_digest::config::{Config, ConfigError};

const GOOD: &str = r#"
state_dir = "/var/lib/feed-digest"
poll = "30m"
first_poll_window = "24h"

[smtp]
host = "smtp.example.org"
port = 587
security = "starttls"
from = "Morning Digest <digest@example.org>"

[[feeds]]
url = "https://example.cn/rss/world.xml"
name = "World (中文)"
topics = ["国际"]

[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "金正恩", "North Korea", "Pyongyang"]

[[subscribers]]
email = "alice@example.org"
name = "Alice"
schedule = "07:00"
timezone = "Asia/Shanghai"
topics = ["朝鲜半岛"]
feeds = ["World (中文)"]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(
        text,
        Some(Path::new("/etc/feed-digest/config.toml")),
        Path::new("/etc/feed-digest"),
        &[],
    )
}

/// Replaces `from` in the good config (once) and returns the error text.
#[track_caller]
fn error_after(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "fixture does not contain {from:?}");
    let text = GOOD.replacen(from, to, 1);
    match parse(&text) {
        Ok(_) => panic!("config with {to:?} was accepted"),
        Err(err) => err.to_string(),
    }
}

#[track_caller]
fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} missing from:\n{message}");
    }
}

#[test]
fn the_issue_example_parses() {
    let config = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.feeds.len(), 1);
    assert_eq!(config.subscribers[0].timezone, chrono_tz::Asia::Shanghai);
    // Rule topics first, then topics only feeds name.
    let names: Vec<_> = config.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["朝鲜半岛", "国际"]);
    assert_eq!(
        config.subscribers[0].filter.feeds.as_deref(),
        Some(&["https://example.cn/rss/world.xml".to_owned()][..])
    );
}

#[test]
fn keywords_written_with_a_capital_are_case_sensitive_in_every_list() {
    let text = GOOD
        .replace(
            r#"keywords = ["朝鲜", "金正恩", "North Korea", "Pyongyang"]"#,
            "keywords = [\"Go\", \" rust \", \"ＡＩ\", \"ｒｕｓｔ\", \"朝鮮\"]\n\
             all = [\"LLVM\", \"compiler\"]\nexclude = [\"WWDC\", \"game\"]",
        )
        .replace(
            r#"feeds = ["World (中文)"]"#,
            "feeds = [\"World (中文)\"]\nexclude_keywords = [\"Crypto\", \"nft\", \"足球\"]",
        );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let modes = |list: &[feed_digest::topics::Keyword]| -> Vec<(String, bool)> {
        list.iter()
            .map(|k| (k.as_str().to_owned(), k.is_case_sensitive()))
            .collect()
    };
    let owned = |list: &[(&str, bool)]| -> Vec<(String, bool)> {
        list.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
    };
    let topic = &config.topics[0];
    assert_eq!(
        modes(&topic.keywords),
        owned(&[
            ("Go", true),
            ("rust", false),
            ("AI", true),
            ("rust", false),
            ("朝鲜", false)
        ])
    );
    assert_eq!(modes(&topic.all), owned(&[("LLVM", true), ("compiler", false)]));
    assert_eq!(modes(&topic.exclude), owned(&[("WWDC", true), ("game", false)]));
    assert_eq!(
        modes(&config.subscribers[0].filter.exclude_keywords),
        owned(&[("Crypto", true), ("nft", false), ("足球", false)])
    );
}

#[test]
fn the_shipped_example_and_demo_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for name in ["example.toml", "demo.toml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The example names a password file that does not exist here; give the password by env.
        let env = [("FEED_DIGEST_SMTP__PASSWORD".to_owned(), "secret".to_owned())];
        if let Err(err) = Config::parse(&text, Some(&root.join(name)), &root, &env) {
            panic!("{name}: {err}");
        }
    }
}

#[test]
fn unknown_key_names_the_key_the_line_and_the_valid_ones() {
    let message = error_after("name = \"Alice\"", "nmae = \"Alice\"");
    assert_contains(&message, &["config.toml:", "nmae", "email", "timezone"]);
    let line = GOOD
        .lines()
        .position(|l| l.contains("name = \"Alice\""))
        .map(|i| i + 1);
    assert!(message.contains(&format!(":{}:", line.unwrap_or(0))), "{message}");
}

#[test]
fn unknown_key_names_the_entry_and_suggests_the_closest_key() {
    let message = error_after("schedule = \"07:00\"", "schedul = \"07:00\"");
    assert_contains(
        &message,
        &[
            "subscribers[0] (alice@example.org): unknown field `schedul`",
            "did you mean `schedule`?",
        ],
    );
    let message = error_after("port = 587", "prot = 587");
    assert_contains(&message, &["smtp: unknown field `prot`", "did you mean `port`?"]);
    // Nothing close: no guess.
    let message = error_after("name = \"Alice\"", "colour = \"blue\"");
    assert!(!message.contains("did you mean"), "{message}");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let message = error_after("poll = \"30m\"", "poll = \"30m");
    assert_contains(&message, &["config.toml:3:"]);
}

#[test]
fn bad_url_names_the_feed() {
    let message = error_after("https://example.cn/rss/world.xml", "ftp://example.cn/rss");
    assert_contains(
        &message,
        &["feeds[0] (World (中文)).url", "ftp://example.cn/rss", "http(s)"],
    );
}

#[test]
fn unknown_time_zone_suggests_the_right_one() {
    let message = error_after("Asia/Shanghai", "asia/shanghai");
    assert_contains(
        &message,
        &[
            "subscribers[0] (alice@example.org).timezone",
            "did you mean Asia/Shanghai",
        ],
    );
    let message = error_after("Asia/Shanghai", "Mars/Olympus");
    assert_contains(&message, &["unknown time zone \"Mars/Olympus\"", "IANA"]);
}

#[test]
fn bad_schedule_says_what_is_valid() {
    let message = error_after("schedule = \"07:00\"", "schedule = \"7am\"");
    assert_contains(
        &message,
        &["subscribers[0] (alice@example.org).schedule", "\"07:00\"", "cron"],
    );
    let message = error_after("schedule = \"07:00\"", "schedule = \"0 25 * * *\"");
    assert_contains(&message, &["not a valid cron line"]);
}

#[test]
fn unknown_topic_lists_the_defined_ones() {
    let message = error_after("topics = [\"朝鲜半岛\"]", "topics = [\"朝鮮\"]");
    assert_contains(
        &message,
        &[
            "subscribers[0] (alice@example.org).topics",
            "no topic named \"朝鮮\"",
            "\"朝鲜半岛\", \"国际\"",
        ],
    );
}

#[test]
fn unknown_feed_lists_the_defined_ones() {
    let message = error_after("feeds = [\"World (中文)\"]", "feeds = [\"World\"]");
    assert_contains(
        &message,
        &[
            "subscribers[0] (alice@example.org).feeds",
            "no feed named \"World\"",
            "\"World (中文)\"",
        ],
    );
}

#[test]
fn problems_carry_the_line_of_the_key() {
    let message = error_after("timezone = \"Asia/Shanghai\"", "timezone = \"Nowhere\"");
    let line = GOOD
        .lines()
        .position(|l| l.contains("timezone ="))
        .map_or(0, |i| i + 1);
    assert_contains(&message, &[&format!("line {line}:")]);
}

#[test]
fn bad_security_and_duration_and_mailbox() {
    assert_contains(
        &error_after("\"starttls\"", "\"ssl\""),
        &["smtp.security", "\"starttls\", \"tls\", \"none\""],
    );
    assert_contains(
        &error_after("poll = \"30m\"", "poll = \"often\""),
        &["poll", "cron"],
    );
    assert_contains(
        &error_after("first_poll_window = \"24h\"", "first_poll_window = \"one day\""),
        &["first_poll_window"],
    );
    assert_contains(
        &error_after("Morning Digest <digest@example.org>", "digest at example"),
        &["smtp.from", "mailbox"],
    );
    assert_contains(
        &error_after("alice@example.org", "alice"),
        &["subscribers[0]", "not an email address"],
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = GOOD.replace("Asia/Shanghai", "Nowhere").replace("07:00", "7am");
    let Err(ConfigError::Invalid { problems, .. }) = parse(&text) else {
        panic!("expected validation problems");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    let text = GOOD
        .replace("\"starttls\"", "\"ssl\"")
        .replace("Asia/Shanghai", "Nowhere");
    let Err(ConfigError::Invalid { problems, .. }) = parse(&text) else {
        panic!("expected validation problems");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn environment_overrides_the_file() {
    let env = [
        ("FEED_DIGEST_SMTP__HOST".to_owned(), "relay.internal".to_owned()),
        ("FEED_DIGEST_POLL".to_owned(), "2h".to_owned()),
    ];
    let config = Config::parse(GOOD, None, Path::new("/"), &env).unwrap_or_else(|e| panic!("{e}"));
    let feed_digest::config::Delivery::Smtp(smtp) = &config.delivery else {
        panic!("expected SMTP delivery");
    };
    assert_eq!(smtp.host, "relay.internal");
    assert!(matches!(config.poll, feed_digest::config::PollSchedule::Every(d) if d.as_secs() == 7200));
}

#[test]
fn password_never_shows_in_debug_output() {
    let text = GOOD.replace(
        "port = 587",
        "port = 587\nusername = \"digest\"\npassword = \"hunter2-secret\"",
    );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{config:?}").contains("hunter2-secret"));
}

#[test]
fn fetch_bounds_strip_selectors_and_follow_up_window_are_checked() {
    let message = error_after(
        "topics = [\"国际\"]",
        "topics = [\"国际\"]\nstrip_selectors = [\"div..share\"]\ninterval = \"10s\"",
    );
    assert_contains(
        &message,
        &[
            "(World (中文)).strip_selectors",
            "\"div..share\" is not a CSS selector",
            "(World (中文)).interval",
            "at least 1 minute",
        ],
    );
    // Added to a date, such a lease or retention would overflow the calendar.
    let message = error_after("poll = \"30m\"", "poll = \"30m\"\nstore_lease = \"300000y\"");
    assert_contains(&message, &["store_lease", "longer than 100 years"]);
    let message = error_after("poll = \"30m\"", "poll = \"30m\"\nstore_lease = \"2days\"");
    assert_contains(&message, &["store_lease", "must be at most 1day"]);
    let message = error_after("poll = \"30m\"", "poll = \"30m\"\nretention = \"300000y\"");
    assert_contains(&message, &["retention", "longer than 100 years"]);
    let message = error_after("poll = \"30m\"", "poll = \"30m\"\nretention = \"2days\"");
    assert_contains(&message, &["retention", "must be at least 7days"]);
    let message = error_after(
        "[smtp]",
        "retention = \"20days\"\n[fetch]\nmax_interval = \"15days\"\n[smtp]",
    );
    assert_contains(&message, &["retention", "must be at least 30days"]);
    let message = error_after(
        "[smtp]",
        "[fetch]\nper_host = 0\nmin_interval = \"2h\"\nmax_interval = \"1h\"\n[digest]\nfollow_up_window = \"30days\"\n[smtp]",
    );
    assert_contains(
        &message,
        &[
            "fetch.per_host",
            "between 1 and 64",
            "fetch.max_interval",
            "must not be shorter than min_interval",
            "digest.follow_up_window",
            "at most 7 days",
        ],
    );
}
