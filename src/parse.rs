//! Feed bytes → [`ParsedFeed`]: RSS 0.9x/1.0/2.0, Atom and JSON Feed via feed-rs,
//! adapted to our own [`Item`] model. Pure: no I/O.

use feed_rs::model::{Entry, Text};

pub mod decode;
pub mod dialect;
pub mod html_page;
pub mod json_feed;
pub mod repair;

use crate::article::Item;
use crate::boilerplate::StripRules;
use crate::{boilerplate, images, text};

/// How much item text we keep: enough for any excerpt (at most 1000 characters)
/// and for topic matching, without storing whole articles (docs/benchmarks.md).
const MAX_TEXT_CHARS: usize = 1500;

#[derive(Debug, Clone)]
pub struct ParsedFeed {
    pub reading: Reading,
    pub title: Option<String>,
    pub items: Vec<Item>,
    /// How often the feed says it updates (`<ttl>`, `sy:update*`).
    pub update_hint: Option<chrono::TimeDelta>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a valid RSS, Atom or JSON feed: {0}")]
    Invalid(String),
    /// feed-rs refused the document.
    #[error("not a valid RSS, Atom or JSON feed: {source}")]
    Feed {
        #[source]
        source: feed_rs::parser::ParseFeedError,
    },
    #[error("not a valid RSS, Atom or JSON feed: {0}")]
    Dialect(#[from] dialect::DialectError),
    #[error("this is an HTML page, not a feed{}", advertised_text(.advertised))]
    HtmlPage { advertised: Vec<String> },
}

fn advertised_text(advertised: &[String]) -> String {
    match advertised {
        [] => "; it advertises no feed".to_owned(),
        [one] => format!("; the page advertises the feed {one}: put that URL in the config"),
        many => format!(
            "; the page advertises these feeds: {}; put one in the config",
            many.join(", ")
        ),
    }
}

impl ParseError {
    /// The parser panicked on this input (a bug in it, reported like any bad feed).
    pub fn crashed(err: &dyn std::fmt::Display) -> ParseError {
        ParseError::Invalid(format!("the parser crashed on this input ({err})"))
    }
}

/// How the bytes became text: for `feed-digest fetch` and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// The encoding used ("UTF-8", "GB18030", …).
    pub encoding: &'static str,
    /// Why that encoding ("byte order mark", "HTTP charset", …).
    pub how: &'static str,
    /// Bytes that did not decode and became U+FFFD.
    pub had_errors: bool,
    /// Repairs of sloppy XML, described ("escaped 3 bare '&'").
    pub repairs: Vec<String>,
    /// The format and version the document declares ("Atom 0.3", "RSS 2.0",
    /// "JSON Feed"), before any rewrite.
    pub format: String,
    /// What was read as something else so feed-rs could read it ("Atom 0.3
    /// read as Atom 1.0", "item 3: tags given as text, split at commas").
    pub degradations: Vec<String>,
    /// Why a document that holds items yielded none: never silently empty.
    pub empty: Option<String>,
}

/// Parses raw feed bytes; feed-rs detects the format and the XML encoding.
pub fn parse_feed(bytes: &[u8], base_url: Option<&str>) -> Result<ParsedFeed, ParseError> {
    parse_feed_with(bytes, base_url, &StripRules::default())
}

/// [`parse_feed`], then removes the blocks the feed repeats in its items and
/// what the feed's own `strip` patterns match.
pub fn parse_feed_with(
    bytes: &[u8],
    base_url: Option<&str>,
    strip: &StripRules,
) -> Result<ParsedFeed, ParseError> {
    parse_response(bytes, None, base_url, strip)
}

