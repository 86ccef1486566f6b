//! Which topics an article belongs to, and which subscribers want it. Pure.
//!
//! A topic matches on its `keywords` (any), `regex` (any), or mapped feed
//! `categories`; every word of `all` must be there and none of `exclude`;
//! over the chosen fields. Text is compared case-insensitively with full-width
//! forms folded to half-width (`ＡＩ` is `AI`). English words match whole words
//! (`AI` is not in `said`); Chinese matches anywhere. A feed's own `topics`
//! always apply. An article is shown once, in the first of its topics — by
//! `priority`, then config order — that the reader follows.
//!
//! An article's text is normalized once ([`ArticleText`]) for all topics and
//! subscribers.

/// What a topic looks at; `summary` and `content` are both the article text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub title: bool,
    pub text: bool,
    pub categories: bool,
    pub feed: bool,
}

impl Default for Fields {
    fn default() -> Fields {
        Fields {
            title: true,
            text: true,
            categories: true,
            feed: false,
        }
    }
}

/// Lower case, with full-width ASCII and the ideographic space folded to
/// their half-width forms, and traditional Chinese characters to simplified
/// ones (`朝鮮` matches `朝鲜`).
pub fn normalize(text: &str) -> String {
    crate::variants::fold(text)
        .chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// An article's title, text and categories, normalized once for every topic
/// and subscriber rule that reads them.
#[derive(Debug, Clone)]
pub struct ArticleText {
    title: String,
    text: String,
    /// One per category, for the category mapping too.
    categories: Vec<String>,
}

impl ArticleText {
    pub fn new(title: &str, text: &str, categories: &[String]) -> ArticleText {
        ArticleText {
            title: normalize(title),
            text: normalize(text),
            categories: categories.iter().map(|c| normalize(c)).collect(),
        }
    }

    /// The text a rule looks at: the chosen fields, one per line (categories
    /// one per line, last). `normalize` works a character at a time, so this
    /// is the normalized text of the fields joined.
    fn haystack(&self, fields: Fields, feed_name: &str) -> String {
        let mut haystack = String::new();
        for (wanted, field) in [
            (fields.title, &*self.title),
            (fields.text, &*self.text),
            (fields.feed, feed_name),
        ] {
            if wanted {
                haystack.push_str(field);
                haystack.push('\n');
            }
        }
        if fields.categories {
            haystack.push_str(&self.categories.join("\n"));
        }
        haystack
    }
}

/// Why a topic matched, for `topics explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub topic: String,
    pub priority: i32,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    /// Normalized ([`normalize`]); any one matches.
    pub keywords: Vec<String>,
    /// Normalized; every one must be there.
    pub all: Vec<String>,
    /// Normalized; none may be there.
    pub exclude: Vec<String>,
    /// Case-insensitive, matched against normalized text; any one matches.
    pub regex: Vec<regex::Regex>,
    pub fields: Fields,
    /// Higher wins over config order when an article matches several topics.
    pub priority: i32,
    /// Feed categories (normalized) that put an article in this topic.
    pub categories: Vec<String>,
}

impl Topic {
    /// A topic that only feeds assign.
    pub fn named(name: &str) -> Topic {
        Topic {
            name: name.to_owned(),
            keywords: Vec::new(),
            all: Vec::new(),
            exclude: Vec::new(),
            regex: Vec::new(),
            fields: Fields::default(),
            priority: 0,
            categories: Vec::new(),
        }
    }
}

/// Which articles a subscriber wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: every topic (and unmatched articles).
    pub topics: Option<Vec<String>>,
    /// `None`: every feed. Otherwise feed keys.
    pub feeds: Option<Vec<String>>,
    /// Articles in these topics never reach this subscriber.
    pub exclude_topics: Vec<String>,
    /// Normalized; articles whose title or text has one never reach this subscriber.
    pub exclude_keywords: Vec<String>,
}

/// What topic rules read of a feed: its name (for `fields = ["feed"]`) and
/// the topics it assigns to every article.
#[derive(Debug, Clone, Copy)]
pub struct FeedTopics<'a> {
    pub name: &'a str,
    pub topics: &'a [String],
}

