//! Which topics an article belongs to, and which subscribers want it. Pure.
//!
//! A topic matches on its `keywords` (any), `regex` (any), or mapped feed
//! `categories`; every word of `all` must be there and none of `exclude`;
//! over the chosen fields. Text is compared with full-width forms folded to
//! half-width (`ＡＩ` is `AI`) and traditional Chinese to simplified (`朝鮮`
//! is `朝鲜`). English words match whole words (`AI` is not in `said`);
//! Chinese matches anywhere. A feed's own `topics` always apply. An article
//! is shown once, in the first of its topics — by `priority`, then config
//! order — that the reader follows.
//!
//! Case: a keyword (of `keywords`, `all`, `exclude`, or a subscriber's
//! `exclude_keywords`) with a capital letter, once full-width forms are
//! folded, is case-sensitive and matches only that exact case: `Go` matches
//! "Go 1.24", not "ready to go" nor "GO!"; `ＡＩ` is `AI` and matches "AI"
//! and "ＡＩ", not "ai". A keyword written all in lower case (`rust`)
//! matches any case, and so does one with no cased letters (Chinese). To
//! match a name in any case, write it in lower case. Feed categories match
//! in any case. Regexes are case-insensitive unless they say `(?-i)`; they
//! run on the folded text with its case kept, so `(?-i)\bGo\b` works.
//!
//! An article's fields are folded at most once, in both case modes, and only
//! when a rule reads them ([`ArticleText`]): with no rules, nothing is folded.

use std::cell::OnceCell;

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

/// Full-width ASCII and the ideographic space folded to their half-width
/// forms, and traditional Chinese characters to simplified ones (`朝鮮`
/// matches `朝鲜`); case is kept. What case-sensitive keywords match.
pub fn fold_forms(text: &str) -> String {
    crate::variants::fold_with(text, |c| match crate::variants::fold_char(c) {
        wide @ '\u{FF01}'..='\u{FF5E}' => char::from_u32(wide as u32 - 0xFEE0).unwrap_or(wide),
        '\u{3000}' => ' ',
        other => other,
    })
    .into_owned()
}

/// A topic's regex folded as the text it runs on is (traditional to
/// simplified, full-width to ASCII), so `朝鮮` or `ＡＩ` written in a
/// pattern matches; full-width punctuation becomes its ASCII form escaped
/// (`（` is a literal parenthesis, not a group), as it is in the text.
pub fn fold_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match crate::variants::fold_char(c) {
            '\u{3000}' => out.push(' '),
            wide @ '\u{FF01}'..='\u{FF5E}' => {
                let ascii = char::from_u32(wide as u32 - 0xFEE0).unwrap_or(wide);
                if ascii.is_ascii_alphanumeric() {
                    out.push(ascii);
                } else {
                    out.push_str(&regex::escape(ascii.encode_utf8(&mut [0; 4])));
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// [`fold_forms`], then lower case: what every other rule matches.
pub fn normalize(text: &str) -> String {
    lowercase(&fold_forms(text))
}

/// Each character lower-cased on its own (no context, so that a text's parts
/// lower-case as the whole does).
fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else if !text.contains('Σ') {
        // The standard one is much faster, and differs from a character at
        // a time only for Σ (ς at the end of a word).
        text.to_lowercase()
    } else {
        text.chars().flat_map(char::to_lowercase).collect()
    }
}

/// A keyword of a topic (`keywords`, `all`, `exclude`) or of a subscriber
/// (`exclude_keywords`), folded as it is matched.
///
/// It is case-sensitive when it has a capital letter once full-width forms
/// are folded (`Go`, `AI`, `ＡＩ`, `iOS`): it then matches only that exact
/// case. Written all in lower case (`rust`), or with no letters that have a
/// case (Chinese), it matches any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    /// Folded ([`fold_forms`]); lower case unless case-sensitive.
    text: String,
    case_sensitive: bool,
}

impl Keyword {
    /// The keyword as written (trimmed by the caller).
    pub fn new(written: &str) -> Keyword {
        let exact = fold_forms(written);
        let lower = lowercase(&exact);
        let case_sensitive = lower != exact;
        Keyword {
            text: if case_sensitive { exact } else { lower },
            case_sensitive,
        }
    }

    /// As it is matched: folded, and lower case unless case-sensitive.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// Does it have letters with a case at all? Chinese keywords do not, and
    /// `topics explain` then names no case mode for them.
    fn has_case(&self) -> bool {
        self.text.chars().any(|c| c.is_uppercase() || c.is_lowercase())
    }

    fn is_in(&self, haystack: &Forms) -> bool {
        let text = if self.case_sensitive {
            &haystack.exact
        } else {
            &haystack.lower
        };
        contains_keyword(text, &self.text)
    }
}

/// `"Go" (case-sensitive)`, `"rust" (any case)`, `"导弹"`: as `topics explain`
/// names a keyword.
impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.text)?;
        if self.case_sensitive {
            f.write_str(" (case-sensitive)")
        } else if self.has_case() {
            f.write_str(" (any case)")
        } else {
            Ok(())
        }
    }
}