/// Bytes as a server sent them: decoded (BOM, the `Content-Type` charset, the
/// XML declaration, or detected), repaired when sloppy, then parsed.
pub fn parse_response(
    bytes: &[u8],
    content_type: Option<&str>,
    base_url: Option<&str>,
    strip: &StripRules,
) -> Result<ParsedFeed, ParseError> {
    let base = base_url.and_then(|u| url::Url::parse(u).ok());
    let decoded = decode::decode_for(
        bytes,
        content_type.and_then(decode::charset_from_content_type),
        base.as_ref().and_then(url::Url::host_str),
    );
    if html_page::looks_like_html(&decoded.text) {
        return Err(ParseError::HtmlPage {
            advertised: html_page::advertised_feeds(&decoded.text, base.as_ref()),
        });
    }
    let mut reading = Reading {
        encoding: decoded.name,
        how: decoded.how.describe(),
        had_errors: decoded.had_errors,
        ..Reading::default()
    };
    // Repaired before parsing, not on failure: feed-rs accepts some sloppy
    // feeds silently and loses text (a bare '&' empties the element).
    let text = match repair::repair(&decoded.text) {
        // A document cut short is a failed transfer, not sloppiness: reading
        // it would store half an item as seen; the next poll fetches it whole.
        Some(repaired)
            if repaired
                .fixes
                .iter()
                .any(|f| matches!(f, repair::Fix::Truncated { .. })) =>
        {
            return Err(ParseError::Invalid(
                "the document ends before its root element closes (cut off in transfer?)".to_owned(),
            ));
        }
        Some(repaired) => {
            reading.repairs = repaired.fixes.iter().map(ToString::to_string).collect();
            repaired.text
        }
        None => decoded.text,
    };
    reading.format = format_of(&text);
    let mut parsed = read_dialect(&text, base_url, strip, &mut reading).map_err(|err| {
        match (&err, reading.format.strip_prefix("XML <")) {
            // feed-rs says "no root element" for any XML that is not a feed.
            (ParseError::Feed { .. }, Some(root)) => ParseError::Invalid(format!(
                "an XML document whose root is <{root}: not an RSS, Atom or RDF feed"
            )),
            _ => err,
        }
    })?;
    if parsed.items.is_empty() {
        reading.empty = unread_items(&text).map(|n| {
            format!(
                "{}: the document holds {n} item{} but none could be read",
                reading.format,
                if n == 1 { "" } else { "s" }
            )
        });
    }
    parsed.reading = reading;
    Ok(parsed)
}

/// Start tags of the element `name`, with or without a prefix: `<item>`,
/// `<rss:item …>`, `<item/>`; never `<items>` or `</item>`.
pub(crate) fn start_tags(text: &str, name: &str) -> usize {
    text.match_indices(name)
        .filter(|(at, _)| {
            let ends_name = text
                .get(at + name.len()..)
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace());
            // Between the tag's '<' and the name: nothing, or a prefix and ':'.
            let opens = text.get(..*at).and_then(|before| {
                let prefix = before.get(before.rfind('<')? + 1..)?;
                Some(
                    prefix.is_empty()
                        || prefix.ends_with(':')
                            && !prefix.starts_with('/')
                            && !prefix.contains(char::is_whitespace),
                )
            });
            ends_name && opens == Some(true)
        })
        .count()
}

/// How many item-like elements (`<item>`, `<entry>`, JSON `items`) a
/// document holds, when it holds any.
fn unread_items(text: &str) -> Option<usize> {
    if text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let n = value.get("items")?.as_array()?.len();
        return (n > 0).then_some(n);
    }
    let n = start_tags(text, "item") + start_tags(text, "entry");
    (n > 0).then_some(n)
}

/// The declared format, for `fetch` and the log.
fn format_of(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return "JSON Feed".to_owned();
    }
    dialect::root(text).map_or_else(|| "not XML".to_owned(), |root| root.format())
}

/// Parses `text`, first rewritten when it is a dialect feed-rs misreads (and,
/// for Atom, once more after feed-rs refused it), noting what was changed.
fn read_dialect(
    text: &str,
    base_url: Option<&str>,
    strip: &StripRules,
    reading: &mut Reading,
) -> Result<ParsedFeed, ParseError> {
    if text.trim_start().starts_with('{') {
        return match json_feed::normalise(text) {
            Some(rewritten) => {
                reading.degradations.extend(rewritten.changes);
                parse_text(&rewritten.text, base_url, strip)
            }
            None => parse_text(text, base_url, strip),
        };
    }
    let first = match dialect::normalise(text, true) {
        Ok(Some(rewritten)) => {
            reading.degradations.extend(rewritten.changes);
            parse_text(&rewritten.text, base_url, strip)
        }
        Ok(None) => parse_text(text, base_url, strip),
        Err(err) => return Err(err.into()),
    };
    match first {
        // One text construct feed-rs does not take (a MIME type in `type`)
        // must not cost the whole feed: normalise them and read again.
        Err(err) if reading.format == "Atom 1.0" => match dialect::normalise(text, false) {
            Ok(Some(rewritten)) => {
                let parsed = parse_text(&rewritten.text, base_url, strip).map_err(|_| err)?;
                reading.degradations.extend(rewritten.changes);
                Ok(parsed)
            }
            _ => Err(err),
        },
        other => other,
    }
}

