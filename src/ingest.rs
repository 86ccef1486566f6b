//! Dedup and routing of one fetched feed: which items are new, which are the
//! first-poll baseline, which repeat a known article (GUID churn, or the same
//! link in another feed), and which subscribers each new article goes to.
//! Pure: the store is asked only through [`Known`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::article::{Article, ArticleId, Identity, Item, identify};
use crate::config::{Config, FeedConfig, FirstPollWindow};
use crate::parse::ParsedFeed;
use crate::topics;

/// What the plan needs to know about the past.
pub trait Known {
    type Error;
    fn is_seen(&self, id: &ArticleId) -> Result<bool, Self::Error>;
    /// The article that already has this canonical link, if any.
    fn link_owner(&self, feed_key: &str, canonical_link: &str) -> Result<Option<LinkOwner>, Self::Error>;
    /// The title and date of a stored article, while its body is kept.
    fn stored_article(&self, id: &ArticleId) -> Result<Option<Stored>, Self::Error>;
}

/// What a stored article says of the item it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub title: String,
    pub published: Option<DateTime<Utc>>,
}

/// A new article and the subscribers it goes to.
#[derive(Debug, Clone)]
pub struct NewArticle {
    pub article: Article,
    pub recipients: Vec<String>,
    /// Its canonical link, indexed so churn and copies in other feeds are recognised.
    pub canonical_link: Option<String>,
}

/// An item of this feed whose link another feed's article already has.
#[derive(Debug, Clone)]
pub struct CrossFeed {
    pub id: ArticleId,
    pub original: ArticleId,
    pub feed_key: String,
    pub recipients: Vec<String>,
}

/// What one poll of one feed changes, as planned by [`plan`].
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub deliver: Vec<NewArticle>,
    /// Recorded as seen, never delivered (first-poll baseline), with canonical links.
    pub baseline: Vec<(ArticleId, Option<String>)>,
    /// Known ids still in the feed: their `last_seen` moves on.
    pub still_present: Vec<ArticleId>,
    /// `(new id, article it repeats)`: the feed regenerated the GUID of a known link.
    pub churned: Vec<(ArticleId, ArticleId)>,
    /// `(new id, id it was known under)`: a known item whose identity took
    /// another form (its document changed, or an earlier version named it).
    pub renamed: Vec<(ArticleId, ArticleId)>,
    /// Items listed twice in the document (same guid, link, title and date).
    pub duplicates: usize,
    /// Items whose guid or link repeats in the document, told apart by more.
    pub told_apart: usize,
    pub cross_feed: Vec<CrossFeed>,
    /// New items left for later polls by the flood cap.
    pub held_back: usize,
}

