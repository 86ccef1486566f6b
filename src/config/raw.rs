//! The config file as written: plain strings, checked only for shape.
//!
//! Every table denies unknown keys so a typo is an error, not a silent default.
//! `super::validate` turns these into the typed values the rest of the program uses.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub state_dir: Option<String>,
    pub poll: Option<String>,
    pub first_poll_window: Option<String>,
    pub max_new_per_poll: Option<usize>,
    pub retention: Option<String>,
    pub log: Option<String>,
    pub metrics_listen: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub smtp: Option<RawSmtp>,
    pub delivery: Option<RawDelivery>,
    pub digest: Option<RawDigest>,
    pub fetch: Option<RawFetch>,
    pub web: Option<RawWeb>,
    pub store: Option<String>,
    pub store_password_file: Option<String>,
    pub store_lease: Option<String>,
    #[serde(default)]
    pub feeds: Vec<RawFeed>,
    #[serde(default)]
    pub topics: Vec<RawTopic>,
    #[serde(default)]
    pub subscribers: Vec<RawSubscriber>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub key_file: Option<String>,
    pub archive_retention: Option<String>,
    pub archive_dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub from: Option<String>,
    pub ca_file: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub transport: Option<String>,
    pub dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDigest {
    pub title: Option<String>,
    pub subject: Option<String>,
    pub excerpt_chars: Option<usize>,
    pub max_items: Option<usize>,
    pub images: Option<String>,
    pub unsubscribe: Option<OneOrMany>,
    pub fold_stories: Option<bool>,
    pub follow_up_window: Option<String>,
    pub encoder: Option<String>,
}

/// A key that takes one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFetch {
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub max_body_size: Option<String>,
    pub concurrency: Option<usize>,
    pub per_host: Option<usize>,
    pub min_interval: Option<String>,
    pub max_interval: Option<String>,
    pub stale_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeed {
    pub url: String,
    pub name: Option<String>,
    pub interval: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub strip: Vec<String>,
    #[serde(default)]
    pub strip_selectors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub all: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscriber {
    pub email: String,
    pub name: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub topics: Option<Vec<String>>,
    pub feeds: Option<Vec<String>>,
    pub max_items: Option<usize>,
    pub language: Option<String>,
    #[serde(default)]
    pub exclude_topics: Vec<String>,
    #[serde(default)]
    pub exclude_keywords: Vec<String>,
}