/// UTF-8 feed text → items.
fn parse_text(text: &str, base_url: Option<&str>, strip: &StripRules) -> Result<ParsedFeed, ParseError> {
    // An empty id marks "the feed gave none": feed-rs would otherwise invent
    // one (a random UUID for items without a link), which would defeat dedup.
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base_url)
        .id_generator(|_, _, _| String::new())
        .build();
    let mut feed = parser
        .parse(text.as_bytes())
        .map_err(|source| ParseError::Feed { source })?;
    loose_dates(&mut feed, text, base_url);
    let title = feed
        .title
        .as_ref()
        .map(text_of)
        .map(|t| text::one_line(&t))
        .filter(|t| !t.is_empty());
    let base = base_url.and_then(|u| url::Url::parse(u).ok());
    let (items, mut bodies): (Vec<Item>, Vec<Vec<String>>) = feed
        .entries
        .iter()
        .map(|entry| item_of(entry, base.as_ref(), &strip.selectors))
        .unzip();
    boilerplate::strip_common(&mut bodies);
    let items = items
        .into_iter()
        .zip(bodies)
        .map(|(item, mut blocks)| {
            boilerplate::strip_patterns(&mut blocks, &strip.patterns);
            boilerplate::strip_read_more(&mut blocks);
            finish(item, blocks)
        })
        .collect();
    let (period, frequency) = syndication_hints(text);
    let update_hint = crate::cadence::feed_hint(feed.ttl, period, frequency);
    Ok(ParsedFeed {
        reading: Reading::default(),
        title,
        items,
        update_hint,
    })
}

/// Dates feed-rs does not read (`2024-01-15 10:30:00`, `2024/01/15 10:30`,
/// `2024年1月15日 10:30`, an ISO date without a zone), common in Chinese
/// feeds: read a second time with a parser of those alone, only when an
/// entry came out undated though the document has date elements. (feed-rs
/// takes one timestamp parser; its own lenient one is not public, so
/// replacing it would lose what it reads.)
fn loose_dates(feed: &mut feed_rs::model::Feed, text: &str, base_url: Option<&str>) {
    let undated = |e: &Entry| e.published.is_none() && e.updated.is_none();
    let has_dates = [
        "<pubDate",
        "<dc:date",
        "<published",
        "<updated",
        "\"date_published\"",
    ]
    .iter()
    .any(|tag| text.contains(tag));
    if !has_dates || !feed.entries.iter().any(undated) {
        return;
    }
    let zone = zone_of(base_url);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base_url)
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(move |text| loose_timestamp(text, zone))
        .build();
    let Ok(again) = parser.parse(text.as_bytes()) else {
        return;
    };
    if again.entries.len() != feed.entries.len() {
        return;
    }
    for (entry, other) in feed.entries.iter_mut().zip(again.entries) {
        if undated(entry) && entry.id == other.id {
            entry.published = other.published;
            entry.updated = other.updated;
        }
    }
}

/// The zone a feed's dates without one are most likely in, by its host's
/// top-level domain (a Chinese news site writes Beijing time); `None` when
/// the domain does not say.
fn zone_of(base_url: Option<&str>) -> Option<chrono::FixedOffset> {
    let host = url::Url::parse(base_url?).ok()?.host_str()?.to_ascii_lowercase();
    let hours = match host.rsplit('.').next()? {
        "cn" | "hk" | "mo" | "tw" | "sg" | "my" | "ph" => 8,
        "jp" | "kr" => 9,
        _ => return None,
    };
    chrono::FixedOffset::east_opt(hours * 3600)
}

