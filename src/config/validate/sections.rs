//! Validation of the `[digest]` and `[fetch]` sections.

use std::time::Duration;

use lettre::message::Mailbox;
use url::Url;

use super::super::raw::{OneOrMany, RawConfig};
use super::super::{DigestSettings, EncoderSetting, FetchSettings, Images};
use super::{Checker, MAX_INTERVAL, Seg, parse_size};
use crate::i18n::SUBJECT_PLACEHOLDERS;

impl Checker<'_> {
    pub(super) fn digest(&mut self, raw: &RawConfig, from: &Mailbox) -> DigestSettings {
        let digest = raw.digest.as_ref();
        let key = |k| [Seg::Key("digest"), Seg::Key(k)];
        let title = digest
            .and_then(|d| d.title.clone())
            .or_else(|| from.name.clone())
            .unwrap_or_else(|| "Feed Digest".to_owned());
        let excerpt_chars = digest.and_then(|d| d.excerpt_chars).unwrap_or(240);
        if !(20..=1000).contains(&excerpt_chars) {
            self.problem(&key("excerpt_chars"), None, "must be between 20 and 1000");
        }
        let max_items = digest.and_then(|d| d.max_items).unwrap_or(100);
        if max_items == 0 {
            self.problem(&key("max_items"), None, "must be at least 1");
        }
        let mut unsubscribe = Vec::new();
        let addresses = digest.and_then(|d| d.unsubscribe.as_ref()).map(|u| match u {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        });
        for text in addresses.unwrap_or_default() {
            match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "mailto" | "https" | "http") => unsubscribe.push(url),
                _ => self.problem(
                    &key("unsubscribe"),
                    None,
                    format!("{text:?} is not a mailto: or https: URL"),
                ),
            }
        }
        let subject = digest.and_then(|d| d.subject.clone());
        if let Some(template) = &subject {
            let mut rest = template.clone();
            for placeholder in SUBJECT_PLACEHOLDERS {
                rest = rest.replace(placeholder, "");
            }
            if let Some(start) = rest.find('{') {
                let unknown: String = rest[start..]
                    .chars()
                    .take_while(|c| *c != '}')
                    .chain(['}'])
                    .collect();
                self.problem(
                    &key("subject"),
                    None,
                    format!(
                        "unknown placeholder {unknown}; valid: {}",
                        SUBJECT_PLACEHOLDERS.join(", ")
                    ),
                );
            }
        }
        let images = match digest.and_then(|d| d.images.as_deref()).unwrap_or("thumbnail") {
            "none" => Images::None,
            "thumbnail" => Images::Thumbnail,
            other => {
                self.problem(
                    &key("images"),
                    None,
                    format!("{other:?} is not valid; valid: \"none\", \"thumbnail\""),
                );
                Images::Thumbnail
            }
        };
        let follow_up_window = self.duration(
            &key("follow_up_window"),
            digest.and_then(|d| d.follow_up_window.as_deref()),
            Duration::from_secs(48 * 3600),
        );
        if follow_up_window > Duration::from_secs(7 * 24 * 3600) {
            self.problem(
                &key("follow_up_window"),
                None,
                "must be at most 7 days (what was sent is kept a week)",
            );
        }
        DigestSettings {
            title,
            subject,
            excerpt_chars,
            max_items: max_items.max(1),
            images,
            unsubscribe,
            fold_stories: digest.and_then(|d| d.fold_stories).unwrap_or(true),
            follow_up_window,
            encoder: match digest.and_then(|d| d.encoder.as_deref()) {
                None | Some("auto") => EncoderSetting::Auto,
                Some("off") => EncoderSetting::Off,
                Some(dir) => EncoderSetting::Dir(self.path(Some(dir), ".")),
            },
        }
    }

    pub(super) fn fetch(&mut self, raw: &RawConfig) -> FetchSettings {
        let fetch = raw.fetch.as_ref();
        let default = FetchSettings::default();
        let key = |k| [Seg::Key("fetch"), Seg::Key(k)];
        let timeout = self.duration(
            &key("timeout"),
            fetch.and_then(|f| f.timeout.as_deref()),
            default.timeout,
        );
        let connect_timeout = self.duration(
            &key("connect_timeout"),
            fetch.and_then(|f| f.connect_timeout.as_deref()),
            default.connect_timeout,
        );
        let max_body_bytes = match fetch.and_then(|f| f.max_body_size.as_deref()) {
            None => default.max_body_bytes,
            Some(text) => parse_size(text).unwrap_or_else(|| {
                self.problem(
                    &key("max_body_size"),
                    None,
                    format!("{text:?} is not a size; write e.g. \"16MiB\", \"512KiB\""),
                );
                default.max_body_bytes
            }),
        };
        let concurrency = fetch.and_then(|f| f.concurrency).unwrap_or(default.concurrency);
        if !(1..=256).contains(&concurrency) {
            self.problem(&key("concurrency"), None, "must be between 1 and 256");
        }
        let per_host = fetch.and_then(|f| f.per_host).unwrap_or(default.per_host);
        if !(1..=64).contains(&per_host) {
            self.problem(&key("per_host"), None, "must be between 1 and 64");
        }
        let min_interval = self.duration(
            &key("min_interval"),
            fetch.and_then(|f| f.min_interval.as_deref()),
            default.min_interval,
        );
        let max_interval = self.duration(
            &key("max_interval"),
            fetch.and_then(|f| f.max_interval.as_deref()),
            default.max_interval,
        );
        if min_interval < Duration::from_secs(60) {
            self.problem(&key("min_interval"), None, "must be at least 1 minute");
        }
        if max_interval > MAX_INTERVAL {
            self.problem(&key("max_interval"), None, "must be at most 30 days");
        }
        if max_interval < min_interval {
            self.problem(
                &key("max_interval"),
                None,
                "must not be shorter than min_interval",
            );
        }
        let stale_after = self.duration(
            &key("stale_after"),
            fetch.and_then(|f| f.stale_after.as_deref()),
            default.stale_after,
        );
        FetchSettings {
            timeout,
            connect_timeout,
            max_body_bytes,
            concurrency: concurrency.clamp(1, 256),
            per_host: per_host.clamp(1, 64),
            min_interval: min_interval.clamp(Duration::from_secs(60), MAX_INTERVAL),
            max_interval: max_interval.clamp(
                min_interval.clamp(Duration::from_secs(60), MAX_INTERVAL),
                MAX_INTERVAL,
            ),
            stale_after,
        }
    }
}
