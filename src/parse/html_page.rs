//! HTML pages where a feed was expected: telling them apart from feeds, and finding the
//! feeds they advertise with `<link rel="alternate" type="application/rss+xml" href=…>`,
//! so that a subscriber who gave a site's address can be told the feed's. Pure: no I/O.

use std::sync::LazyLock;

use regex::Regex;
use url::Url;

/// `<link …>` and `<base …>` tags in any case; a `>` inside a quoted value does not end them.
/// (Spelled out rather than `(?i)`, which needs regex's `unicode-case` feature.)
static LINK_TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"<[lL][iI][nN][kK]\b(?:[^>"']|"[^"]*"|'[^']*')*>"#).ok());
static BASE_TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"<[bB][aA][sS][eE]\b(?:[^>"']|"[^"]*"|'[^']*')*>"#).ok());
static COMMENT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").ok());
/// One attribute: name, then a double-quoted, single-quoted or bare value, if any.
static ATTRIBUTE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"#).ok());

/// The media types sites advertise feeds with.
const FEED_TYPES: [&str; 4] = [
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
];

/// An HTML document rather than a feed: after a BOM, whitespace, comments and processing
/// instructions (XHTML's `<?xml …?>`), the first thing is `<html`, `<head` or `<body`
/// (HTML lets a page omit `<html>`), or `<!DOCTYPE html` not followed by a feed's root
/// (some feeds carry an XHTML DOCTYPE), in any case.
pub fn looks_like_html(text: &str) -> bool {
    let rest = skip_misc(text.trim_start_matches('\u{feff}'));
    if starts_with_tag(rest, "<!doctype html") {
        let after_doctype = rest.find('>').and_then(|i| rest.get(i + 1..)).unwrap_or_default();
        let root = skip_misc(after_doctype);
        return !["<rss", "<feed", "<rdf:rdf", "<channel"]
            .iter()
            .any(|feed| starts_with_tag(root, feed));
    }
    ["<html", "<head", "<body"]
        .iter()
        .any(|start| starts_with_tag(rest, start))
}

/// `text` without leading whitespace, comments and processing instructions.
fn skip_misc(text: &str) -> &str {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let skipped = [("<!--", "-->"), ("<?", "?>")]
            .into_iter()
            .find_map(|(open, close)| {
                let inner = rest.strip_prefix(open)?;
                Some(
                    inner
                        .find(close)
                        .map_or("", |i| inner.get(i + close.len()..).unwrap_or_default()),
                )
            });
        match skipped {
            Some(after) => rest = after,
            None => return rest,
        }
    }
}

/// `text` starts with `start` (ASCII, any case), then whitespace, `>`, `/` or the end.
fn starts_with_tag(text: &str, start: &str) -> bool {
    let Some(head) = text.get(..start.len()) else {
        return false;
    };
    let next = text.get(start.len()..).and_then(|r| r.chars().next());
    head.eq_ignore_ascii_case(start) && next.is_none_or(|c| c.is_ascii_whitespace() || c == '>' || c == '/')
}