/// A date in one of the forms [`loose_dates`] adds. Without a zone, in the
/// feed's (`zone`), else Beijing time for a date written 年月日, else UTC.
fn loose_timestamp(text: &str, zone: Option<chrono::FixedOffset>) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    let with_zone = [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%d %H:%M %z",
        "%Y/%m/%d %H:%M:%S %z",
    ];
    if let Some(at) = with_zone
        .iter()
        .find_map(|format| chrono::DateTime::parse_from_str(text, format).ok())
    {
        return Some(at.with_timezone(&chrono::Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日 %H:%M",
        "%Y年%m月%d日%H:%M",
    ];
    let beijing = chrono::FixedOffset::east_opt(8 * 3600);
    let zone = zone
        .or_else(|| beijing.filter(|_| text.contains('年')))
        .unwrap_or(chrono::FixedOffset::east_opt(0)?);
    let in_zone = |at: chrono::NaiveDateTime| {
        chrono::TimeZone::from_local_datetime(&zone, &at)
            .single()
            .map(|at| at.with_timezone(&chrono::Utc))
    };
    if let Some(at) = naive
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    {
        return in_zone(at);
    }
    ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"]
        .iter()
        .find_map(|format| chrono::NaiveDate::parse_from_str(text, format).ok())
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .and_then(in_zone)
}

/// `sy:updatePeriod` and `sy:updateFrequency` from the feed's head (feed-rs
/// does not read the syndication module).
fn syndication_hints(text: &str) -> (Option<&str>, Option<&str>) {
    // The channel's elements come before the items; the head is enough.
    let limit = text.len().min(64 * 1024);
    let head = (0..4)
        .find_map(|back| text.get(..limit.saturating_sub(back)))
        .unwrap_or_default();
    if !head.contains("<sy:") {
        return (None, None);
    }
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = head.find(&open)? + open.len();
        let end = start + head[start..].find('<')?;
        Some(head[start..end].trim())
    };
    (element("sy:updatePeriod"), element("sy:updateFrequency"))
}

