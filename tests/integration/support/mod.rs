//! Real servers on loopback port 0 and helpers shared by the integration tests.

pub mod caniemail;
pub mod cli;
pub mod expect;
pub mod html_scan;
pub mod http;
pub mod postgres;
pub mod smtp;
pub mod world;

use std::path::{Path, PathBuf};

use feed_digest::config::Config;

/// A third-party corpus fetched by `scripts/test-data.sh` (feedparser's test
/// suite, caniemail's data), under `target/test-data/`: the one place that
/// knows where they are. Panics with the path and the fix when it is missing.
#[track_caller]
pub fn test_data(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-data")
        .join(relative);
    assert!(
        path.exists(),
        "test data missing: {} (run scripts/test-data.sh once to fetch it; scripts/test.sh does)",
        path.display()
    );
    path
}

/// Every file below `dir`, recursively, appended to `out`.
pub fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Parses config text anchored in `dir`, panicking with the message on error.
#[track_caller]
pub fn config(text: &str, dir: &Path) -> Config {
    match Config::parse(text, None, dir, &[]) {
        Ok(config) => config,
        Err(err) => panic!("test config is invalid: {err}\n---\n{text}"),
    }
}

/// A decoded message as a reader's client would show it.
pub struct Mail {
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

#[track_caller]
pub fn decode(raw: &[u8]) -> Mail {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("unparsable message:\n{}", String::from_utf8_lossy(raw)));
    Mail {
        message_id: parsed.message_id().unwrap_or_default().to_owned(),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        text: parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        raw: String::from_utf8_lossy(raw).into_owned(),
    }
}

/// An RSS 2.0 document; items are `(guid, title, description, pubDate)`.
pub fn rss(title: &str, items: &[(&str, &str, &str, Option<chrono::DateTime<chrono::Utc>>)]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>https://example.cn/</link><description>d</description>\n"
    );
    for (guid, title, description, date) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>https://example.cn/{guid}</link><guid isPermaLink=\"false\">{guid}</guid>{}<description><![CDATA[{description}]]></description></item>\n",
            date.map(|d| format!("<pubDate>{}</pubDate>", d.to_rfc2822())).unwrap_or_default()
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

/// An Atom document; entries are `(id, title, summary, updated)`.
pub fn atom(title: &str, entries: &[(&str, &str, &str, Option<chrono::DateTime<chrono::Utc>>)]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{title}</title><id>urn:test:{title}</id><updated>2026-01-01T00:00:00Z</updated>\n"
    );
    for (id, title, summary, date) in entries {
        out.push_str(&format!(
            "<entry><title>{title}</title><id>urn:test:{id}</id><link rel=\"alternate\" href=\"https://example.org/{id}\"/>{}<summary>{summary}</summary></entry>\n",
            date.map(|d| format!("<updated>{}</updated>", d.to_rfc3339())).unwrap_or_default()
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// An article at `link` from `feed`, queued for `email`, as a plan makes it.
pub fn new_article(feed: &str, guid: &str, link: &str, email: &str) -> feed_digest::ingest::NewArticle {
    let item = feed_digest::article::Item {
        guid: Some(guid.to_owned()),
        link: Some(link.to_owned()),
        title: "Same story".to_owned(),
        text: "told once".to_owned(),
        published: Some(chrono::Utc::now()),
        updated: None,
        categories: Vec::new(),
        image: None,
    };
    feed_digest::ingest::NewArticle {
        article: feed_digest::article::Article {
            id: feed_digest::article::ArticleId::for_item(feed, &item, false),
            feed_key: feed.to_owned(),
            title: item.title.clone(),
            link: item.link.clone(),
            text: item.text.clone(),
            published: item.published,
            categories: Vec::new(),
            first_seen: chrono::Utc::now(),
            also_in: Vec::new(),
            routed: Vec::new(),
            updated: None,
            image: None,
            meaning: None,
        },
        recipients: vec![email.to_owned()],
        canonical_link: Some(link.to_owned()),
    }
}
