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

/// What planning one document will ask of the past: computed before the
/// plan, so that a store answers it in one go ([`crate::store::Feeds::known`])
/// and the plan itself stays pure and synchronous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Questions {
    /// Is each of these ids seen? (Every form of every item's identity.)
    pub ids: Vec<ArticleId>,
    /// Of these, when seen: the stored article's title and date, while its
    /// body is kept (an id that must be confirmed, and the shared forms).
    pub titles: Vec<ArticleId>,
    /// Who owns each canonical link; with `true` when the owner's title is
    /// wanted too if the owner came from this feed (the item has a guid, so
    /// the guid may have been regenerated).
    pub links: Vec<(String, bool)>,
}

/// The past as the plan sees it: the store's answers to [`Questions`].
/// Anything not asked reads as unknown (in a debug build, asking what was
/// not in the questions panics, so a gap between them and the plan shows
/// in tests).
#[derive(Debug, Default)]
pub struct Known {
    seen: HashSet<ArticleId>,
    stored: HashMap<ArticleId, Stored>,
    links: HashMap<String, LinkOwner>,
    asked: Option<Asked>,
}

#[derive(Debug)]
struct Asked {
    ids: HashSet<ArticleId>,
    links: HashSet<String>,
}

impl Known {
    /// Nothing known yet, in answer to `questions`.
    pub fn answering(questions: &Questions) -> Known {
        Known {
            asked: Some(Asked {
                ids: questions.ids.iter().cloned().collect(),
                links: questions.links.iter().map(|(link, _)| link.clone()).collect(),
            }),
            ..Known::default()
        }
    }

    pub fn add_seen(&mut self, id: ArticleId) {
        self.seen.insert(id);
    }

    pub fn add_stored(&mut self, id: ArticleId, stored: Stored) {
        self.stored.insert(id, stored);
    }

    pub fn add_link_owner(&mut self, canonical_link: String, owner: LinkOwner) {
        self.links.insert(canonical_link, owner);
    }

    fn is_seen(&self, id: &ArticleId) -> bool {
        debug_assert!(
            self.asked.as_ref().is_none_or(|asked| asked.ids.contains(id)),
            "the plan asked about {id}, which the questions did not"
        );
        self.seen.contains(id)
    }

    fn stored_article(&self, id: &ArticleId) -> Option<&Stored> {
        self.stored.get(id)
    }

    fn link_owner(&self, canonical_link: &str) -> Option<&LinkOwner> {
        debug_assert!(
            self.asked
                .as_ref()
                .is_none_or(|asked| asked.links.contains(canonical_link)),
            "the plan asked about the link {canonical_link}, which the questions did not"
        );
        self.links.get(canonical_link)
    }
}

/// One fetched document of one feed, its items identified.
pub struct Document<'a> {
    feed: &'a FeedConfig,
    parsed: &'a ParsedFeed,
    identities: Vec<Identity>,
}

impl<'a> Document<'a> {
    pub fn new(feed: &'a FeedConfig, parsed: &'a ParsedFeed) -> Document<'a> {
        Document {
            feed,
            parsed,
            identities: identify(&feed.key, &parsed.items),
        }
    }

    /// Everything [`plan`] may ask of the past about this document.
    pub fn questions(&self) -> Questions {
        let mut questions = Questions::default();
        let mut ids = HashSet::new();
        let mut links = HashSet::new();
        for (item, identity) in self.parsed.items.iter().zip(&self.identities) {
            for id in std::iter::once(&identity.id)
                .chain(&identity.alternates)
                .chain(&identity.shared)
            {
                if ids.insert(id) {
                    questions.ids.push(id.clone());
                }
            }
            if identity.confirm {
                questions.titles.push(identity.id.clone());
            }
            questions.titles.extend(identity.shared.iter().cloned());
            if let Some(link) = &identity.link_key
                && links.insert(link)
            {
                questions.links.push((link.clone(), item.guid.is_some()));
            }
        }
        questions.titles.sort_unstable();
        questions.titles.dedup();
        questions
    }
}

/// What a stored article says of the item it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub title: String,
    pub published: Option<DateTime<Utc>>,
    /// A hash of its text ([`text_hash`]): a regenerated guid keeps it.
    pub text_hash: u64,
}

impl Stored {
    pub fn of(article: Article) -> Stored {
        Stored {
            text_hash: text_hash(&article.text),
            title: article.title,
            published: article.published,
        }
    }
}