/// A text in both forms rules match: case kept ([`fold_forms`]) and lower
/// case ([`normalize`]).
#[derive(Debug, Clone, Default)]
struct Forms {
    exact: String,
    lower: String,
}

impl Forms {
    fn new(text: &str) -> Forms {
        let exact = fold_forms(text);
        let lower = lowercase(&exact);
        Forms { exact, lower }
    }

    fn push(&mut self, part: &Forms) {
        self.exact.push_str(&part.exact);
        self.lower.push_str(&part.lower);
    }

    fn push_str(&mut self, separator: &str) {
        self.exact.push_str(separator);
        self.lower.push_str(separator);
    }
}

/// An article's title, text and categories, each folded in both case modes
/// the first time a topic or subscriber rule reads it, then kept for the
/// others: most configs have rules for few fields, and some for none.
#[derive(Debug, Clone)]
pub struct ArticleText<'a> {
    title: Lazy<'a>,
    text: Lazy<'a>,
    categories: &'a [String],
    /// One [`Forms`] per category, lower case for the category mapping.
    folded_categories: OnceCell<Vec<Forms>>,
}

/// A field as written, and its [`Forms`] once something asked for them.
#[derive(Debug, Clone)]
struct Lazy<'a> {
    raw: &'a str,
    forms: OnceCell<Forms>,
}