/// The feeds a page advertises, in document order, without duplicates: the `href` of every
/// `<link rel="alternate">` with a feed media type, resolved against the page's `<base href>`
/// and `base` (the page's URL). Without `base`, relative hrefs are returned as written.
/// WordPress's REST API links (`type="application/json"`, `/wp-json/…`) are not feeds and
/// are left out.
pub fn advertised_feeds(html: &str, base: Option<&Url>) -> Vec<String> {
    let (Some(link_tag), Some(base_tag), Some(comment)) =
        (LINK_TAG.as_ref(), BASE_TAG.as_ref(), COMMENT.as_ref())
    else {
        return Vec::new();
    };
    // Commented-out links are not advertised.
    let html = comment.replace_all(html, "");
    let page_base = base_tag
        .find(&html)
        .and_then(|tag| attribute(tag.as_str(), "href"))
        .and_then(|href| match base {
            Some(base) => base.join(href.trim()).ok(),
            None => Url::parse(href.trim()).ok(),
        });
    let base = page_base.as_ref().or(base);
    let mut feeds: Vec<String> = Vec::new();
    for tag in link_tag.find_iter(&html) {
        let tag = tag.as_str();
        let is_alternate = attribute(tag, "rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
        });
        let media_type = attribute(tag, "type").map(|t| {
            let essence = t.split(';').next().unwrap_or_default();
            essence.trim().to_ascii_lowercase()
        });
        let Some(media_type) = media_type.filter(|t| FEED_TYPES.contains(&t.as_str())) else {
            continue;
        };
        let Some(href) = attribute(tag, "href").map(|h| h.trim().to_owned()) else {
            continue;
        };
        if !is_alternate || href.is_empty() {
            continue;
        }
        let resolved = match base {
            Some(base) => match base.join(&href) {
                Ok(url) => url,
                Err(_) => continue,
            },
            None => match Url::parse(&href) {
                Ok(url) => url,
                Err(_) => {
                    push_new(&mut feeds, href);
                    continue;
                }
            },
        };
        if media_type == "application/json" && is_wordpress_api(&resolved) {
            continue;
        }
        push_new(&mut feeds, resolved.into());
    }
    feeds
}

fn push_new(feeds: &mut Vec<String>, feed: String) {
    if !feeds.contains(&feed) {
        feeds.push(feed);
    }
}

/// WordPress advertises its REST API on every page as `rel="alternate" type="application/json"`.
fn is_wordpress_api(url: &Url) -> bool {
    url.path().contains("/wp-json/") || url.query_pairs().any(|(key, _)| key == "rest_route")
}

/// The value of the attribute `name` (any case) in a tag, with character references decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let attribute = ATTRIBUTE.as_ref()?;
    // Skip the tag's own name.
    let attributes = tag
        .get(1..)?
        .trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    attribute
        .captures_iter(attributes)
        .find(|c| c.get(1).is_some_and(|n| n.as_str().eq_ignore_ascii_case(name)))
        .map(|c| {
            let value = c.get(2).or_else(|| c.get(3)).or_else(|| c.get(4));
            decode_references(value.map_or("", |v| v.as_str()))
        })
}

