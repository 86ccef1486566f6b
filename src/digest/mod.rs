//! A subscriber's digest as data: sections by topic, then by feed, each entry
//! with a clean excerpt, a time in the reader's zone and language, a thumbnail
//! and the other feeds that carried it. Pure: the model is built from stored
//! articles and rendered by [`render`]; nothing here knows SMTP.

pub mod fold;

pub use fold::SentStory;

pub mod render;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use crate::article::Article;
use crate::config::{Config, FeedConfig, Images, Subscriber};
use crate::i18n::{self, Labels};
use crate::text;
use crate::topics;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// BCP 47 tag of the reader's language, for `lang` attributes.
    pub lang: &'static str,
    pub labels: Labels,
    pub title: String,
    pub subject: String,
    /// The date in the subscriber's zone and language, for the header.
    pub date_label: String,
    /// "12 new articles in 4 sections".
    pub summary: String,
    /// Inbox preview text.
    pub preheader: String,
    pub total: usize,
    /// How the same story from several feeds was found.
    pub folding: Folding,
    pub sections: Vec<Section>,
    /// Articles shown as bare links at the end when the full cards would be
    /// too large for mail clients (see [`render::render_within`]).
    pub more_links: Vec<Entry>,
    pub shortened: bool,
    /// "N more articles wait for the next digest", when over `max_items`.
    pub held_back_note: Option<String>,
    /// This digest's archive page, linked at the top ("view in browser").
    pub view_online: Option<String>,
    /// "N more articles in the full digest" and its archive page, when the
    /// mail carries fewer articles than the digest holds.
    pub more_online: Option<(String, String)>,
    /// Old articles left out at the bound of what may wait (no archive).
    pub dropped_note: Option<String>,
    /// One line per feed whose last poll hit the flood cap.
    pub flood_notes: Vec<String>,
    /// Feeds failing for more than a day, or read as empty though they hold
    /// items: `(name, reason)`.
    pub failing_feeds: Vec<(String, String)>,
    pub reason: String,
    pub unsubscribe: Option<String>,
}

/// How stories were folded: by meaning and words (the sentence encoder was
/// loaded), by words only, or not at all (`fold_stories = false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Folding {
    Off,
    Words,
    Meaning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub title: String,
    pub anchor: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub title: String,
    /// Only http(s) links survive.
    pub link: Option<String>,
    pub source: String,
    /// Other feeds that carried the same article (same link).
    pub also_in: Vec<String>,
    pub time_label: String,
    pub excerpt: String,
    pub image: Option<String>,
    /// The feed changed the item after publishing it.
    pub updated: bool,
    /// Why it is in its section ("keyword \"朝鲜\""), for `preview --json`.
    pub rule: Option<String>,
    /// The same story from other feeds, folded into this entry.
    pub folded: Vec<Related>,
    /// The story the reader already got lately that this one follows up.
    pub follow_up: Option<Related>,
}

impl Entry {
    /// Every other source of the story: copies of the article, then folded reports.
    pub fn all_sources(&self) -> String {
        let names: Vec<&str> = self
            .also_in
            .iter()
            .map(String::as_str)
            .chain(self.folded.iter().map(|f| f.source.as_str()))
            .collect();
        names.join(", ")
    }
}

/// Another article of the same story.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    pub source: String,
    pub title: String,
    pub link: Option<String>,
    /// What decided that it is the same story (`preview --json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<crate::stories::Scores>,
}

/// What the digest needs besides the articles: names and notes from the store.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Feed key → display name.
    pub feed_names: HashMap<String, String>,
    /// Pending articles over `max_items`, left for the next digest.
    pub held_back: usize,
    /// `(feed name, items held back)` for feeds that hit the flood cap.
    pub flooded: Vec<(String, u64)>,
    /// `(feed name, reason)` for feeds failing for more than a day, or whose
    /// last document held items but yielded none.
    pub failing: Vec<(String, String)>,
    /// What the subscriber got within the follow-up window.
    pub earlier: Vec<SentStory>,
    /// The sentence encoder (or a round's cache in front of it), when
    /// folding compares meaning too.
    pub encoder: Option<std::sync::Arc<dyn crate::stories::Embed>>,
}

/// The display name of a feed: see [`FeedConfig::display_name`].
pub fn feed_display_name(feed: &FeedConfig, stored_title: Option<&str>) -> String {
    feed.display_name(stored_title)
}

