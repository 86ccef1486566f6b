//! The shared article model and its identity (the dedup key). Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

mod identity;

pub use identity::{Ambiguity, Identity, identify};

/// A stable article key: 32 hex characters of SHA-256 over the feed and the
/// item's identity. Built only by [`identify`] or read back from the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArticleId(String);

impl ArticleId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds an id from its stored form, if it is one.
    pub fn from_stored(text: &str) -> Option<ArticleId> {
        (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())).then(|| ArticleId(text.to_owned()))
    }

    fn hash(feed_key: &str, identity: &str) -> ArticleId {
        let mut hasher = Sha256::new();
        hasher.update(feed_key.as_bytes());
        hasher.update([0]);
        hasher.update(identity.as_bytes());
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        ArticleId(hex)
    }

    /// The id feed-digest 0.1 gave `item` (its rule did not look across the
    /// items of a document), as in a store written by it. An item alone in
    /// its document whose link has no fragment has the same id under
    /// [`identify`]; tests build ids with it.
    pub fn for_item(feed_key: &str, item: &Item, guid_repeats: bool) -> ArticleId {
        let link = item.link.as_deref().map(canonical_link);
        let identity = match (&item.guid, link) {
            (Some(guid), Some(link)) if guid_repeats => format!("guid+link:{guid}\n{link}"),
            (Some(guid), _) => format!("guid:{guid}"),
            (None, Some(link)) => format!("link:{link}"),
            (None, None) => format!(
                "title+date:{}\n{}",
                item.title,
                item.published.map(|d| d.to_rfc3339()).unwrap_or_default()
            ),
        };
        ArticleId::hash(feed_key, &identity)
    }
}

impl std::fmt::Display for ArticleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Query parameters that only track the reader, never name the article.
fn is_tracking_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "msclkid"
                | "yclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "spm"
                | "_hsenc"
                | "_hsmi"
                | "mkt_tok"
                | "oly_anon_id"
                | "oly_enc_id"
                | "vero_id"
        )
}

/// [`canonical_link`] with its fragment kept: what names an item by its link
/// (a page that lists several items names each by its anchor).
pub fn identity_link(link: &str) -> String {
    links_of(link).1
}

/// A link in a form that survives cosmetic changes: scheme and host lower-cased
/// and the default port dropped (the `url` crate does these), the fragment and
/// tracking parameters (`utm_*`, `fbclid`, `gclid`, `spm`, …) removed.
pub fn canonical_link(link: &str) -> String {
    match Url::parse(link.trim()) {
        Ok(url) => canonical(url),
        Err(_) => link.trim().to_owned(),
    }
}

/// `(canonical_link(link), identity_link(link))` from one parse: identifying
/// a document's items asks for both of every item's link.
pub fn links_of(link: &str) -> (String, String) {
    let Ok(url) = Url::parse(link.trim()) else {
        let bare = link.trim().to_owned();
        return (bare.clone(), bare);
    };
    let fragment = url.fragment().filter(|f| !f.is_empty()).map(str::to_owned);
    let bare = canonical(url);
    let mut full = bare.clone();
    if let Some(fragment) = fragment {
        full.push('#');
        full.push_str(&fragment);
    }
    (bare, full)
}

fn canonical(mut url: Url) -> String {
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| !is_tracking_parameter(name))
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

/// One item as parsed from a feed, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The feed's own guid/id; `None` when the feed gave none.
    pub guid: Option<String>,
    pub link: Option<String>,
    /// Plain text, one line.
    pub title: String,
    /// Summary or content as plain text, whitespace folded.
    pub text: String,
    pub published: Option<DateTime<Utc>>,
    /// When the feed says the item last changed, if later than published.
    pub updated: Option<DateTime<Utc>>,
    pub categories: Vec<String>,
    /// An absolute http(s) thumbnail URL, see [`crate::images`].
    pub image: Option<String>,
}

/// An article as stored: what a digest needs to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: ArticleId,
    pub feed_key: String,
    pub title: String,
    pub link: Option<String>,
    pub text: String,
    pub published: Option<DateTime<Utc>>,
    pub categories: Vec<String>,
    pub first_seen: DateTime<Utc>,
    /// Other feeds that carried the same article (same canonical link).
    #[serde(default)]
    pub also_in: Vec<String>,
    /// Subscribers it was queued for, so a copy from another feed is not queued twice.
    #[serde(default)]
    pub routed: Vec<String>,
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
    #[serde(default)]
    pub image: Option<String>,
    /// Its title's embedding, made when it was polled with the sentence
    /// encoder installed; folding encodes a title without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<crate::stories::Packed>,
}

