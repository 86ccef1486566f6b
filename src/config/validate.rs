//! Raw → typed: every check that needs more than the file's shape.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use url::Url;

use super::raw::{RawConfig, RawWeb};
use super::{Config, ConfigError, FirstPollWindow, PollSchedule, Problem, Secret, StoreChoice, WebSettings};
use crate::schedule::parse_cron;

mod delivery;
mod entries;
mod sections;
mod unknown;

const DEFAULT_STATE_DIR: &str = "/var/lib/feed-digest";
const DEFAULT_FROM: &str = "Feed Digest <feed-digest@localhost>";
const CREDENTIAL_NAME: &str = "smtp-password";

pub(super) fn parse(
    text: &str,
    origin: Option<&Path>,
    base_dir: &Path,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let origin_name = origin.map_or_else(|| "<config>".to_owned(), |p| p.display().to_string());
    // The file alone first: toml's errors carry the line and the list of valid keys.
    if let Err(err) = toml::from_str::<RawConfig>(text) {
        let start = err.span().map_or(0, |span| span.start);
        let (line, column) = err.span().map_or((1, 1), |_| line_column(text, start));
        return Err(ConfigError::Syntax {
            origin: origin_name,
            line,
            column,
            message: unknown::explain(text, start, err.message().trim()),
        });
    }
    let raw = merge_environment(text, env).map_err(|message| ConfigError::Environment {
        origin: origin_name.clone(),
        message,
    })?;
    let mut checker = Checker {
        text,
        base_dir,
        problems: Vec::new(),
    };
    let config = checker.config(raw);
    match config {
        Some(config) if checker.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            origin: origin_name,
            problems: checker.problems,
        }),
    }
}

/// Layers the environment over the file with the `config` crate.
fn merge_environment(text: &str, env: &[(String, String)]) -> Result<RawConfig, String> {
    let vars: config::Map<String, String> = env.iter().cloned().collect();
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix(super::ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(vars)),
        )
        .build()
        .and_then(config::Config::try_deserialize::<RawConfig>)
        .map_err(|err| err.to_string())
}