/// Every topic that matches, highest priority first, then config order.
pub fn explain(topics: &[Topic], feed: FeedTopics<'_>, article: &ArticleText) -> Vec<Match> {
    let feed_name = feed.name;
    let normalized_feed_name = normalize(feed_name);
    // One haystack per set of fields the topics choose (most share the default).
    let mut haystacks: Vec<(Fields, String)> = Vec::new();
    let mut matches: Vec<(usize, Match)> = Vec::new();
    for (index, topic) in topics.iter().enumerate() {
        let reason = if feed.topics.contains(&topic.name) {
            Some(format!("feed {feed_name:?} assigns it"))
        } else {
            let position = match haystacks.iter().position(|(fields, _)| *fields == topic.fields) {
                Some(position) => position,
                None => {
                    haystacks.push((
                        topic.fields,
                        article.haystack(topic.fields, &normalized_feed_name),
                    ));
                    haystacks.len() - 1
                }
            };
            haystacks
                .get(position)
                .and_then(|(_, haystack)| rule_reason(topic, haystack, article))
        };
        if let Some(reason) = reason {
            matches.push((
                index,
                Match {
                    topic: topic.name.clone(),
                    priority: topic.priority,
                    reason,
                },
            ));
        }
    }
    matches.sort_by_key(|(index, m)| (std::cmp::Reverse(m.priority), *index));
    matches.into_iter().map(|(_, m)| m).collect()
}

fn rule_reason(topic: &Topic, haystack: &str, article: &ArticleText) -> Option<String> {
    let positive = if let Some(category) = topic.categories.iter().find(|c| article.categories.contains(c)) {
        Some(format!("feed category {category:?}"))
    } else if let Some(keyword) = topic.keywords.iter().find(|k| contains_keyword(haystack, k)) {
        Some(format!("keyword {keyword:?}"))
    } else if let Some(regex) = topic.regex.iter().find(|r| r.is_match(haystack)) {
        Some(format!("regex {:?}", regex.as_str()))
    } else if topic.keywords.is_empty()
        && topic.regex.is_empty()
        && topic.categories.is_empty()
        && !topic.all.is_empty()
    {
        Some(String::new())
    } else {
        None
    }?;
    if topic.all.iter().any(|k| !contains_keyword(haystack, k)) {
        return None;
    }
    if topic.exclude.iter().any(|k| contains_keyword(haystack, k)) {
        return None;
    }
    let mut reason = positive;
    if !topic.all.is_empty() {
        if !reason.is_empty() {
            reason.push_str(", ");
        }
        reason.push_str(&format!("all of {:?}", topic.all));
    }
    if !topic.exclude.is_empty() {
        reason.push_str(&format!(", none of {:?}", topic.exclude));
    }
    Some(reason)
}

/// Topic names of an article: highest priority first, then config order.
pub fn classify(topics: &[Topic], feed: FeedTopics<'_>, article: &ArticleText) -> Vec<String> {
    explain(topics, feed, article)
        .into_iter()
        .map(|m| m.topic)
        .collect()
}

/// Does the subscriber want an article from `feed_key` with these topics and text?
pub fn wants(subscriber: &Filter, feed_key: &str, article_topics: &[String], article: &ArticleText) -> bool {
    let feed_ok = subscriber
        .feeds
        .as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k == feed_key));
    let topic_ok = subscriber
        .topics
        .as_ref()
        .is_none_or(|wanted| article_topics.iter().any(|t| wanted.contains(t)));
    let excluded_topic = article_topics
        .iter()
        .any(|t| subscriber.exclude_topics.contains(t));
    let excluded_word = !subscriber.exclude_keywords.is_empty() && {
        let title_and_text = Fields {
            title: true,
            text: true,
            categories: false,
            feed: false,
        };
        let haystack = article.haystack(title_and_text, "");
        subscriber
            .exclude_keywords
            .iter()
            .any(|k| contains_keyword(&haystack, k))
    };
    feed_ok && topic_ok && !excluded_topic && !excluded_word
}

/// The section an article goes to for this subscriber: its first topic the
/// subscriber follows, or `None` (grouped by feed after the topics).
pub fn section_for<'a>(subscriber: &Filter, article_topics: &'a [String]) -> Option<&'a str> {
    article_topics
        .iter()
        .find(|t| subscriber.topics.as_ref().is_none_or(|wanted| wanted.contains(t)))
        .map(String::as_str)
}

/// Keyword match on normalized text. Keywords that are ASCII words match whole
/// words only ("ai" does not match "said"); others (Chinese) match anywhere.
fn contains_keyword(haystack: &str, keyword: &str) -> bool {
    if keyword.is_empty() {
        return false;
    }
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !keyword.is_ascii() {
        return haystack.contains(keyword);
    }
    haystack.match_indices(keyword).any(|(start, _)| {
        // `match_indices` gives char boundaries: the match's start and end.
        let before = haystack.get(..start).and_then(|s| s.chars().next_back());
        let after = haystack
            .get(start + keyword.len()..)
            .and_then(|s| s.chars().next());
        let starts_word = !keyword.starts_with(is_word_char) || before.is_none_or(|c| !is_word_char(c));
        let ends_word = !keyword.ends_with(is_word_char) || after.is_none_or(|c| !is_word_char(c));
        starts_word && ends_word
    })
}

#[cfg(test)]
mod tests;
