//! A subscriber's digest as data: sections by topic, then by feed, each entry
//! with a clean excerpt and a time in the reader's zone. Pure: the model is
//! built from stored articles and rendered by [`render`]; nothing here knows SMTP.

pub mod render;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use url::Url;

use crate::article::Article;
use crate::config::{Config, FeedConfig, Subscriber};
use crate::text;
use crate::topics;

#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub title: String,
    pub subject: String,
    /// The date in the subscriber's zone, for the header.
    pub date_label: String,
    /// Inbox preview text.
    pub preheader: String,
    pub total: usize,
    pub sections: Vec<Section>,
    /// Pending articles left for the next digest (over `max_items`).
    pub held_back: usize,
    /// Feeds whose last poll held new items back (flood cap), with how many.
    pub flood_held: Vec<(String, u64)>,
    pub recipient: String,
    pub unsubscribe: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub anchor: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub title: String,
    /// Only http(s) links survive.
    pub link: Option<String>,
    pub source: String,
    /// Other feeds that carried the same article.
    pub also_in: Vec<String>,
    pub time_label: String,
    pub excerpt: String,
}

/// The display name of a feed: configured name, else the feed's own title, else its URL.
pub fn feed_display_name(feed: &FeedConfig, stored_title: Option<&str>) -> String {
    feed.name
        .clone()
        .or_else(|| stored_title.map(str::to_owned))
        .unwrap_or_else(|| feed.key.clone())
}

/// Builds the digest for `subscriber` from `articles` (already limited to
/// `max_items`). `feed_names` maps feed keys to display names.
pub fn build(
    config: &Config,
    subscriber: &Subscriber,
    articles: &[Article],
    feed_names: &HashMap<String, String>,
    held_back: usize,
    now: DateTime<Utc>,
) -> Digest {
    let zone = subscriber.timezone;
    let local_now = now.with_timezone(&zone);
    let mut by_topic: Vec<(String, Vec<&Article>)> = config
        .topics
        .iter()
        .map(|t| (t.name.clone(), Vec::new()))
        .collect();
    let mut by_feed: Vec<(String, Vec<&Article>)> =
        config.feeds.iter().map(|f| (f.key.clone(), Vec::new())).collect();
    for article in articles {
        let article_topics = match config.feed(&article.feed_key) {
            Some(feed) => topics::classify(
                &config.topics,
                feed,
                &article.title,
                &article.text,
                &article.categories,
            ),
            None => Vec::new(),
        };
        match topics::section_for(subscriber, &article_topics) {
            Some(topic) => {
                if let Some((_, list)) = by_topic.iter_mut().find(|(name, _)| name == topic) {
                    list.push(article);
                }
            }
            None => match by_feed.iter_mut().find(|(key, _)| key == &article.feed_key) {
                Some((_, list)) => list.push(article),
                // A feed removed from the config since: still deliver, under its key.
                None => by_feed.push((article.feed_key.clone(), vec![article])),
            },
        }
    }
    let feed_name = |key: &str| feed_names.get(key).cloned().unwrap_or_else(|| key.to_owned());
    let entry = |article: &Article| Entry {
        title: if article.title.is_empty() {
            "(untitled)".to_owned()
        } else {
            article.title.clone()
        },
        link: article.link.as_deref().and_then(safe_link),
        source: feed_name(&article.feed_key),
        also_in: article.also_in.iter().map(|key| feed_name(key)).collect(),
        time_label: article
            .time()
            .with_timezone(&zone)
            .format("%b %-d, %H:%M")
            .to_string(),
        excerpt: text::excerpt(&article.text, config.digest.excerpt_chars),
    };
    let mut sections = Vec::new();
    let topic_sections = by_topic.into_iter();
    let feed_sections = by_feed.into_iter().map(|(key, list)| (feed_name(&key), list));
    for (title, mut list) in topic_sections.chain(feed_sections) {
        if list.is_empty() {
            continue;
        }
        list.sort_by_key(|a| std::cmp::Reverse(a.time()));
        sections.push(Section {
            anchor: format!("section-{}", sections.len() + 1),
            title,
            entries: list.into_iter().map(entry).collect(),
        });
    }
    let total = articles.len();
    let date_label = local_now.format("%A, %-d %B %Y").to_string();
    let noun = if total == 1 { "article" } else { "articles" };
    let subject = text::one_line(&format!(
        "{} · {} · {total} {noun}",
        config.digest.title,
        local_now.format("%b %-d")
    ));
    let preheader = sections
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.title.as_str()))
        .take(3)
        .collect::<Vec<_>>()
        .join(" · ");
    Digest {
        title: config.digest.title.clone(),
        subject,
        date_label,
        preheader,
        total,
        sections,
        held_back,
        flood_held: Vec::new(),
        recipient: subscriber.mailbox.email.to_string(),
        unsubscribe: config.digest.unsubscribe.as_ref().map(Url::to_string),
    }
}

fn safe_link(link: &str) -> Option<String> {
    Url::parse(link)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.to_string())
}