/// Builds the digest for `subscriber` from `articles` (already limited to `max_items`).
pub fn build(
    config: &Config,
    subscriber: &Subscriber,
    articles: &[Article],
    context: &Context,
    now: DateTime<Utc>,
) -> Digest {
    let language = subscriber.language;
    let labels = language.labels();
    let zone = subscriber.timezone;
    let local_now = now.with_timezone(&zone);
    let mut by_topic: Vec<(String, Vec<&Article>)> = config
        .topics
        .iter()
        .map(|t| (t.name.clone(), Vec::new()))
        .collect();
    let mut by_feed: Vec<(String, Vec<&Article>)> =
        config.feeds.iter().map(|f| (f.key.clone(), Vec::new())).collect();
    let stories = if config.digest.fold_stories {
        fold::plan(articles, &context.earlier, context.encoder.as_deref())
    } else {
        fold::unfolded(articles)
    };
    let story_of: HashMap<&str, &fold::Story> = stories
        .iter()
        .map(|story| (articles[story.lead].id.as_str(), story))
        .collect();
    // The rule that put each article in its section, for `preview --json`.
    let mut rules: HashMap<&str, String> = HashMap::new();
    // A story goes where its lead article goes.
    for article in stories.iter().map(|story| &articles[story.lead]) {
        let matches = match config.feed(&article.feed_key) {
            Some(feed) => topics::explain(
                &config.topics,
                feed.topic_source(),
                &topics::ArticleText::new(&article.title, &article.text, &article.categories),
            ),
            None => Vec::new(),
        };
        let article_topics: Vec<String> = matches.iter().map(|m| m.topic.clone()).collect();
        match topics::section_for(&subscriber.filter, &article_topics) {
            Some(topic) => {
                if let Some(m) = matches.iter().find(|m| m.topic == topic) {
                    rules.insert(article.id.as_str(), format!("{}: {}", m.topic, m.reason));
                }
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
    let feed_name = |key: &str| {
        context
            .feed_names
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    };
    let related = |article: &Article, scores: &crate::stories::Scores| Related {
        source: feed_name(&article.feed_key),
        title: article.title.clone(),
        link: article.link.as_deref().and_then(safe_link),
        scores: Some(*scores),
    };
    let entry = |article: &Article| {
        let story = story_of.get(article.id.as_str());
        let folded: Vec<Related> = story
            .map(|s| {
                s.folded
                    .iter()
                    .map(|(i, scores)| related(&articles[*i], scores))
                    .collect()
            })
            .unwrap_or_default();
        let follow_up = story.and_then(|s| s.follow_up).map(|(i, scores)| {
            let earlier = &context.earlier[i];
            Related {
                source: feed_name(&earlier.feed_key),
                title: earlier.title.clone(),
                link: earlier.link.as_deref().and_then(safe_link),
                scores: Some(scores),
            }
        });
        let also_in: Vec<String> = article
            .also_in
            .iter()
            .map(|key| feed_name(key))
            .filter(|name| !folded.iter().any(|f| &f.source == name))
            .collect();
        Entry {
            title: if article.title.is_empty() {
                labels.untitled.to_owned()
            } else {
                article.title.clone()
            },
            link: article.link.as_deref().and_then(safe_link),
            source: feed_name(&article.feed_key),
            also_in,
            folded,
            follow_up,
            time_label: language.time(&article.time().with_timezone(&zone), &local_now),
            excerpt: text::excerpt(&article.text, config.digest.excerpt_chars),
            image: match config.digest.images {
                Images::Thumbnail => article.image.as_deref().and_then(safe_link),
                Images::None => None,
            },
            // News to this reader is not an update, whatever the feed says.
            updated: article.updated.is_some() && already_got(&context.earlier, article),
            rule: rules.get(article.id.as_str()).cloned(),
        }
    };
    let mut sections = Vec::new();
    let feed_sections = by_feed.into_iter().map(|(key, list)| (feed_name(&key), list));
    for (title, mut list) in by_topic.into_iter().chain(feed_sections) {
        if list.is_empty() {
            continue;
        }
        // Newest first; follow-ups after the news.
        list.sort_by_key(|a| {
            let follow_up = story_of.get(a.id.as_str()).is_some_and(|s| s.follow_up.is_some());
            (follow_up, std::cmp::Reverse(a.time()))
        });
        sections.push(Section {
            anchor: format!("section-{}", sections.len() + 1),
            title,
            entries: list.into_iter().map(entry).collect(),
        });
    }
    let total = articles.len();
    let template = config
        .digest
        .subject
        .as_deref()
        .unwrap_or(language.default_subject());
    let subject = text::one_line(&i18n::fill_subject(
        template,
        &config.digest.title,
        &language.short_date(&local_now),
        total,
        &language.articles(total),
        sections.len(),
    ));
    let preheader = sections
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.title.as_str()))
        .take(3)
        .collect::<Vec<_>>()
        .join(" · ");
    let recipient = subscriber.mailbox.email.to_string();
    Digest {
        lang: language.tag(),
        labels,
        title: config.digest.title.clone(),
        subject,
        date_label: language.long_date(&local_now),
        summary: language.summary(total, sections.len()),
        preheader,
        total,
        folding: match (config.digest.fold_stories, &context.encoder) {
            (false, _) => Folding::Off,
            (true, Some(_)) => Folding::Meaning,
            (true, None) => Folding::Words,
        },
        sections,
        more_links: Vec::new(),
        shortened: false,
        held_back_note: (context.held_back > 0).then(|| language.held_back(context.held_back)),
        view_online: None,
        more_online: None,
        dropped_note: None,
        flood_notes: context
            .flooded
            .iter()
            .map(|(feed, n)| language.flood(feed, *n))
            .collect(),
        failing_feeds: context.failing.clone(),
        reason: language.reason(&recipient, &config.digest.title),
        // The footer links the web address when there is one, else the mailto.
        unsubscribe: preferred_unsubscribe(&crate::links::unsubscribe_addresses(config, &recipient)),
    }
}

/// Whether the reader got this article in an earlier digest (same feed, and
/// the same link or, without one, the same title).
fn already_got(earlier: &[SentStory], article: &Article) -> bool {
    earlier.iter().any(|sent| {
        sent.feed_key == article.feed_key
            && match (&sent.link, &article.link) {
                (Some(a), Some(b)) => a == b,
                _ => sent.title == article.title,
            }
    })
}

/// Which of the pending `articles` a digest of at most `max` carries, and how
/// many wait: the oldest waiting one, then the newest first, taken in turn
/// from every section (a topic, or the feed when no topic takes it), so that
/// one busy or old feed cannot fill the digest and leave a topic out.
pub fn choose(
    config: &Config,
    subscriber: &Subscriber,
    articles: Vec<Article>,
    max: usize,
) -> (Vec<Article>, usize) {
    let waiting = articles.len().saturating_sub(max);
    if waiting == 0 {
        return (articles, 0);
    }
    let mut articles = articles;
    // The oldest waiting article always has a place, so that a subscriber
    // whose feeds bring more than `max` a day never leaves one waiting forever.
    let mut chosen = Vec::with_capacity(max);
    if max >= 2
        && let Some(oldest) = (0..articles.len()).min_by_key(|&i| articles[i].time())
    {
        chosen.push(articles.swap_remove(oldest));
    }
    let mut sections: Vec<(String, Vec<Article>)> = Vec::new();
    for article in articles {
        let section = config
            .feed(&article.feed_key)
            .and_then(|feed| {
                let found = topics::classify(
                    &config.topics,
                    feed.topic_source(),
                    &topics::ArticleText::new(&article.title, &article.text, &article.categories),
                );
                topics::section_for(&subscriber.filter, &found).map(|t| format!("topic:{t}"))
            })
            .unwrap_or_else(|| format!("feed:{}", article.feed_key));
        match sections.iter_mut().find(|(name, _)| *name == section) {
            Some((_, list)) => list.push(article),
            None => sections.push((section, vec![article])),
        }
    }
    // Newest last in each list, so it is popped first.
    for (_, list) in &mut sections {
        list.sort_by_key(Article::time);
    }
    while chosen.len() < max {
        // One round: the section with the newest article left goes first.
        sections.sort_by_key(|(_, list)| std::cmp::Reverse(list.last().map(Article::time)));
        let before = chosen.len();
        for (_, list) in &mut sections {
            if chosen.len() == max {
                break;
            }
            if let Some(article) = list.pop() {
                chosen.push(article);
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    (chosen, waiting)
}

fn preferred_unsubscribe(addresses: &[Url]) -> Option<String> {
    addresses
        .iter()
        .find(|u| u.scheme() == "https")
        .or(addresses.first())
        .map(Url::to_string)
}

/// Parses and re-serialises a link, keeping only http(s).
pub fn safe_link(link: &str) -> Option<String> {
    Url::parse(link)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.to_string())
}
