//! Validation of the config's entries: feeds, topics, subscribers.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::Address;
use lettre::message::Mailbox;
use url::Url;

use super::super::raw::{RawFeed, RawSubscriber, RawTopic};
use super::super::{FeedConfig, FeedSource, Subscriber};
use super::{Checker, Seg, or_none, unknown_zone_message};
use crate::i18n::Language;
use crate::schedule::Schedule;
use crate::topics::{Keyword, Topic};

impl Checker<'_> {
    pub(super) fn feeds(&mut self, raw: &[RawFeed]) -> Vec<FeedConfig> {
        let mut feeds: Vec<FeedConfig> = Vec::new();
        // Sets, not searches: a config may list thousands.
        let (mut keys, mut names) = (HashSet::new(), HashSet::new());
        for (i, feed) in raw.iter().enumerate() {
            let label = feed.name.as_deref().unwrap_or(&feed.url);
            let at = |k| [Seg::Key("feeds"), Seg::Index(i), Seg::Key(k)];
            let url = feed.url.trim();
            let source = if url.starts_with("http://") || url.starts_with("https://") {
                match Url::parse(url) {
                    Ok(u) if u.host_str().is_some() => FeedSource::Http(u),
                    Ok(_) => {
                        self.problem(&at("url"), Some(label), format!("{url:?} has no host"));
                        continue;
                    }
                    Err(err) => {
                        self.problem(
                            &at("url"),
                            Some(label),
                            format!("{url:?} is not a valid URL: {err}"),
                        );
                        continue;
                    }
                }
            } else if let Some(path) = url.strip_prefix("file://") {
                FeedSource::File(self.path(Some(path), "."))
            } else if url.contains("://") || url.is_empty() {
                self.problem(
                    &at("url"),
                    Some(label),
                    format!("{url:?} is not an http(s) URL or a file path"),
                );
                continue;
            } else {
                FeedSource::File(self.path(Some(url), "."))
            };
            let key = match &source {
                FeedSource::Http(u) => u.to_string(),
                FeedSource::File(p) => p.display().to_string(),
            };
            if !keys.insert(key.clone()) {
                self.problem(&at("url"), Some(label), "this feed is listed twice");
                continue;
            }
            if let Some(name) = &feed.name
                && !names.insert(name.clone())
            {
                self.problem(
                    &at("name"),
                    Some(label),
                    format!("another feed is already named {name:?}"),
                );
            }
            for topic in &feed.topics {
                if topic.trim().is_empty() {
                    self.problem(&at("topics"), Some(label), "a topic name cannot be empty");
                }
            }
            let interval = feed
                .interval
                .as_deref()
                .map(|text| self.duration(&at("interval"), Some(text), Duration::from_secs(30 * 60)));
            if interval.is_some_and(|d| d < Duration::from_secs(60)) {
                self.problem(&at("interval"), Some(label), "must be at least 1 minute");
            }
            let mut strip = crate::boilerplate::StripRules::default();
            for selector in &feed.strip_selectors {
                match scraper::Selector::parse(selector) {
                    Ok(parsed) => strip.selectors.push(parsed),
                    // scraper's own error text is not meant for users.
                    Err(_) => self.problem(
                        &at("strip_selectors"),
                        Some(label),
                        format!("{selector:?} is not a CSS selector; write e.g. \"div.share\", \"p.promo\", \"aside\""),
                    ),
                }
            }
            for pattern in &feed.strip {
                match regex::Regex::new(pattern) {
                    Ok(regex) => strip.patterns.push(regex),
                    Err(err) => self.problem(
                        &at("strip"),
                        Some(label),
                        format!("{pattern:?} is not a regular expression: {err}"),
                    ),
                }
            }
            feeds.push(FeedConfig {
                key,
                source,
                strip,
                name: feed.name.clone(),
                interval,
                topics: feed.topics.iter().map(|t| t.trim().to_owned()).collect(),
            });
        }
        feeds
    }

    pub(super) fn topics(&mut self, raw: &[RawTopic], feeds: &[FeedConfig]) -> Vec<Topic> {
        let mut topics: Vec<Topic> = Vec::new();
        for (i, topic) in raw.iter().enumerate() {
            let at = |k| [Seg::Key("topics"), Seg::Index(i), Seg::Key(k)];
            let name = topic.name.trim();
            if name.is_empty() {
                self.problem(&at("name"), None, "a topic needs a name");
                continue;
            }
            if topics.iter().any(|t| t.name == name) {
                self.problem(&at("name"), Some(name), "another topic has this name");
                continue;
            }
            if topic
                .keywords
                .iter()
                .chain(&topic.all)
                .chain(&topic.exclude)
                .any(|k| k.trim().is_empty())
            {
                self.problem(&at("keywords"), Some(name), "a keyword cannot be empty");
            }
            let normalized = |list: &[String]| -> Vec<String> {
                list.iter()
                    .map(|k| crate::topics::normalize(k.trim()))
                    .filter(|k| !k.is_empty())
                    .collect()
            };
            let mut regex = Vec::new();
            for pattern in &topic.regex {
                // On the folded text, so folded too.
                let folded = crate::topics::fold_pattern(pattern);
                match regex::RegexBuilder::new(&folded).case_insensitive(true).build() {
                    Ok(compiled) => regex.push(compiled),
                    Err(err) => self.problem(
                        &at("regex"),
                        Some(name),
                        format!("{pattern:?} is not a regular expression: {err}"),
                    ),
                }
            }
            let mut fields = crate::topics::Fields::default();
            if let Some(chosen) = &topic.fields {
                fields = crate::topics::Fields {
                    title: false,
                    text: false,
                    categories: false,
                    feed: false,
                };
                for field in chosen {
                    match field.as_str() {
                        "title" => fields.title = true,
                        "summary" | "content" => fields.text = true,
                        "categories" => fields.categories = true,
                        "feed" => fields.feed = true,
                        other => self.problem(
                            &at("fields"),
                            Some(name),
                            format!("unknown field {other:?}; valid: \"title\", \"summary\", \"content\", \"categories\", \"feed\""),
                        ),
                    }
                }
            }
            topics.push(Topic {
                name: name.to_owned(),
                keywords: keywords(&topic.keywords),
                all: keywords(&topic.all),
                exclude: keywords(&topic.exclude),
                regex,
                fields,
                priority: topic.priority,
                categories: normalized(&topic.categories),
            });
        }
        for feed in feeds {
            for name in &feed.topics {
                if !name.is_empty() && !topics.iter().any(|t| &t.name == name) {
                    topics.push(Topic::named(name));
                }
            }
        }
        topics
    }

    pub(super) fn subscribers(
        &mut self,
        raw: &[RawSubscriber],
        topics: &[Topic],
        feeds: &[FeedConfig],
        default_max_items: usize,
    ) -> Vec<Subscriber> {
        let mut subscribers: Vec<Subscriber> = Vec::new();
        let lookup = FeedLookup::new(feeds);
        let mut emails = HashSet::new();
        for (i, sub) in raw.iter().enumerate() {
            let label = sub.email.as_str();
            let at = |k| [Seg::Key("subscribers"), Seg::Index(i), Seg::Key(k)];
            let address = match Address::from_str(sub.email.trim()) {
                Ok(a) => a,
                Err(err) => {
                    self.problem(
                        &at("email"),
                        Some(label),
                        format!("{:?} is not an email address ({err})", sub.email),
                    );
                    continue;
                }
            };
            if !emails.insert(AsRef::<str>::as_ref(&address).to_ascii_lowercase()) {
                self.problem(&at("email"), Some(label), "this subscriber is listed twice");
                continue;
            }
            let schedule_text = sub.schedule.as_deref().unwrap_or("07:00");
            let schedule = match Schedule::parse(schedule_text) {
                Ok(s) => Some(s),
                Err(err) => {
                    self.problem(&at("schedule"), Some(label), err.to_string());
                    None
                }
            };
            let timezone = match sub.timezone.as_deref() {
                None => Some(Tz::UTC),
                Some(name) => match name.parse::<Tz>() {
                    Ok(tz) => Some(tz),
                    Err(_) => {
                        self.problem(&at("timezone"), Some(label), unknown_zone_message(name));
                        None
                    }
                },
            };
            let topic_filter = sub.topics.as_ref().map(|wanted| {
                for name in wanted {
                    if !topics.iter().any(|t| &t.name == name) {
                        let valid: Vec<_> = topics.iter().map(|t| format!("{:?}", t.name)).collect();
                        self.problem(
                            &at("topics"),
                            Some(label),
                            format!("no topic named {name:?}; valid: {}", or_none(&valid)),
                        );
                    }
                }
                wanted.clone()
            });
            let feed_filter = sub.feeds.as_ref().map(|wanted| {
                let mut keys = Vec::new();
                for name in wanted {
                    match lookup.find(name) {
                        Some(f) => keys.push(f.key.clone()),
                        None => {
                            let valid: Vec<_> = feeds
                                .iter()
                                .map(|f| format!("{:?}", f.name.as_deref().unwrap_or(&f.key)))
                                .collect();
                            self.problem(
                                &at("feeds"),
                                Some(label),
                                format!(
                                    "no feed named {name:?} (by name or URL); valid: {}",
                                    or_none(&valid)
                                ),
                            );
                        }
                    }
                }
                keys
            });
            for name in &sub.exclude_topics {
                if !topics.iter().any(|t| &t.name == name) {
                    let valid: Vec<_> = topics.iter().map(|t| format!("{:?}", t.name)).collect();
                    self.problem(
                        &at("exclude_topics"),
                        Some(label),
                        format!("no topic named {name:?}; valid: {}", or_none(&valid)),
                    );
                }
            }
            let max_items = sub.max_items.unwrap_or(default_max_items);
            if max_items == 0 {
                self.problem(&at("max_items"), Some(label), "must be at least 1");
            }
            let language = match sub.language.as_deref() {
                None => Language::En,
                Some(text) => Language::parse(text).unwrap_or_else(|| {
                    self.problem(
                        &at("language"),
                        Some(label),
                        format!("unknown language {text:?}; valid: {}", Language::VALID),
                    );
                    Language::En
                }),
            };
            // Every problem of this entry is reported before it is left out.
            let (Some(schedule), Some(timezone)) = (schedule, timezone) else {
                continue;
            };
            subscribers.push(Subscriber {
                mailbox: Mailbox::new(sub.name.clone(), address),
                schedule,
                timezone,
                filter: crate::topics::Filter {
                    topics: topic_filter,
                    feeds: feed_filter,
                    exclude_topics: sub.exclude_topics.clone(),
                    exclude_keywords: keywords(&sub.exclude_keywords),
                },
                max_items: max_items.max(1),
                language,
            });
        }
        subscribers
    }
}