fn line_column(text: &str, byte_offset: usize) -> (usize, usize) {
    let before = text.get(..byte_offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A step of a key path: a table key or an array index.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct Checker<'a> {
    text: &'a str,
    base_dir: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, path: &[Seg<'_>], label: Option<&str>, message: impl Into<String>) {
        let mut key = String::new();
        for seg in path {
            match seg {
                Seg::Key(k) if key.is_empty() => key.push_str(k),
                Seg::Key(k) => {
                    key.push('.');
                    key.push_str(k);
                }
                Seg::Index(i) => {
                    key.push_str(&format!("[{i}]"));
                    if let Some(label) = label {
                        key.push_str(&format!(" ({label})"));
                    }
                }
            }
        }
        let line = self.line_of(path);
        self.problems.push(Problem {
            key,
            line,
            message: message.into(),
        });
    }

    /// The line where `path` is written in the file, if it is written there
    /// (an environment override has no line).
    fn line_of(&self, path: &[Seg<'_>]) -> Option<usize> {
        let root = toml::de::DeTable::parse(self.text).ok()?;
        let mut span = root.span();
        let root_value = toml::de::DeValue::Table(root.into_inner());
        let mut current = &root_value;
        for seg in path {
            let next = match seg {
                Seg::Key(k) => current.get(*k)?,
                Seg::Index(i) => current.get(*i)?,
            };
            span = next.span();
            current = next.get_ref();
        }
        Some(line_column(self.text, span.start).0)
    }

    fn path(&self, raw: Option<&str>, default: &str) -> PathBuf {
        let path = PathBuf::from(raw.unwrap_or(default));
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }

    fn duration(&mut self, path: &[Seg<'_>], raw: Option<&str>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(text) => match humantime::parse_duration(text.trim()) {
                // Added to a date, a longer one overflows the calendar.
                Ok(d) if d > MAX_DURATION => {
                    self.problem(path, None, format!("{text:?} is longer than 100 years"));
                    default
                }
                Ok(d) => d,
                Err(err) => {
                    self.problem(
                        path,
                        None,
                        format!("{text:?} is not a duration ({err}); write e.g. \"30s\", \"10m\", \"24h\""),
                    );
                    default
                }
            },
        }
    }

    fn config(&mut self, raw: RawConfig) -> Option<Config> {
        let state_dir = match (&raw.state_dir, std::env::var_os("STATE_DIRECTORY")) {
            (Some(dir), _) => self.path(Some(dir), DEFAULT_STATE_DIR),
            // systemd's StateDirectory= sets this; honour it when the file is silent.
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => PathBuf::from(DEFAULT_STATE_DIR),
        };
        let poll = self.poll(raw.poll.as_deref());
        let first_poll_window = match raw.first_poll_window.as_deref().map(str::trim) {
            Some("all") => FirstPollWindow::All,
            other => FirstPollWindow::Within(self.duration(
                &[Seg::Key("first_poll_window")],
                other,
                Duration::from_secs(24 * 3600),
            )),
        };
        let max_new_per_poll = raw.max_new_per_poll.unwrap_or(50);
        if max_new_per_poll == 0 {
            self.problem(&[Seg::Key("max_new_per_poll")], None, "must be at least 1");
        }
        let retention = self.duration(
            &[Seg::Key("retention")],
            raw.retention.as_deref(),
            Duration::from_secs(180 * 24 * 3600),
        );
        if let Some(filter) = &raw.log
            && let Err(err) = tracing_subscriber::EnvFilter::try_new(filter)
        {
            self.problem(&[Seg::Key("log")], None, format!("{filter:?} is not a log filter ({err}); write e.g. \"info\" or \"warn,feed_digest=debug\""));
        }
        let metrics_listen = raw.metrics_listen.as_deref().and_then(|text| match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.problem(
                    &[Seg::Key("metrics_listen")],
                    None,
                    format!("{text:?} is not an address and port; write e.g. \"127.0.0.1:9187\""),
                );
                None
            }
        });
        let shutdown_timeout = self.duration(
            &[Seg::Key("shutdown_timeout")],
            raw.shutdown_timeout.as_deref(),
            Duration::from_secs(30),
        );
        let (delivery, from) = self.delivery(&raw);
        let digest = self.digest(&raw, &from);
        let fetch = self.fetch(&raw);
        let web = raw.web.as_ref().and_then(|web| self.web(web, &state_dir));
        let store = self.store(&raw);
        let store_lease = self.duration(
            &[Seg::Key("store_lease")],
            raw.store_lease.as_deref(),
            Duration::from_secs(10 * 60),
        );
        if store_lease < Duration::from_secs(1) {
            self.problem(&[Seg::Key("store_lease")], None, "must be at least 1s");
        }
        // A killed instance's feeds and subscribers wait this long for another.
        if store_lease > Duration::from_secs(24 * 3600) {
            self.problem(&[Seg::Key("store_lease")], None, "must be at most 1day");
        }
        // An id is forgotten `retention` after its feed last showed it, once
        // it left the feed: an item that left between two polls further
        // apart than that could be forgotten as soon as it is found gone.
        let min_retention = (fetch.max_interval * 2).max(MIN_RETENTION);
        if retention < min_retention {
            self.problem(
                &[Seg::Key("retention")],
                None,
                format!(
                    "must be at least {} (a week, and twice [fetch] max_interval), or ids still in their feed could be forgotten and delivered again",
                    humantime::format_duration(min_retention)
                ),
            );
        }
        let feeds = self.feeds(&raw.feeds);
        let topics = self.topics(&raw.topics, &feeds);
        let subscribers = self.subscribers(&raw.subscribers, &topics, &feeds, digest.max_items);
        Some(Config {
            state_dir,
            poll,
            first_poll_window,
            max_new_per_poll: max_new_per_poll.max(1),
            retention,
            log: raw.log.clone(),
            metrics_listen,
            shutdown_timeout,
            delivery: delivery?,
            from,
            digest,
            fetch,
            web,
            store: store?,
            store_lease: store_lease.max(Duration::from_secs(1)),
            feeds,
            topics,
            subscribers,
        })
    }

    fn store(&mut self, raw: &RawConfig) -> Option<StoreChoice> {
        let path = [Seg::Key("store")];
        let text = match raw.store.as_deref().map(str::trim) {
            None | Some("sled") => {
                if raw.store_password_file.is_some() {
                    self.problem(
                        &[Seg::Key("store_password_file")],
                        None,
                        "is for a database store; set store = \"postgres://…\" or remove it",
                    );
                }
                return Some(StoreChoice::Sled);
            }
            Some(text) => text,
        };
        let url = match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => url,
            _ => {
                self.problem(
                    &path,
                    None,
                    "is \"sled\" (the default) or a database URL, e.g. \"postgres://feed_digest@db.example.org/feed_digest?sslmode=require\"",
                );
                return None;
            }
        };
        if url.password().is_some() {
            self.problem(
                &path,
                None,
                "holds a password: put it in store_password_file or the systemd credential store-password, where no log or process listing shows it",
            );
            return None;
        }
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join("store-password"))
            .filter(|path| path.exists());
        let file = match (&raw.store_password_file, credential) {
            (Some(file), _) => Some(self.path(Some(file), ".")),
            (None, credential) => credential,
        };
        let password = match file {
            None => None,
            Some(file) => match std::fs::read_to_string(&file) {
                Ok(text) => Some(Secret::new(text.trim_end_matches(['\r', '\n']).to_owned())),
                Err(err) => {
                    self.problem(
                        &[Seg::Key("store_password_file")],
                        None,
                        format!("cannot read {}: {err}", file.display()),
                    );
                    return None;
                }
            },
        };
        Some(StoreChoice::Postgres {
            url: text.to_owned(),
            password,
        })
    }

    fn web(&mut self, raw: &RawWeb, state_dir: &Path) -> Option<WebSettings> {
        let listen = match raw.listen.as_deref().map(str::parse) {
            Some(Ok(addr)) => Some(Some(addr)),
            None => Some(None),
            Some(Err(_)) => {
                self.problem(
                    &[Seg::Key("web"), Seg::Key("listen")],
                    None,
                    "is not an address and port; write e.g. \"127.0.0.1:8080\"",
                );
                None
            }
        };
        let archive_retention = self.duration(
            &[Seg::Key("web"), Seg::Key("archive_retention")],
            raw.archive_retention.as_deref(),
            Duration::from_secs(90 * 24 * 3600),
        );
        let base_url = match raw.base_url.as_deref().map(Url::parse) {
            Some(Ok(url)) if is_public_address(&url) => Some(url),
            Some(Ok(url)) => {
                self.problem(
                    &[Seg::Key("web"), Seg::Key("base_url")],
                    None,
                    format!("{url} must be https (mail providers post one-click unsubscribes only to https; plain http is for a loopback address)"),
                );
                None
            }
            Some(Err(err)) => {
                self.problem(
                    &[Seg::Key("web"), Seg::Key("base_url")],
                    None,
                    format!(
                        "not a URL ({err}); write the public address, e.g. \"https://digest.example.org\""
                    ),
                );
                None
            }
            None => {
                self.problem(
                    &[Seg::Key("web"), Seg::Key("base_url")],
                    None,
                    "needs the public address readers reach the endpoint at, e.g. \"https://digest.example.org\"",
                );
                None
            }
        };
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join("web-key"))
            .filter(|path| path.exists());
        let (key_file, must_exist) = match (&raw.key_file, credential) {
            (Some(file), _) => (self.path(Some(file), "."), true),
            (None, Some(path)) => (path, true),
            (None, None) => (state_dir.join("web.key"), false),
        };
        let key = match crate::links::read_key(&key_file) {
            Ok(key) => Some(key),
            Err(crate::links::KeyError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !must_exist =>
            {
                None
            }
            Err(err) => {
                self.problem(&[Seg::Key("web"), Seg::Key("key_file")], None, err.to_string());
                None
            }
        };
        Some(WebSettings {
            listen: listen?,
            base_url: base_url?,
            archive_retention,
            archive_dir: match &raw.archive_dir {
                Some(dir) => self.path(Some(dir), "."),
                None => state_dir.join("archive"),
            },
            key_file,
            key,
        })
    }

    fn poll(&mut self, raw: Option<&str>) -> PollSchedule {
        let default = PollSchedule::Every(Duration::from_secs(30 * 60));
        let Some(text) = raw.map(str::trim) else {
            return default;
        };
        if text.split_whitespace().count() == 5 {
            return match parse_cron(text) {
                Ok(_) => PollSchedule::Cron(text.to_owned()),
                Err(err) => {
                    self.problem(
                        &[Seg::Key("poll")],
                        None,
                        format!("bad cron line {text:?}: {err}"),
                    );
                    default
                }
            };
        }
        match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(60) => PollSchedule::Every(d),
            Ok(_) => {
                self.problem(&[Seg::Key("poll")], None, "must be at least 1 minute");
                default
            }
            Err(_) => {
                self.problem(
                    &[Seg::Key("poll")],
                    None,
                    format!("{text:?} is neither a duration (\"30m\", \"2h\") nor a 5-field cron line (\"*/30 * * * *\")"),
                );
                default
            }
        }
    }
}

