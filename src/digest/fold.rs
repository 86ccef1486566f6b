//! Which articles of a digest are one story, and which stories the reader
//! already got lately from another feed (follow-ups). Pure: the caller gives
//! the articles and what was sent; [`crate::stories`] judges similarity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::Article;
use crate::stories::{self, Corpus, Terms, Vector};

/// One entry of the digest: its lead article, the same story from other
/// feeds, and the earlier story it follows up, as indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Story {
    pub lead: usize,
    pub folded: Vec<usize>,
    pub follow_up: Option<usize>,
}

/// Every article alone: folding switched off.
pub fn unfolded(articles: &[Article]) -> Vec<Story> {
    (0..articles.len())
        .map(|lead| Story {
            lead,
            folded: Vec::new(),
            follow_up: None,
        })
        .collect()
}

/// An article a subscriber received: enough to recognise its story again
/// when another outlet reports it later (a follow-up, not news).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentStory {
    pub sent_at: DateTime<Utc>,
    pub feed_key: String,
    pub title: String,
    pub link: Option<String>,
    /// The beginning of its text.
    pub lede: String,
}

/// How much of an article's text is kept to recognise its story.
const LEDE_CHARS: usize = 400;

impl SentStory {
    /// What is remembered of `article`, sent at `sent_at`.
    pub fn of(article: &Article, sent_at: DateTime<Utc>) -> SentStory {
        SentStory {
            sent_at,
            feed_key: article.feed_key.clone(),
            title: article.title.clone(),
            link: article.link.clone(),
            lede: crate::text::truncate_chars(&article.text, LEDE_CHARS),
        }
    }
}

/// Folds `articles` into stories (the earliest report leads) and marks the
/// stories that match something in `earlier`.
pub fn plan(articles: &[Article], earlier: &[SentStory]) -> Vec<Story> {
    let mut order: Vec<usize> = (0..articles.len()).collect();
    order.sort_by_key(|i| (articles[*i].time(), *i));
    let feeds: Vec<&str> = order.iter().map(|i| articles[*i].feed_key.as_str()).collect();
    let terms: Vec<Terms> = order
        .iter()
        .map(|i| stories::terms(&articles[*i].title, &articles[*i].text))
        .collect();
    let earlier_terms: Vec<Terms> = earlier
        .iter()
        .map(|e| stories::terms(&e.title, &e.lede))
        .collect();
    let corpus = Corpus::new(terms.iter().chain(&earlier_terms));
    let vectors: Vec<Vector<'_>> = terms.iter().map(|t| corpus.vector(t)).collect();
    let earlier_vectors: Vec<Vector<'_>> = earlier_terms.iter().map(|t| corpus.vector(t)).collect();
    stories::fold(&feeds, &vectors)
        .into_iter()
        .map(|group| {
            // The earlier report most like any member of the story; a feed's
            // own series (a daily briefing) is not a follow-up.
            let follow_up = group
                .iter()
                .flat_map(|member| {
                    earlier_vectors
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| earlier[*i].feed_key != feeds[*member])
                        .map(|(i, e)| (i, stories::same_story(&vectors[*member], e)))
                })
                .filter(|(_, (same, _))| *same)
                .max_by(|(_, (_, a)), (_, (_, b))| a.total_cmp(b))
                .map(|(i, _)| i);
            Story {
                lead: order[group[0]],
                folded: group[1..].iter().map(|m| order[*m]).collect(),
                follow_up,
            }
        })
        .collect()
}
