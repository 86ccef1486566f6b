//! Picking an article's thumbnail: media:thumbnail, an image enclosure, or the
//! first image of its HTML; resolved to an absolute http(s) URL; never a
//! tracking pixel. Pure.

use std::sync::LazyLock;

use regex::Regex;
use url::Url;

/// Hosts that serve only tracking pixels and counters.
const TRACKER_HOSTS: [&str; 12] = [
    "feeds.feedburner.com",
    "feedproxy.google.com",
    "pixel.wp.com",
    "stats.wordpress.com",
    "www.google-analytics.com",
    "ad.doubleclick.net",
    "pixel.quantserve.com",
    "sb.scorecardresearch.com",
    "b.scorecardresearch.com",
    "pixel.mathtag.com",
    "counter.yadro.ru",
    "hm.baidu.com",
];

static IMG_TAG: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?is)<img\b[^>]*>").ok());
static ATTRIBUTE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?is)\b(src|width|height)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).ok());

/// A candidate image: its URL as written, and its declared size if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub src: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The `<img>` tags of an HTML fragment, in order, read as they are asked
/// for: the first good one usually ends the search.
pub fn images_in_html(html: &str) -> impl Iterator<Item = Candidate> + '_ {
    let regexes = IMG_TAG.as_ref().zip(ATTRIBUTE.as_ref());
    regexes
        .into_iter()
        .flat_map(move |(img_tag, attribute)| img_tag.find_iter(html).map(move |tag| (tag, attribute)))
        .filter_map(|(tag, attribute)| {
            let mut candidate = Candidate {
                src: String::new(),
                width: None,
                height: None,
            };
            for caps in attribute.captures_iter(tag.as_str()) {
                let value = caps
                    .get(2)
                    .or(caps.get(3))
                    .or(caps.get(4))
                    .map_or("", |m| m.as_str());
                match caps.get(1).map(|m| m.as_str().to_ascii_lowercase()).as_deref() {
                    Some("src") => candidate.src = html_escape::decode_html_entities(value).into_owned(),
                    Some("width") => candidate.width = value.trim_end_matches("px").parse().ok(),
                    Some("height") => candidate.height = value.trim_end_matches("px").parse().ok(),
                    _ => {}
                }
            }
            (!candidate.src.is_empty()).then_some(candidate)
        })
}

/// The first candidate that is a real picture, as an absolute http(s) URL.
pub fn choose(candidates: impl IntoIterator<Item = Candidate>, base: Option<&Url>) -> Option<String> {
    candidates.into_iter().find_map(|candidate| {
        if is_pixel(&candidate) {
            return None;
        }
        let url = match base {
            Some(base) => base.join(candidate.src.trim()).ok()?,
            None => Url::parse(candidate.src.trim()).ok()?,
        };
        if !matches!(url.scheme(), "http" | "https") || is_tracker(&url) {
            return None;
        }
        Some(url.to_string())
    })
}

fn is_pixel(candidate: &Candidate) -> bool {
    matches!(candidate.width, Some(0..=2)) || matches!(candidate.height, Some(0..=2))
}

fn is_tracker(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    TRACKER_HOSTS
        .iter()
        .any(|t| host == *t || host.ends_with(&format!(".{t}")))
        || host.starts_with("pixel.")
        || host.starts_with("tracker.")
        || host.starts_with("track.")
        || url.path().contains("/pixel")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Option<Url> {
        Url::parse("https://news.example.cn/world/2026/story.html").ok()
    }

    #[test]
    fn first_real_image_resolved_against_the_item() {
        let html = r#"<p><img src="https://tracker.example.net/p.gif" width="1" height="1"><img src='/img/a.jpg?x=1&amp;y=2' width=600></p><img src="b.jpg">"#;
        let found = choose(images_in_html(html), base().as_ref());
        assert_eq!(
            found.as_deref(),
            Some("https://news.example.cn/img/a.jpg?x=1&y=2")
        );
    }

    #[test]
    fn pixels_trackers_and_data_urls_are_skipped() {
        let html = r#"<img src="data:image/png;base64,AAAA"><img src="https://stats.wordpress.com/b.gif"><img src="https://feeds.feedburner.com/~r/x/~4/y"><img src="javascript:alert(1)"><img src="https://ex.org/pixel/1.gif">"#;
        assert_eq!(choose(images_in_html(html), base().as_ref()), None);
    }

    #[test]
    fn proxied_news_mirror_images_are_kept() {
        let html = r#"<figure><img src="https://images.weserv.nl/?url=static.example.com/a.jpg" width="1050" height="739"></figure>"#;
        let found = choose(images_in_html(html), None);
        assert_eq!(
            found.as_deref(),
            Some("https://images.weserv.nl/?url=static.example.com/a.jpg")
        );
    }
}