/// The longest duration any setting takes.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The shortest `retention` accepted, whatever the fetch bounds.
const MIN_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest wait between two polls of a feed that the config may ask for.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

fn fallback_from() -> Mailbox {
    // A constant, not input: it parses or the tests fail.
    #[allow(clippy::expect_used, reason = "a constant that the tests parse")]
    DEFAULT_FROM.parse().expect("DEFAULT_FROM is a valid mailbox")
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "(none defined)".to_owned()
    } else {
        list.join(", ")
    }
}

fn unknown_zone_message(name: &str) -> String {
    let lower = name.to_lowercase();
    let last = lower.rsplit('/').next().unwrap_or(&lower).to_owned();
    let suggestions: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|candidate| {
            let c = candidate.to_lowercase();
            c == lower || (!last.is_empty() && c.rsplit('/').next() == Some(last.as_str()))
        })
        .take(3)
        .collect();
    if suggestions.is_empty() {
        format!(
            "unknown time zone {name:?}; use an IANA name such as \"Asia/Shanghai\", \"Europe/Berlin\" or \"UTC\""
        )
    } else {
        format!(
            "unknown time zone {name:?}; did you mean {}?",
            suggestions.join(" or ")
        )
    }
}

/// `"16MiB"`, `"512 KiB"`, `"1000000"`, `"2MB"` → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(text.len(), |(i, _)| i);
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1024,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1024 * 1024,
        "gib" | "g" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor).filter(|n| *n > 0)
}

/// An https URL, or http on a loopback address (tests, a local proxy).
fn is_public_address(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Some(512 * 1024));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("0"), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\n名字 = 2\n";
        let offset = text.find('2').unwrap_or_default();
        assert_eq!(line_column(text, offset), (2, 6));
    }

    #[test]
    fn zone_suggestion_matches_the_city() {
        let message = unknown_zone_message("asia/shanghai");
        assert!(message.contains("Asia/Shanghai"), "{message}");
    }
}