fn text_hash(text: &str) -> u64 {
    crate::fnv::fnv1a(text.bytes())
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
pub fn plan(
    config: &Config,
    document: &Document<'_>,
    first_poll: bool,
    now: DateTime<Utc>,
    known: &Known,
) -> IngestBatch {
    let Document {
        feed,
        parsed,
        identities,
    } = document;
    let mut batch = IngestBatch::default();
    let mut ids_this_fetch = HashSet::new();
    let mut candidates = Vec::new();
    // A new item whose id must be confirmed, by id: its finer form.
    let mut to_confirm: HashMap<ArticleId, ArticleId> = HashMap::new();
    let siblings = Siblings::of(&parsed.items);
    'items: for (item, identity) in parsed.items.iter().zip(identities) {
        let Identity {
            id,
            alternates,
            shared,
            confirm,
            finest,
            link_key,
            told_apart,
            duplicate,
            ..
        } = identity;
        let mut id = id.clone();
        batch.told_apart += usize::from(told_apart.is_some());
        if *duplicate || !ids_this_fetch.insert(id.clone()) {
            batch.duplicates += 1;
            continue;
        }
        // Before its first poll a feed has nothing recorded under any form.
        let mut recovered = false;
        if known.is_seen(&id) {
            if !*confirm || siblings.confirms(known.stored_article(&id), item) {
                if *confirm && let Some(finest) = finest {
                    batch.also_known_as(known, finest, &id);
                }
                batch.still_present.push(id);
                continue;
            }
            // Confirmed before under its finest form (its body gone since):
            // the same item, same date.
            if let Some(finest) = finest.as_ref().filter(|finest| known.is_seen(finest)) {
                batch.still_present.push(finest.clone());
                continue;
            }
            // An earlier version gave this id to a sibling as well: this item
            // is not that one. Known under the next finer id (as recovered
            // before 8 December 2026), it stays; else it takes its finest
            // id, so that the same page with another date tomorrow is
            // another item again.
            let finer = alternates.first();
            if let Some(finer) = finer.filter(|finer| known.is_seen(finer)) {
                batch.still_present.push(finer.clone());
                continue;
            }
            match finest.as_ref().or(finer) {
                Some(finer) => {
                    id = finer.clone();
                    ids_this_fetch.insert(id.clone());
                    recovered = true;
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
            if let Some(old) = alternates.iter().find(|id| known.is_seen(id)) {
                let old = old.clone();
                batch.renamed.push((id, old));
                continue;
            }
            // A form it shares with siblings is known: it is this item if
            // the stored article says so and no sibling matches it as well;
            // otherwise one of them was recorded, and this one may be new, or
            // old and lost to an earlier version that merged them: treated
            // like a first poll.
            for form in shared {
                if known.is_seen(form) {
                    if siblings.confirms(known.stored_article(form), item) {
                        batch.renamed.push((id, form.clone()));
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
            batch.baseline.push((id, link_key.clone()));
            continue;
        }
        let article_text = topics::ArticleText::new(&item.title, &item.text, &item.categories);
        let article_topics = topics::classify(&config.topics, feed.topic_source(), &article_text);
        let recipients = recipients(config, feed, &article_topics, &article_text);
        if let Some(link) = &link_key
            && let Some(owner) = known.link_owner(link)
        {
            if owner.same_feed {
                // The publisher regenerated the GUID of an article we know,
                // unless the stored article has another title: then it is a
                // new item that reuses a link. (Without a guid there is no
                // guid to regenerate: another id means another item.)
                // Without the stored title it cannot be told: delivered.
                let stored = if owner.has_body {
                    known.stored_article(&owner.id)
                } else {
                    None
                };
                // Another date and another text make another item under the
                // same title (a daily briefing on one page), not a new guid.
                let regenerated = |s: &Stored| {
                    same_title(&s.title, &item.title)
                        && (s.published == item.published || s.text_hash == text_hash(&item.text))
                };
                if item.guid.is_some() && stored.is_some_and(regenerated) {
                    batch.churned.push((id, owner.id.clone()));
                    continue;
                }
            } else if owner.has_body {
                batch.cross_feed.push(CrossFeed {
                    id,
                    original: owner.id.clone(),
                    feed_key: feed.key.clone(),
                    recipients,
                });
                continue;
            }
        }
        if *confirm && let Some(finest) = finest {
            to_confirm.insert(id.clone(), finest.clone());
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
                meaning: None,
            },
            recipients,
            canonical_link: link_key.clone(),
        });
    }
    // Flood cap: the newest first; the rest stay unseen and come in later polls.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.article.published));
    batch.held_back = candidates.len().saturating_sub(config.max_new_per_poll);
    candidates.truncate(config.max_new_per_poll);
    for new in &candidates {
        if let Some(finer) = to_confirm.remove(&new.article.id) {
            batch.also_known_as(known, &finer, &new.article.id);
        }
    }
    batch.deliver = candidates;
    batch
}

impl IngestBatch {
    /// Records `id`'s item under its finest form `finest` as well. Its id
    /// must be confirmed against the stored title (an old store may hold it
    /// for a sibling); once the body is gone that cannot be done, and the
    /// finest form (title and date), known, says the item is the one
    /// already delivered; with another date it is another item.
    fn also_known_as(&mut self, known: &Known, finest: &ArticleId, id: &ArticleId) {
        if known.is_seen(finest) {
            self.still_present.push(finest.clone());
        } else {
            self.renamed.push((finest.clone(), id.clone()));
        }
    }
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
    article: &topics::ArticleText<'_>,
) -> Vec<String> {
    config
        .subscribers
        .iter()
        .filter(|s| topics::wants(&s.filter, &feed.key, article_topics, article))
        .map(|s| s.email().to_lowercase())
        .collect()
}