/// Keywords as written, trimmed; case-sensitive when written with a capital
/// ([`Keyword::new`]). Empty ones (reported where they are an error) are left out.
fn keywords(list: &[String]) -> Vec<Keyword> {
    list.iter()
        .map(|k| Keyword::new(k.trim()))
        .filter(|k| !k.is_empty())
        .collect()
}

/// The feeds a subscriber's `feeds` may name: by name, key or URL, the
/// first in config order, as a linear search would find it. An index, so a
/// config of thousands of subscribers and feeds loads in milliseconds: the
/// linear search parsed the wanted URL once per feed, and took over a
/// minute for 10,000 x 10,000.
struct FeedLookup<'a> {
    feeds: &'a [FeedConfig],
    by_text: HashMap<&'a str, usize>,
    by_url: HashMap<&'a Url, usize>,
}

impl<'a> FeedLookup<'a> {
    fn new(feeds: &'a [FeedConfig]) -> FeedLookup<'a> {
        let mut by_text = HashMap::new();
        let mut by_url = HashMap::new();
        for (i, feed) in feeds.iter().enumerate() {
            if let Some(name) = feed.name.as_deref() {
                by_text.entry(name).or_insert(i);
            }
            by_text.entry(feed.key.as_str()).or_insert(i);
            if let FeedSource::Http(url) = &feed.source {
                by_url.entry(url).or_insert(i);
            }
        }
        FeedLookup {
            feeds,
            by_text,
            by_url,
        }
    }

    fn find(&self, wanted: &str) -> Option<&'a FeedConfig> {
        let by_text = self.by_text.get(wanted).copied();
        let by_url = Url::parse(wanted)
            .ok()
            .and_then(|url| self.by_url.get(&url).copied());
        let first = by_text.into_iter().chain(by_url).min()?;
        self.feeds.get(first)
    }
}
