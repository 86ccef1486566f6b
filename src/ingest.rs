//! Dedup and routing of one fetched feed: which items are new, which are the
//! first-poll baseline, which repeat a known article (GUID churn, or the same
//! link in another feed), and which subscribers each new article goes to.
//! Pure: the store is asked only through [`Known`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::article::{Article, ArticleId, Item, canonical_link};
use crate::config::{Config, FeedConfig, FirstPollWindow};
use crate::parse::ParsedFeed;
use crate::store::{CrossFeed, IngestBatch, LinkOwner, NewArticle};
use crate::topics;

/// What the plan needs to know about the past.
pub trait Known {
    type Error;
    fn is_seen(&self, id: &ArticleId) -> Result<bool, Self::Error>;
    /// The article that already has this canonical link, if any.
    fn link_owner(&self, canonical_link: &str) -> Result<Option<LinkOwner>, Self::Error>;
}

impl Known for crate::store::Store {
    type Error = crate::store::StoreError;

    fn is_seen(&self, id: &ArticleId) -> Result<bool, Self::Error> {
        crate::store::Store::is_seen(self, id)
    }

    fn link_owner(&self, canonical_link: &str) -> Result<Option<LinkOwner>, Self::Error> {
        crate::store::Store::link_owner(self, canonical_link)
    }
}

/// Sorts the items of `parsed` for one poll. `first_poll` is true until the
/// feed's first successful poll.
pub fn plan<K: Known>(
    config: &Config,
    feed: &FeedConfig,
    parsed: &ParsedFeed,
    first_poll: bool,
    now: DateTime<Utc>,
    known: &K,
) -> Result<IngestBatch, K::Error> {
    let mut guid_counts: HashMap<&str, usize> = HashMap::new();
    for item in &parsed.items {
        if let Some(guid) = &item.guid {
            *guid_counts.entry(guid).or_default() += 1;
        }
    }
    let mut batch = IngestBatch::default();
    let mut ids_this_fetch = HashSet::new();
    let mut links_this_fetch: HashMap<String, ArticleId> = HashMap::new();
    let mut candidates = Vec::new();
    for item in &parsed.items {
        let repeats = item
            .guid
            .as_deref()
            .is_some_and(|g| guid_counts.get(g).copied().unwrap_or(0) > 1);
        let id = ArticleId::for_item(&feed.key, item, repeats);
        if !ids_this_fetch.insert(id.clone()) {
            continue;
        }
        if known.is_seen(&id)? {
            batch.still_present.push(id);
            continue;
        }
        let link = item.link.as_deref().map(canonical_link);
        // A feed that repeats a guid gives each copy its link; the link is then
        // not a reliable identity, so churn detection stays out of it.
        if let Some(link) = link.as_ref().filter(|_| !repeats) {
            if let Some(first) = links_this_fetch.get(link) {
                batch.churned.push((id, first.clone()));
                continue;
            }
            links_this_fetch.insert(link.clone(), id.clone());
        }
        if first_poll && !in_first_window(config.first_poll_window, item, now) {
            batch.baseline.push((id, link));
            continue;
        }
        let article_topics =
            topics::classify(&config.topics, feed, &item.title, &item.text, &item.categories);
        let recipients = recipients(config, feed, &article_topics, item);
        if let Some(link) = link.as_ref().filter(|_| !repeats)
            && let Some(owner) = known.link_owner(link)?
        {
            if owner.is_from(&feed.key) {
                // The publisher regenerated the GUID of an article we know.
                batch.churned.push((id, owner.id));
                continue;
            }
            if owner.has_body {
                batch.cross_feed.push(CrossFeed {
                    id,
                    original: owner.id,
                    feed_key: feed.key.clone(),
                    recipients,
                });
                continue;
            }
        }
        candidates.push(NewArticle {
            article: Article {
                id,
                feed_key: feed.key.clone(),
                title: item.title.clone(),
                link: item.link.clone(),
                text: item.text.clone(),
                published: item.published,
                categories: item.categories.clone(),
                first_seen: now,
                also_in: Vec::new(),
                routed: Vec::new(),
                updated: item.updated,
                image: item.image.clone(),
            },
            recipients,
            canonical_link: link.filter(|_| !repeats),
        });
    }
    // Flood cap: the newest first; the rest stay unseen and come in later polls.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.article.published));
    batch.held_back = candidates.len().saturating_sub(config.max_new_per_poll);
    candidates.truncate(config.max_new_per_poll);
    batch.deliver = candidates;
    Ok(batch)
}

fn in_first_window(window: FirstPollWindow, item: &Item, now: DateTime<Utc>) -> bool {
    match window {
        FirstPollWindow::All => true,
        FirstPollWindow::Within(window) => item.published.is_some_and(|published| {
            now.signed_duration_since(published)
                .to_std()
                .map_or(true, |age| age <= window)
        }),
    }
}

/// Subscribers (lower-cased addresses) who want an article of `feed` with these topics.
fn recipients(config: &Config, feed: &FeedConfig, article_topics: &[String], item: &Item) -> Vec<String> {
    config
        .subscribers
        .iter()
        .filter(|s| topics::wants(s, &feed.key, article_topics, &item.title, &item.text))
        .map(|s| s.email().to_lowercase())
        .collect()
}