impl Article {
    /// The time to show and sort by: the feed's date, else when we first saw it.
    pub fn time(&self) -> DateTime<Utc> {
        self.published.unwrap_or(self.first_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item with only these fields (for this module's tests and `identity`'s).
    pub(super) fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_owned),
            link: link.map(str::to_owned),
            title: title.to_owned(),
            text: String::new(),
            published: None,
            updated: None,
            categories: Vec::new(),
            image: None,
        }
    }

    /// The id of `item` alone in its document.
    fn alone(feed_key: &str, item: Item) -> ArticleId {
        identify(feed_key, &[item]).remove(0).id
    }

    #[test]
    fn guid_wins_over_link_and_title() {
        let a = alone("f", item(Some("g1"), Some("https://a/1"), "A"));
        let b = alone("f", item(Some("g1"), Some("https://a/2"), "B"));
        assert_eq!(a, b);
    }

    #[test]
    fn link_is_canonical_but_keeps_its_fragment() {
        let a = alone(
            "f",
            item(None, Some("HTTPS://Example.ORG:443/x?utm_source=rss"), "A"),
        );
        let b = alone("f", item(None, Some("https://example.org/x"), "B"));
        assert_eq!(a, b);
        let anchored = alone("f", item(None, Some("https://example.org/x#a1"), "A"));
        assert_ne!(a, anchored);
        assert_eq!(
            identity_link("HTTPS://Example.ORG/x?utm_medium=feed&id=3#a1"),
            "https://example.org/x?id=3#a1"
        );
    }

    #[test]
    fn an_item_alone_keeps_the_id_an_earlier_version_gave_it() {
        let items = [
            item(Some("g1"), Some("https://a/1"), "A"),
            item(None, Some("https://a/2?utm_source=x"), "B"),
            item(None, None, "C"),
        ];
        for it in items {
            assert_eq!(
                alone("f", it.clone()),
                ArticleId::for_item("f", &it, false),
                "{it:?}"
            );
        }
    }

    #[test]
    fn canonical_links() {
        let cases = [
            ("HTTPS://Example.ORG:443/a/b#frag", "https://example.org/a/b"),
            ("http://example.org:80/x", "http://example.org/x"),
            ("http://example.org:8080/x", "http://example.org:8080/x"),
            (
                "https://example.org/x?utm_source=rss&utm_medium=feed",
                "https://example.org/x",
            ),
            (
                "https://example.org/x?id=7&fbclid=abc&gclid=def",
                "https://example.org/x?id=7",
            ),
            (
                "https://example.cn/n?spm=a2c4&id=%E6%9C%9D",
                "https://example.cn/n?id=%E6%9C%9D",
            ),
            (
                "https://example.org/x?UTM_Campaign=a&page=2#c",
                "https://example.org/x?page=2",
            ),
            (
                "https://例子.中国/新闻",
                "https://xn--fsqu00a.xn--fiqs8s/%E6%96%B0%E9%97%BB",
            ),
            ("  https://example.org/x  ", "https://example.org/x"),
            ("not a url", "not a url"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_link(input), expected, "{input}");
        }
    }

    #[test]
    fn one_parse_gives_both_forms_of_a_link() {
        let cases = [
            (
                "HTTPS://Example.ORG/x?utm_medium=feed&id=3#a1",
                "https://example.org/x?id=3",
                "https://example.org/x?id=3#a1",
            ),
            // An empty fragment names nothing.
            (
                "https://example.org/day.html#",
                "https://example.org/day.html",
                "https://example.org/day.html",
            ),
            (
                "https://例子.中国/新闻#第二",
                "https://xn--fsqu00a.xn--fiqs8s/%E6%96%B0%E9%97%BB",
                "https://xn--fsqu00a.xn--fiqs8s/%E6%96%B0%E9%97%BB#%E7%AC%AC%E4%BA%8C",
            ),
            ("  not a url#x ", "not a url#x", "not a url#x"),
        ];
        for (input, bare, full) in cases {
            assert_eq!(links_of(input), (bare.to_owned(), full.to_owned()), "{input}");
            assert_eq!(canonical_link(input), bare, "{input}");
            assert_eq!(identity_link(input), full, "{input}");
        }
    }

    #[test]
    fn same_guid_in_two_feeds_is_two_articles() {
        let it = item(Some("1"), None, "A");
        assert_ne!(alone("f1", it.clone()), alone("f2", it));
    }

    #[test]
    fn no_guid_no_link_uses_title() {
        let a = alone("f", item(None, None, "A"));
        let b = alone("f", item(None, None, "B"));
        assert_ne!(a, b);
        assert_eq!(a, alone("f", item(None, None, "A")));
        assert!(ArticleId::from_stored(a.as_str()).is_some());
    }
}
