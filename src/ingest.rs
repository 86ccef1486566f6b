//! Dedup and routing of one fetched feed: which items are new, which are the
//! first-poll baseline, and which subscribers each new article goes to. Pure:
//! the store is asked only through the `is_seen` callback.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::article::{Article, ArticleId};
use crate::config::{Config, FeedConfig, FirstPollWindow};
use crate::parse::ParsedFeed;
use crate::store::IngestBatch;
use crate::topics;

/// Sorts the items of `parsed` into new (with their subscribers), baseline and
/// already seen. `first_poll` is true until the feed's first successful poll.
pub fn plan<E>(
    config: &Config,
    feed: &FeedConfig,
    parsed: &ParsedFeed,
    first_poll: bool,
    now: DateTime<Utc>,
    mut is_seen: impl FnMut(&ArticleId) -> Result<bool, E>,
) -> Result<IngestBatch, E> {
    let mut guid_counts: HashMap<&str, usize> = HashMap::new();
    for item in &parsed.items {
        if let Some(guid) = &item.guid {
            *guid_counts.entry(guid).or_default() += 1;
        }
    }
    let mut batch = IngestBatch::default();
    let mut this_fetch = HashSet::new();
    for item in &parsed.items {
        let repeats = item
            .guid
            .as_deref()
            .is_some_and(|g| guid_counts.get(g).copied().unwrap_or(0) > 1);
        let id = ArticleId::for_item(&feed.key, item, repeats);
        if !this_fetch.insert(id.clone()) {
            continue;
        }
        if is_seen(&id)? {
            batch.still_present.push(id);
            continue;
        }
        let in_window = match config.first_poll_window {
            FirstPollWindow::All => true,
            FirstPollWindow::Within(window) => item.published.is_some_and(|published| {
                now.signed_duration_since(published)
                    .to_std()
                    .map_or(true, |age| age <= window)
            }),
        };
        if first_poll && !in_window {
            batch.baseline.push((id, now));
            continue;
        }
        let article_topics =
            topics::classify(&config.topics, feed, &item.title, &item.text, &item.categories);
        let recipients: Vec<String> = config
            .subscribers
            .iter()
            .filter(|s| topics::wants(s, &feed.key, &article_topics))
            .map(|s| s.email())
            .collect();
        let article = Article {
            id,
            feed_key: feed.key.clone(),
            title: item.title.clone(),
            link: item.link.clone(),
            text: item.text.clone(),
            published: item.published,
            categories: item.categories.clone(),
            first_seen: now,
        };
        batch.deliver.push((article, recipients));
    }
    Ok(batch)
}