/// An item without its text yet, and its body's text blocks.
fn item_of(
    entry: &Entry,
    feed_url: Option<&url::Url>,
    selectors: &[scraper::Selector],
) -> (Item, Vec<String>) {
    let guid = Some(entry.id.trim().to_owned()).filter(|id| !id.is_empty());
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .or_else(|| entry.links.first())
        .map(|l| l.href.trim().to_owned())
        .filter(|href| !href.is_empty() && href != dialect::NO_LINK)
        // An RSS guid is a permalink unless it says otherwise: without a
        // <link>, a guid that is an http(s) URL is the item's page.
        .or_else(|| {
            guid.as_deref()
                .filter(|g| url::Url::parse(g).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
                .map(str::to_owned)
        });
    let title = entry
        .title
        .as_ref()
        .map(|t| text::one_line(&text_of(t)))
        .unwrap_or_default();
    // The summary is what the feed meant as a teaser; whole articles come as content.
    let body_html = entry
        .summary
        .as_ref()
        .map(|s| s.content.clone())
        .filter(|s| !s.trim().is_empty())
        .or_else(|| entry.content.as_ref().and_then(|c| c.body.clone()))
        .unwrap_or_default();
    let content_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .unwrap_or_default();
    let item_url = link.as_deref().and_then(|l| url::Url::parse(l).ok());
    // Without a summary the body is the content: scan it once.
    let html: &[&str] = if body_html == content_html {
        &[content_html]
    } else {
        &[body_html.as_str(), content_html]
    };
    let image = image_of(entry, html, item_url.as_ref().or(feed_url));
    let blocks_of = |html: &str| text::html_to_blocks(&boilerplate::strip_selected(html, selectors));
    // A summary with no text but the title (an image, the title again)
    // gives way to the content, then to a media description (YouTube).
    let says_more = |blocks: &[String]| blocks.iter().any(|b| !title.starts_with(b.as_str()));
    let mut blocks = blocks_of(&body_html);
    if !says_more(&blocks) && body_html != content_html {
        let content = blocks_of(content_html);
        if says_more(&content) {
            blocks = content;
        }
    }
    if !says_more(&blocks)
        && let Some(media) = entry
            .media
            .iter()
            .filter_map(|m| m.description.as_ref())
            .map(|d| {
                if d.content_type.essence().to_string().contains("html") {
                    text::html_to_blocks(&d.content)
                } else {
                    d.content
                        .lines()
                        .map(text::one_line)
                        .filter(|l| !l.is_empty())
                        .collect()
                }
            })
            .find(|blocks| says_more(blocks))
    {
        blocks = media;
    }
    let categories = entry
        .categories
        .iter()
        .map(|c| text::one_line(c.label.as_deref().unwrap_or(&c.term)))
        .filter(|c| !c.is_empty())
        .collect();
    let item = Item {
        guid,
        link,
        title,
        text: String::new(),
        published: entry.published.or(entry.updated),
        updated: entry.updated.filter(|u| entry.published.is_some_and(|p| *u > p)),
        categories,
        image,
    };
    (item, blocks)
}

/// The item's text from its remaining blocks.
fn finish(mut item: Item, mut blocks: Vec<String>) -> Item {
    // News mirrors repeat the title (or a shorter form of it) as the first line.
    if let Some(first) = blocks.first()
        && !item.title.is_empty()
        && (item.title.starts_with(first.as_str()) || first.starts_with(item.title.as_str()))
    {
        let rest = first
            .strip_prefix(item.title.as_str())
            .unwrap_or_default()
            .trim()
            .to_owned();
        if rest.is_empty() {
            blocks.remove(0);
        } else {
            blocks[0] = rest;
        }
    }
    // Whole articles come in: join only the blocks that fit.
    let mut body = String::new();
    let mut chars = 0;
    for block in &blocks {
        if chars >= MAX_TEXT_CHARS {
            break;
        }
        // Chinese and Japanese paragraphs join without a space ("工作。分析人士").
        let joins_cjk = body.chars().next_back().is_some_and(text::is_cjk)
            && block.chars().next().is_some_and(text::is_cjk);
        if !body.is_empty() && !joins_cjk {
            body.push(' ');
            chars += 1;
        }
        body.push_str(block);
        chars += block.chars().count();
    }
    let body = if chars > MAX_TEXT_CHARS {
        text::truncate_chars(&body, MAX_TEXT_CHARS)
    } else {
        body
    };
    if item.title.is_empty() {
        // Cut at a word (or, in CJK text, a grapheme), marked with "…".
        item.title = text::excerpt(&body, 80);
    }
    item.text = body;
    item
}

/// media:thumbnail, then an image enclosure, then the first image in the HTML.
fn image_of(entry: &Entry, html: &[&str], base: Option<&url::Url>) -> Option<String> {
    let mut candidates = Vec::new();
    for media in &entry.media {
        for thumbnail in &media.thumbnails {
            candidates.push(images::Candidate {
                src: thumbnail.image.uri.clone(),
                width: thumbnail.image.width,
                height: thumbnail.image.height,
            });
        }
        for content in &media.content {
            let is_image = content.content_type.as_ref().is_some_and(|t| t.ty() == "image");
            if let (true, Some(url)) = (is_image, &content.url) {
                candidates.push(images::Candidate {
                    src: url.to_string(),
                    width: content.width,
                    height: content.height,
                });
            }
        }
    }
    for link in &entry.links {
        let is_image = link
            .media_type
            .as_deref()
            .is_some_and(|t| t.starts_with("image/"));
        if link.rel.as_deref() == Some("enclosure") && is_image {
            candidates.push(images::Candidate {
                src: link.href.clone(),
                width: None,
                height: None,
            });
        }
    }
    let in_html = html.iter().flat_map(|fragment| images::images_in_html(fragment));
    images::choose(candidates.into_iter().chain(in_html), base)
}

/// Titles may be HTML (Atom `type="html"`, or RSS titles with entities).
/// Entities left over (`&mdash;` inside CDATA, `&amp;quot;` escaped twice)
/// are decoded once more, as a reader would expect to see them.
fn text_of(text: &Text) -> String {
    // Plain text that holds a real tag is HTML all the same (RSS titles
    // often are); `Vec<T>` or `a<b` is not, and must not be cut there.
    let html = text.content_type.essence().to_string().contains("html")
        || (text.content.contains('<') && HTML_TAG.as_ref().is_none_or(|tag| tag.is_match(&text.content)));
    let plain = if html {
        text::html_to_text(&text.content)
    } else {
        text.content.clone()
    };
    match LEFTOVER_ENTITY.as_ref() {
        Some(entity) if plain.contains('&') && entity.is_match(&plain) => {
            html_escape::decode_html_entities(&plain).into_owned()
        }
        _ => plain,
    }
}

/// A tag of HTML's own (not `<T>` of a generic, not `a<b`), or a comment.
static HTML_TAG: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        // One-letter tags in lower case only: `Pin<P>`, `Box<A>` are generics.
        r"<!--|</?(?:a|b|i|p|q|s|u)(?:\s[^<>]*)?/?>|(?i:</?(?:abbr|big|blockquote|br|cite|code|del|div|em|font|h[1-6]|hr|img|ins|kbd|li|mark|ol|pre|small|span|strike|strong|sub|sup|time|tt|ul|wbr)(?:\s[^<>]*)?/?>)",
    )
    .ok()
});

static LEFTOVER_ENTITY: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});").ok()
});