/// `&amp;`, `&quot;`, `&#38;`… in an attribute value; other text is kept as it is.
fn decode_references(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let at = rest.get(i..).unwrap_or_default();
        let reference = at.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = at.get(1..end)?;
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end + 1))
        });
        match reference {
            Some((c, len)) => {
                out.push(c);
                rest = at.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = at.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_or_not() {
        let cases: &[(&str, bool)] = &[
            ("<!DOCTYPE html>\n<html lang=\"de\"><head>", true),
            ("\u{feff}  <!doctype HTML><title>Café</title>", true),
            ("<!-- served by nginx -->\n<HTML>\n<HEAD>", true),
            (
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE html PUBLIC \
                 \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">",
                true,
            ),
            ("<html>", true),
            ("<head><meta charset=\"utf-8\"><title>页面</title>", true),
            ("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel>", false),
            (
                "<?xml version=\"1.0\"?><?xml-stylesheet href=\"rss.xsl\"?><feed>",
                false,
            ),
            (
                "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>html</title>",
                false,
            ),
            ("<rss><channel><description><html></description>", false),
            ("<htmlfeed>", false),
            ("{\"version\": \"https://jsonfeed.org/version/1.1\"}", false),
            ("<!-- unclosed comment <html>", false),
            ("", false),
            ("<htm", false),
            // A feed with an XHTML DOCTYPE (seen in the wild) is still a feed.
            (
                "<?xml version=\"1.0\"?><!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
                 \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<!-- x -->\n\
                 <rss version=\"2.0\">",
                false,
            ),
            ("<!DOCTYPE html><meta charset=utf-8><title>Лента</title>", true),
        ];
        for (text, expected) in cases {
            assert_eq!(looks_like_html(text), *expected, "{text:?}");
        }
    }

    const WORDPRESS: &str = r#"<!DOCTYPE html>
<html lang="ru-RU">
<head>
<meta charset="UTF-8">
<title>Новости Казани &#8212; городской блог</title>
<link rel='dns-prefetch' href='//fonts.googleapis.com' />
<link rel="alternate" type="application/rss+xml" title="Новости Казани &raquo; Лента"
  href="https://kazan.example.ru/feed/" />
<link rel="alternate" type="application/rss+xml"
  title="Новости Казани &raquo; Лента комментариев"
  href="https://kazan.example.ru/comments/feed/" />
<link rel="https://api.w.org/" href="https://kazan.example.ru/wp-json/" />
<link rel="alternate" type="application/json" href="https://kazan.example.ru/wp-json/wp/v2/pages/42" />
<link rel="alternate" type="application/json+oembed"
  href="https://kazan.example.ru/wp-json/oembed/1.0/embed?url=x" />
<link rel="alternate" type="application/rss+xml" href="https://kazan.example.ru/feed/" />
</head>"#;

    const HANDWRITTEN: &str = r#"<HTML><HEAD>
<TITLE>Café Zürich — Blog</TITLE>
<!-- <link rel="alternate" type="application/rss+xml" href="/old-feed.xml"> -->
<LINK HREF="/atom.xml?lang=de&amp;full=1" TYPE="application/atom+xml" REL="Alternate" TITLE="a > b">
<link type=application/rss+xml rel=alternate href=rss.xml>
<link rel='alternate feed' type='application/feed+json' href='/feed.json'>
<link rel="alternate" type="application/atom+xml; charset=utf-8" href="../shared/atom.xml">
<link rel="alternate" hreflang="fr" type="text/html" href="/fr/">
<link rel="stylesheet" type="application/rss+xml" href="/not-a-feed.xml">
<link rel="alternate" type="application/rss+xml">
<link rel="alternate" type="application/json" href="https://cafe.example.ch/feed.json">
</HEAD>"#;

    #[test]
    fn advertised() {
        let blog = Url::parse("https://cafe.example.ch/blog/index.html").ok();
        let with_base = format!("<head><base href=\"https://cdn.example.ch/de/\">{HANDWRITTEN}");
        let cases: Vec<(&str, Option<&Url>, Vec<&str>)> = vec![
            (
                WORDPRESS,
                None,
                vec![
                    "https://kazan.example.ru/feed/",
                    "https://kazan.example.ru/comments/feed/",
                ],
            ),
            (
                HANDWRITTEN,
                blog.as_ref(),
                vec![
                    "https://cafe.example.ch/atom.xml?lang=de&full=1",
                    "https://cafe.example.ch/blog/rss.xml",
                    "https://cafe.example.ch/feed.json",
                    "https://cafe.example.ch/shared/atom.xml",
                ],
            ),
            (
                &with_base,
                blog.as_ref(),
                vec![
                    "https://cdn.example.ch/atom.xml?lang=de&full=1",
                    "https://cdn.example.ch/de/rss.xml",
                    "https://cdn.example.ch/feed.json",
                    "https://cdn.example.ch/shared/atom.xml",
                    "https://cafe.example.ch/feed.json",
                ],
            ),
            (
                HANDWRITTEN,
                None,
                vec![
                    "/atom.xml?lang=de&full=1",
                    "rss.xml",
                    "/feed.json",
                    "../shared/atom.xml",
                    "https://cafe.example.ch/feed.json",
                ],
            ),
            ("<html><body>Нет лент</body></html>", blog.as_ref(), vec![]),
        ];
        for (html, base, expected) in cases {
            assert_eq!(advertised_feeds(html, base), expected, "{html}");
        }
    }

    #[test]
    fn references_in_attributes() {
        let cases = [
            ("a&amp;b", "a&b"),
            ("&#38;&#x26;&quot;&apos;&lt;&gt;", "&&\"'<>"),
            ("q=1&b=2", "q=1&b=2"),
            ("&nbsp;&;&#xZZ;", "&nbsp;&;&#xZZ;"),
            ("Лента &amp; новости", "Лента & новости"),
        ];
        for (value, expected) in cases {
            assert_eq!(decode_references(value), expected, "{value}");
        }
    }
}