/// Who already has a canonical link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOwner {
    pub id: ArticleId,
    /// The article came from the feed that asks.
    pub same_feed: bool,
    /// Its body is still stored.
    pub has_body: bool,
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
    let mut batch = IngestBatch::default();
    let mut ids_this_fetch = HashSet::new();
    let mut candidates = Vec::new();
    let siblings = Siblings::of(&parsed.items);
    'items: for (item, identity) in parsed.items.iter().zip(identify(&feed.key, &parsed.items)) {
        let Identity {
            mut id,
            alternates,
            shared,
            confirm,
            link_key,
            told_apart,
            duplicate,
            ..
        } = identity;
        batch.told_apart += usize::from(told_apart.is_some());
        if duplicate || !ids_this_fetch.insert(id.clone()) {
            batch.duplicates += 1;
            continue;
        }
        // Before its first poll a feed has nothing recorded under any form.
        let mut recovered = false;
        if known.is_seen(&id)? {
            if !confirm || siblings.confirms(known.stored_article(&id)?.as_ref(), item) {
                batch.still_present.push(id);
                continue;
            }
            // An earlier version gave this id to a sibling as well: this item
            // is not that one, and takes the next finer id.
            match alternates.first() {
                Some(finer) if !known.is_seen(finer)? => {
                    id = finer.clone();
                    ids_this_fetch.insert(id.clone());
                    recovered = true;
                }
                Some(finer) => {
                    batch.still_present.push(finer.clone());
                    continue;
                }
                None => {
                    batch.still_present.push(id);
                    continue;
                }
            }
        }
        if !first_poll && !recovered {
            // Recorded under another form of its identity (by an earlier
            // document, or an earlier version): known; it takes the new id.
            if let Some(old) = first_known(known, &alternates)? {
                batch.renamed.push((id, old));
                continue;
            }
            // A form it shares with siblings is known: it is this item if
            // the stored article says so and no sibling matches it as well;
            // otherwise one of them was recorded, and this one may be new, or
            // old and lost to an earlier version that merged them: treated
            // like a first poll.
            for form in shared {
                if known.is_seen(&form)? {
                    if siblings.confirms(known.stored_article(&form)?.as_ref(), item) {
                        batch.renamed.push((id, form));
                        continue 'items;
                    }
                    recovered = true;
                    break;
                }
            }
        }
        // A recovered item is held back as old only when its date says so:
        // an undated one may well be new (never miss an article).
        let old = !in_first_window(config.first_poll_window, item, now);
        if (first_poll && old) || (recovered && old && item.published.is_some()) {
            batch.baseline.push((id, link_key));
            continue;
        }
        let article_text = topics::ArticleText::new(&item.title, &item.text, &item.categories);
        let article_topics = topics::classify(&config.topics, feed.topic_source(), &article_text);
        let recipients = recipients(config, feed, &article_topics, &article_text);
        if let Some(link) = &link_key
            && let Some(owner) = known.link_owner(&feed.key, link)?
        {
            if owner.same_feed {
                // The publisher regenerated the GUID of an article we know,
                // unless the stored article has another title: then it is a
                // new item that reuses a link. (Without a guid there is no
                // guid to regenerate: another id means another item.)
                // Without the stored title it cannot be told: delivered.
                let stored = if owner.has_body {
                    known.stored_article(&owner.id)?
                } else {
                    None
                };
                if item.guid.is_some() && stored.is_some_and(|s| same_title(&s.title, &item.title)) {
                    batch.churned.push((id, owner.id));
                    continue;
                }
            } else if owner.has_body {
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
            canonical_link: link_key,
        });
    }
    // Flood cap: the newest first; the rest stay unseen and come in later polls.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.article.published));
    batch.held_back = candidates.len().saturating_sub(config.max_new_per_poll);
    candidates.truncate(config.max_new_per_poll);
    batch.deliver = candidates;
    Ok(batch)
}

/// Titles compared as a reader sees them: entities decoded, whitespace folded.
fn same_title(a: &str, b: &str) -> bool {
    a == b || normal_title(a) == normal_title(b)
}

fn normal_title(title: &str) -> String {
    crate::text::one_line(&html_escape::decode_html_entities(title))
}

/// The items of one document by title and date, to tell whether a stored
/// article names exactly one of them.
struct Siblings {
    by_title: HashMap<String, usize>,
    by_title_date: HashMap<(String, Option<DateTime<Utc>>), usize>,
}

impl Siblings {
    fn of(items: &[Item]) -> Siblings {
        let mut siblings = Siblings {
            by_title: HashMap::new(),
            by_title_date: HashMap::new(),
        };
        for item in items {
            let title = normal_title(&item.title);
            *siblings.by_title.entry(title.clone()).or_default() += 1;
            *siblings.by_title_date.entry((title, item.published)).or_default() += 1;
        }
        siblings
    }

    /// `stored` is `item`, and no other item of the document matches it.
    fn confirms(&self, stored: Option<&Stored>, item: &Item) -> bool {
        let Some(stored) = stored else { return false };
        if !same_title(&stored.title, &item.title) {
            return false;
        }
        let title = normal_title(&item.title);
        match (stored.published, item.published) {
            (Some(a), Some(b)) => a == b && self.by_title_date.get(&(title, Some(b))) == Some(&1),
            _ => self.by_title.get(&title) == Some(&1),
        }
    }
}

/// The first of `ids` that is known.
fn first_known<K: Known>(known: &K, ids: &[ArticleId]) -> Result<Option<ArticleId>, K::Error> {
    for id in ids {
        if known.is_seen(id)? {
            return Ok(Some(id.clone()));
        }
    }
    Ok(None)
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
fn recipients(
    config: &Config,
    feed: &FeedConfig,
    article_topics: &[String],
    article: &topics::ArticleText,
) -> Vec<String> {
    config
        .subscribers
        .iter()
        .filter(|s| topics::wants(&s.filter, &feed.key, article_topics, article))
        .map(|s| s.email().to_lowercase())
        .collect()
}
