//! OPML 2.0 in and out: feed lists from other readers become `[[feeds]]`
//! entries (their folders and categories become topics), and the configured
//! feeds become an OPML file other readers import. Pure.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

/// One feed of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpmlFeed {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("not a valid OPML file (at byte {position}): {message}")]
pub struct OpmlError {
    position: u64,
    message: String,
}

/// Reads every `<outline xmlUrl=…>`; the texts of enclosing outlines (folders)
/// and the OPML 2.0 `category` attribute become topics.
pub fn parse(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    let mut reader = Reader::from_str(text);
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut feeds: Vec<OpmlFeed> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|err| OpmlError {
            position: reader.buffer_position(),
            message: err.to_string(),
        })?;
        match event {
            Event::Start(tag) if tag.local_name().as_ref() == b"outline" => {
                let outline = attributes(&tag);
                match feed_of(&outline, &folders) {
                    Some(feed) => {
                        push_unique(&mut feeds, feed);
                        folders.push(None);
                    }
                    None => folders.push(outline.text.clone()),
                }
            }
            Event::Empty(tag) if tag.local_name().as_ref() == b"outline" => {
                if let Some(feed) = feed_of(&attributes(&tag), &folders) {
                    push_unique(&mut feeds, feed);
                }
            }
            Event::End(tag) if tag.local_name().as_ref() == b"outline" => {
                folders.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(feeds)
}

#[derive(Default)]
struct Outline {
    text: Option<String>,
    xml_url: Option<String>,
    category: Option<String>,
}

fn attributes(tag: &BytesStart<'_>) -> Outline {
    let mut outline = Outline::default();
    let mut title = None;
    for attribute in tag.attributes().flatten() {
        // A bare `&` (`xmlUrl="https://x/?a=1&b=2"`, as hand-edited files and
        // old exporters write it) does not unescape: the raw value then,
        // rather than an outline silently dropped.
        let value = attribute
            .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, tag.decoder())
            .map(|v| v.into_owned())
            .or_else(|_| tag.decoder().decode(&attribute.value).map(|v| v.into_owned()))
            .map(|v| v.trim().to_owned())
            .ok()
            .filter(|v| !v.is_empty());
        match attribute.key.local_name().as_ref() {
            b"text" => outline.text = value,
            b"title" => title = value,
            b"xmlUrl" | b"xmlurl" => outline.xml_url = value,
            b"category" => outline.category = value,
            _ => {}
        }
    }
    outline.text = outline.text.or(title);
    outline
}

fn feed_of(outline: &Outline, folders: &[Option<String>]) -> Option<OpmlFeed> {
    let url = outline.xml_url.clone()?;
    let mut topics: Vec<String> = folders.iter().flatten().cloned().collect();
    // OPML 2.0 categories: "/Tech/Rust,/News" — the last segment of each path.
    for category in outline.category.iter().flat_map(|c| c.split(',')) {
        if let Some(topic) = category
            .trim()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .map(str::trim)
            && !topic.is_empty()
            && !topics.iter().any(|t| t == topic)
        {
            topics.push(topic.to_owned());
        }
    }
    Some(OpmlFeed {
        url,
        name: outline.text.clone(),
        topics,
    })
}

fn push_unique(feeds: &mut Vec<OpmlFeed>, feed: OpmlFeed) {
    if !feeds.iter().any(|f| f.url == feed.url) {
        feeds.push(feed);
    }
}

/// `[[feeds]]` TOML entries for `feeds`.
pub fn to_config_entries(feeds: &[OpmlFeed]) -> String {
    #[derive(Serialize)]
    struct Entries<'a> {
        feeds: &'a [OpmlFeed],
    }
    toml::to_string(&Entries { feeds }).unwrap_or_default()
}

/// An OPML 2.0 document listing `feeds`; topics go into `category`.
pub fn render(title: &str, feeds: &[OpmlFeed]) -> String {
    let escape = |text: &str| html_escape::encode_double_quoted_attribute(text).into_owned();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        escape(title)
    ));
    for feed in feeds {
        let name = feed.name.as_deref().unwrap_or(&feed.url);
        let mut line = format!(
            "    <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\"",
            escape(name),
            escape(name),
            escape(&feed.url)
        );
        if !feed.topics.is_empty() {
            let categories: Vec<String> = feed
                .topics
                .iter()
                .map(|t| format!("/{}", t.replace(['/', ','], " ")))
                .collect();
            line.push_str(&format!(" category=\"{}\"", escape(&categories.join(","))));
        }
        line.push_str("/>\n");
        out.push_str(&line);
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_categories_become_topics() {
        let opml = r#"<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
            <outline text="科技" title="科技">
              <outline type="rss" text="Tech &amp; Rust" xmlUrl="https://tech.example.org/feed?a=1&amp;b=2" category="/Programming/Rust"/>
            </outline>
            <outline type="rss" title="No text" xmlUrl="https://n.example.org/rss"/>
            <outline type="rss" text="Dup" xmlUrl="https://n.example.org/rss"/>
            </body></opml>"#;
        let feeds = parse(opml).unwrap_or_default();
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[0].url, "https://tech.example.org/feed?a=1&b=2");
        assert_eq!(feeds[0].name.as_deref(), Some("Tech & Rust"));
        assert_eq!(feeds[0].topics, ["科技", "Rust"]);
        assert_eq!(feeds[1].name.as_deref(), Some("No text"));
    }

    #[test]
    fn render_then_parse_is_the_identity() {
        let feeds = vec![
            OpmlFeed {
                url: "https://a.example/x?y=1&z=\"2\"".to_owned(),
                name: Some("A <&> \"B\"".to_owned()),
                topics: vec!["国际".to_owned(), "Tech".to_owned()],
            },
            OpmlFeed {
                url: "https://b.example/".to_owned(),
                name: None,
                topics: Vec::new(),
            },
        ];
        let back = parse(&render("mine", &feeds)).unwrap_or_default();
        assert_eq!(back[0], feeds[0]);
        assert_eq!(back[1].url, feeds[1].url);
    }

    #[test]
    fn an_unescaped_ampersand_in_a_url_is_read_as_written() {
        let opml = r#"<opml version="2.0"><body>
            <outline type="rss" text="Query" xmlUrl="https://x.example/?a=1&b=2"/>
            </body></opml>"#;
        let feeds = parse(opml).unwrap_or_default();
        assert_eq!(feeds.len(), 1);
        assert_eq!(feeds[0].url, "https://x.example/?a=1&b=2");
    }

    #[test]
    fn broken_opml_is_an_error() {
        assert!(parse("<opml><body><outline xmlUrl=\"x\"></body>").is_err());
    }
}