impl<'a> Lazy<'a> {
    fn new(raw: &'a str) -> Lazy<'a> {
        Lazy {
            raw,
            forms: OnceCell::new(),
        }
    }

    fn get(&self) -> &Forms {
        self.forms.get_or_init(|| Forms::new(self.raw))
    }
}

impl<'a> ArticleText<'a> {
    pub fn new(title: &'a str, text: &'a str, categories: &'a [String]) -> ArticleText<'a> {
        ArticleText {
            title: Lazy::new(title),
            text: Lazy::new(text),
            categories,
            folded_categories: OnceCell::new(),
        }
    }

    fn categories(&self) -> &[Forms] {
        self.folded_categories
            .get_or_init(|| self.categories.iter().map(|c| Forms::new(c)).collect())
    }

    /// The text a rule looks at: the chosen fields, one per line (categories
    /// one per line, last). Folding and lower-casing work a character at a
    /// time, so this is the folded text of the fields joined.
    fn haystack(&self, fields: Fields, feed_name: &Lazy<'_>) -> Forms {
        let mut haystack = Forms::default();
        for (wanted, field) in [
            (fields.title, &self.title),
            (fields.text, &self.text),
            (fields.feed, feed_name),
        ] {
            if wanted {
                haystack.push(field.get());
                haystack.push_str("\n");
            }
        }
        if fields.categories {
            for (i, category) in self.categories().iter().enumerate() {
                if i > 0 {
                    haystack.push_str("\n");
                }
                haystack.push(category);
            }
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
    /// Any one matches.
    pub keywords: Vec<Keyword>,
    /// Every one must be there.
    pub all: Vec<Keyword>,
    /// None may be there.
    pub exclude: Vec<Keyword>,
    /// Case-insensitive as built by `config` (a pattern can turn that off
    /// with `(?-i)`), matched against the text folded with case kept
    /// ([`fold_forms`]); any one matches.
    pub regex: Vec<regex::Regex>,
    pub fields: Fields,
    /// Higher wins over config order when an article matches several topics.
    pub priority: i32,
    /// Feed categories (normalized, so any case) that put an article in this topic.
    pub categories: Vec<String>,
}

impl Topic {
    /// Does a rule of it read the chosen fields' text (not only categories)?
    fn reads_text(&self) -> bool {
        !(self.keywords.is_empty() && self.regex.is_empty() && self.all.is_empty() && self.exclude.is_empty())
    }

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
    /// Articles whose title or text has one never reach this subscriber.
    pub exclude_keywords: Vec<Keyword>,
}

/// What topic rules read of a feed: its name (for `fields = ["feed"]`) and
/// the topics it assigns to every article.
#[derive(Debug, Clone, Copy)]
pub struct FeedTopics<'a> {
    pub name: &'a str,
    pub topics: &'a [String],
}

/// Every topic that matches, highest priority first, then config order.
pub fn explain(topics: &[Topic], feed: FeedTopics<'_>, article: &ArticleText<'_>) -> Vec<Match> {
    let feed_name = feed.name;
    let feed_forms = Lazy::new(feed_name);
    // One haystack per set of fields the topics choose (most share the default).
    let mut haystacks: Vec<(Fields, Forms)> = Vec::new();
    let mut matches: Vec<(usize, Match)> = Vec::new();
    for (index, topic) in topics.iter().enumerate() {
        let reason = if feed.topics.contains(&topic.name) {
            Some(format!("feed {feed_name:?} assigns it"))
        } else if !topic.reads_text() {
            // Feed categories only: no field need be folded.
            rule_reason(topic, &Forms::default(), article)
        } else {
            let position = match haystacks.iter().position(|(fields, _)| *fields == topic.fields) {
                Some(position) => position,
                None => {
                    haystacks.push((topic.fields, article.haystack(topic.fields, &feed_forms)));
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

fn rule_reason(topic: &Topic, haystack: &Forms, article: &ArticleText<'_>) -> Option<String> {
    let positive = if let Some(category) = topic
        .categories
        .iter()
        .find(|c| article.categories().iter().any(|own| own.lower == **c))
    {
        Some(format!("feed category {category:?}"))
    } else if let Some(keyword) = topic.keywords.iter().find(|k| k.is_in(haystack)) {
        Some(format!("keyword {keyword}"))
    } else if let Some(regex) = topic.regex.iter().find(|r| r.is_match(&haystack.exact)) {
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
    if topic.all.iter().any(|k| !k.is_in(haystack)) {
        return None;
    }
    if topic.exclude.iter().any(|k| k.is_in(haystack)) {
        return None;
    }
    let mut reason = positive;
    if !topic.all.is_empty() {
        if !reason.is_empty() {
            reason.push_str(", ");
        }
        reason.push_str(&format!("all of {}", list(&topic.all)));
    }
    if !topic.exclude.is_empty() {
        reason.push_str(&format!(", none of {}", list(&topic.exclude)));
    }
    Some(reason)
}

/// `["compiler" (any case), "Go" (case-sensitive)]`.
fn list(keywords: &[Keyword]) -> String {
    let names: Vec<String> = keywords.iter().map(Keyword::to_string).collect();
    format!("[{}]", names.join(", "))
}

/// Topic names of an article: highest priority first, then config order.
pub fn classify(topics: &[Topic], feed: FeedTopics<'_>, article: &ArticleText<'_>) -> Vec<String> {
    explain(topics, feed, article)
        .into_iter()
        .map(|m| m.topic)
        .collect()
}

/// Does the subscriber want an article from `feed_key` with these topics and text?
pub fn wants(
    subscriber: &Filter,
    feed_key: &str,
    article_topics: &[String],
    article: &ArticleText<'_>,
) -> bool {
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
        let haystack = article.haystack(title_and_text, &Lazy::new(""));
        subscriber.exclude_keywords.iter().any(|k| k.is_in(&haystack))
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

/// Keyword match on folded text (both in the same case mode). Keywords that
/// are ASCII words match whole words only ("ai" does not match "said");
/// others (Chinese) match anywhere.
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
