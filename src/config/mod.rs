//! Configuration: one TOML file plus `FEED_DIGEST_*` environment overrides,
//! parsed once at start-up into typed, validated values.
//!
//! Two phases, as in ripgrep: [`raw`] mirrors the file (strings, shape only),
//! [`validate`] builds the typed [`Config`] and reports every problem at once,
//! naming the key, the entry and, where the file shows it, the line.

mod error;
mod raw;
mod secret;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use url::Url;

pub use error::{ConfigError, Problem};
pub use secret::Secret;

use crate::i18n::Language;
use crate::schedule::Schedule;
use crate::topics::Topic;

/// Where `feed-digest` looks when neither `--config` nor `FEED_DIGEST_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/feed-digest/config.toml";

/// The environment prefix; `__` separates levels (`FEED_DIGEST_SMTP__PASSWORD`).
pub const ENV_PREFIX: &str = "FEED_DIGEST";

#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    pub poll: PollSchedule,
    pub first_poll_window: FirstPollWindow,
    /// At most this many new items per feed per poll, newest first.
    pub max_new_per_poll: usize,
    /// How long a seen id is kept after its item left the feed.
    pub retention: Duration,
    /// A `RUST_LOG`-style log filter ("info", "feed_digest=debug").
    pub log: Option<String>,
    /// Where the daemon serves Prometheus metrics; off when `None`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long SIGTERM waits for the step in flight (a poll, a send).
    pub shutdown_timeout: Duration,
    pub delivery: Delivery,
    pub from: Mailbox,
    pub digest: DigestSettings,
    pub fetch: FetchSettings,
    /// The readers' web endpoint (unsubscribe); off when `None`.
    pub web: Option<WebSettings>,
    /// Where records are kept: sled in `state_dir`, or a shared database.
    pub store: StoreChoice,
    /// How long an instance holds a feed it polls or a subscriber it sends
    /// to; a killed instance's work goes to another after this.
    pub store_lease: Duration,
    pub feeds: Vec<FeedConfig>,
    /// Every topic in section order: the `[[topics]]` rules first, then topics
    /// that only feeds name, in order of first mention.
    pub topics: Vec<Topic>,
    pub subscribers: Vec<Subscriber>,
}

/// `[web]`: the public address that the links in the mail use (a reverse
/// proxy in front of the daemon, or any web server serving the archive),
/// and where the daemon listens for readers.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The endpoint (unsubscribe pages and the archive); `None`: the mail
    /// links the archive only, served by another web server.
    pub listen: Option<std::net::SocketAddr>,
    pub base_url: Url,
    /// Every sent digest as a page, kept this long (`state_dir/archive`).
    pub archive_retention: Duration,
    pub archive_dir: PathBuf,
    /// The file of the key that signs readers' links: `key_file`, else the
    /// systemd credential `web-key` when there is one, else `state_dir/web.key`.
    pub key_file: PathBuf,
    /// The key, when the file exists; the daemon makes `state_dir/web.key`
    /// at start when it does not ([`crate::links::create_key`]).
    pub key: Option<crate::links::Key>,
}

