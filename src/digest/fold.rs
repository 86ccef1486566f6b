//! Which articles of a digest are one story, and which stories the reader
//! already got lately from another feed (follow-ups). Pure: the caller gives
//! the articles and what was sent; [`crate::stories`] judges similarity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::Article;
use crate::stories::{self, Corpus, Embed, Embedding, Scores, Terms, Vector};

/// One entry of the digest: its lead article, the same story from other
/// feeds, and the earlier story it follows up, as indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub lead: usize,
    /// Each with the scores that folded it.
    pub folded: Vec<(usize, Scores)>,
    pub follow_up: Option<(usize, Scores)>,
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
    /// Its title's embedding, as the article had it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<crate::stories::Packed>,
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
            meaning: article.meaning.clone(),
        }
    }
}

/// Folds `articles` into stories (the earliest report leads) and marks the
/// stories that match something in `earlier`. With `meaning`, titles are
/// compared by meaning as well as by words (`crate::stories::judge`).
pub fn plan(articles: &[Article], earlier: &[SentStory], meaning: Option<&dyn Embed>) -> Vec<Story> {
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
    let (titles, earlier_titles) = match meaning {
        Some(meaning) => {
            let texts: Vec<&str> = order
                .iter()
                .map(|i| articles[*i].title.as_str())
                .chain(earlier.iter().map(|e| e.title.as_str()))
                .collect();
            let mut all = meaning.embed(&texts);
            let earlier_titles = all.split_off(order.len());
            (Some(all), earlier_titles)
        }
        None => (None, Vec::new()),
    };
    let meaning = |a: Option<&Embedding>, b: Option<&Embedding>| match (a, b) {
        (Some(a), Some(b)) => Some(stories::embedding_cosine(a, b)),
        _ => None,
    };
    let times: Vec<i64> = order.iter().map(|i| articles[*i].time().timestamp()).collect();
    stories::fold(&feeds, &times, &vectors, titles.as_deref())
        .into_iter()
        .map(|group| {
            // The earlier report most like any member of the story; a feed's
            // own series (a daily briefing) is not a follow-up.
            let follow_up = group
                .members()
                .flat_map(|member| {
                    let title = titles.as_ref().map(|t| &t[member]);
                    earlier_vectors
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| earlier[*i].feed_key != feeds[member])
                        .map(|(i, e)| {
                            let m = meaning(title, earlier_titles.get(i));
                            (i, stories::judge(&vectors[member], e, m))
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|(_, scores)| scores.same)
                .max_by(|(_, a), (_, b)| a.score.total_cmp(&b.score));
            Story {
                lead: order[group.lead],
                folded: group.folded.iter().map(|(m, s)| (order[*m], *s)).collect(),
                follow_up,
            }
        })
        .collect()
}
