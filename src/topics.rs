//! Which topics an article belongs to, and which subscribers want it. Pure.
//!
//! An article's topics are every topic, in section order, whose keywords match
//! its title, text or categories, or that its feed assigns. It is shown once, in
//! the first of them that the reader follows.

use crate::config::{FeedConfig, Subscriber, Topic};

/// Topic names of an article, in section order.
pub fn classify(
    topics: &[Topic],
    feed: &FeedConfig,
    title: &str,
    text: &str,
    categories: &[String],
) -> Vec<String> {
    let haystack = format!("{title}\n{text}\n{}", categories.join("\n")).to_lowercase();
    topics
        .iter()
        .filter(|topic| {
            feed.topics.contains(&topic.name) || topic.keywords.iter().any(|k| contains_keyword(&haystack, k))
        })
        .map(|topic| topic.name.clone())
        .collect()
}

/// Does the subscriber want an article from `feed_key` with these topics?
pub fn wants(subscriber: &Subscriber, feed_key: &str, article_topics: &[String]) -> bool {
    let feed_ok = subscriber
        .feeds
        .as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k == feed_key));
    let topic_ok = subscriber
        .topics
        .as_ref()
        .is_none_or(|wanted| article_topics.iter().any(|t| wanted.contains(t)));
    feed_ok && topic_ok
}

/// The section an article goes to for this subscriber: its first topic the
/// subscriber follows, or `None` (grouped by feed after the topics).
pub fn section_for<'a>(subscriber: &Subscriber, article_topics: &'a [String]) -> Option<&'a str> {
    article_topics
        .iter()
        .find(|t| subscriber.topics.as_ref().is_none_or(|wanted| wanted.contains(t)))
        .map(String::as_str)
}

/// Keyword match on lower-cased text. Keywords that are ASCII words match whole
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
        let before = haystack[..start].chars().next_back();
        let after = haystack[start + keyword.len()..].chars().next();
        let starts_word = !keyword.starts_with(is_word_char) || before.is_none_or(|c| !is_word_char(c));
        let ends_word = !keyword.ends_with(is_word_char) || after.is_none_or(|c| !is_word_char(c));
        starts_word && ends_word
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedSource;

    fn topic(name: &str, keywords: &[&str]) -> Topic {
        Topic {
            name: name.to_owned(),
            keywords: keywords.iter().map(|k| k.to_lowercase()).collect(),
        }
    }

    fn feed(topics: &[&str]) -> FeedConfig {
        FeedConfig {
            key: "f".to_owned(),
            source: FeedSource::File("f.xml".into()),
            name: None,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            strip: Vec::new(),
        }
    }

    #[test]
    fn english_keywords_match_whole_words() {
        let topics = [topic("AI", &["AI"])];
        assert!(classify(&topics, &feed(&[]), "New AI model", "", &[]).contains(&"AI".to_owned()));
        assert!(classify(&topics, &feed(&[]), "He said so", "", &[]).is_empty());
    }

    #[test]
    fn chinese_keywords_match_substrings() {
        let topics = [topic("朝鲜半岛", &["朝鲜", "North Korea"])];
        assert_eq!(
            classify(&topics, &feed(&[]), "朝鲜与俄罗斯越走越近", "", &[]),
            vec!["朝鲜半岛"]
        );
        assert_eq!(
            classify(&topics, &feed(&[]), "Talks with north korea", "", &[]),
            vec!["朝鲜半岛"]
        );
    }

    #[test]
    fn feed_topics_and_rules_keep_section_order() {
        let topics = [topic("朝鲜半岛", &["朝鲜"]), topic("国际", &[])];
        let found = classify(&topics, &feed(&["国际"]), "朝鲜", "", &[]);
        assert_eq!(found, vec!["朝鲜半岛", "国际"]);
    }

    #[test]
    fn categories_count() {
        let topics = [topic("Rust", &["rust"])];
        assert_eq!(
            classify(&topics, &feed(&[]), "x", "", &["Rust".to_owned()]),
            vec!["Rust"]
        );
    }
}