#[derive(Debug, Clone)]
pub enum PollSchedule {
    Every(Duration),
    /// A 5-field cron line, evaluated in UTC.
    Cron(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPollWindow {
    All,
    Within(Duration),
}

#[derive(Debug, Clone)]
pub enum Delivery {
    Smtp(SmtpSettings),
    /// Writes each message as `.eml` plus its `.html` part into `dir`.
    File {
        dir: PathBuf,
    },
}

/// `store = "sled"` (the default) or `store = "postgres://user@host/db"`.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    Sled,
    /// Several instances may share it. The password comes from
    /// `store_password_file` or the systemd credential `store-password`.
    Postgres {
        url: String,
        password: Option<Secret>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, Secret)>,
    /// Extra trust anchor (PEM) for relays with a private CA.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct DigestSettings {
    pub title: String,
    /// A subject template; `None`: the reader's language's default.
    pub subject: Option<String>,
    pub excerpt_chars: usize,
    pub max_items: usize,
    pub images: Images,
    /// `mailto:` and/or `https:` addresses for List-Unsubscribe and the footer.
    pub unsubscribe: Vec<Url>,
    /// Fold the same story from several feeds into one entry.
    pub fold_stories: bool,
    /// A story the reader got this recently, coming back from another feed,
    /// is shown as a follow-up.
    pub follow_up_window: Duration,
    /// Where the sentence encoder for folding by meaning is.
    pub encoder: EncoderSetting,
}

/// `[digest] encoder`: a directory with the model's two files, `"off"`, or
/// (the default) `state_dir/models/usem3` when something is installed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderSetting {
    Auto,
    Off,
    Dir(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    None,
    /// A small picture per article: media:thumbnail, an image enclosure, or
    /// the item's first image (never a tracking pixel).
    Thumbnail,
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body_bytes: u64,
    /// Feeds fetched at the same time, in all.
    pub concurrency: usize,
    /// Feeds fetched at the same time from one host.
    pub per_host: usize,
    /// Bounds on a feed's time between polls, whatever the server hints.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// A feed with nothing new for this long is reported as stale.
    pub stale_after: Duration,
}

impl Default for FetchSettings {
    /// The defaults `[fetch]` documents in config/example.toml.
    fn default() -> FetchSettings {
        FetchSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 16 * 1024 * 1024,
            concurrency: 16,
            per_host: 2,
            min_interval: Duration::from_secs(5 * 60),
            max_interval: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl FetchSettings {
    pub fn bounds(&self) -> crate::cadence::Bounds {
        let delta = |d: Duration| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
        crate::cadence::Bounds {
            min: delta(self.min_interval),
            max: delta(self.max_interval),
        }
    }

    pub fn stale_after(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.stale_after).unwrap_or(chrono::TimeDelta::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSource {
    Http(Url),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The stable key of this feed in the store: the URL or the absolute path as written.
    pub key: String,
    pub source: FeedSource,
    pub name: Option<String>,
    /// This feed's own time between polls, instead of the global `poll`.
    pub interval: Option<Duration>,
    pub topics: Vec<String>,
    /// Patterns removed from every item's text (boilerplate the automatic
    /// detection does not catch).
    pub strip: crate::boilerplate::StripRules,
}

impl FeedConfig {
    /// What topic rules read of this feed: its name and the topics it assigns.
    pub fn topic_source(&self) -> crate::topics::FeedTopics<'_> {
        crate::topics::FeedTopics {
            name: self.name.as_deref().unwrap_or(&self.key),
            topics: &self.topics,
        }
    }

    /// How the feed is named to people: its configured name, else the
    /// feed's own title (as last read), else its URL.
    pub fn display_name(&self, stored_title: Option<&str>) -> String {
        self.name
            .clone()
            .or_else(|| stored_title.map(str::to_owned))
            .unwrap_or_else(|| self.key.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub mailbox: Mailbox,
    pub schedule: Schedule,
    pub timezone: Tz,
    /// Which articles this subscriber wants.
    pub filter: crate::topics::Filter,
    /// At most this many articles per digest.
    pub max_items: usize,
    pub language: Language,
}

impl Subscriber {
    /// The address as a plain string, the subscriber's key in the store.
    pub fn email(&self) -> String {
        self.mailbox.email.to_string()
    }
}

impl Config {
    /// Reads and validates the file at `path`, applying `FEED_DIGEST_*` overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // Absolute: relative paths in the file (a file feed, state_dir) are
        // anchored to it, and a file feed's key is its path; spelled
        // `--config r.toml` or `--config /etc/r.toml`, the keys must agree,
        // or one feed becomes two and its articles come twice.
        let base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
        Self::parse(&text, Some(path), &base_dir, &env_overrides())
    }

    /// Parses config text; `origin` names the file in messages and `base_dir`
    /// anchors relative paths. `env` holds `FEED_DIGEST_*` variables.
    pub fn parse(
        text: &str,
        origin: Option<&Path>,
        base_dir: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        validate::parse(text, origin, base_dir, env)
    }

    pub fn subscriber(&self, email: &str) -> Option<&Subscriber> {
        self.subscribers
            .iter()
            .find(|s| s.mailbox.email.to_string().eq_ignore_ascii_case(email))
    }

    pub fn feed(&self, key: &str) -> Option<&FeedConfig> {
        self.feeds.iter().find(|f| f.key == key)
    }
}

/// `FEED_DIGEST_*` variables that are not settings: the config file's path,
/// the log filter, and the crash tests' fault hook.
pub const NOT_SETTINGS: [&str; 3] = ["FEED_DIGEST_CONFIG", "FEED_DIGEST_LOG", "FEED_DIGEST_FAULT"];

/// The `FEED_DIGEST_*` variables that override settings.
pub fn env_overrides() -> Vec<(String, String)> {
    let prefix = format!("{ENV_PREFIX}_");
    std::env::vars()
        .filter(|(name, _)| name.starts_with(&prefix))
        .filter(|(name, _)| !NOT_SETTINGS.contains(&name.as_str()))
        .collect()
}
