//! The HTML mail as mail clients and attackers see it: the rendered digest
//! checked against caniemail's support data for Gmail and Outlook, the
//! Universal Feed Parser's hostile-HTML suite pushed through parse → digest →
//! render, and header injection through titles and names.
//!
//! The corpora are read from `../shared/corpora/` next to the repository (CI
//! has them; see its README) and are never copied into the repository. When
//! the folder is missing these tests fail and say where they looked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lettre::message::Mailbox;
use regex::Regex;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::config::Config;
use feed_digest::digest::render::{Rendered, render, render_within};
use feed_digest::digest::{self, Context};
use feed_digest::{demo, mail, parse};

use crate::support::{self, decode};

const ZH_FEED: &str = "https://news.example.cn/world.xml";
const EN_FEED: &str = "https://tech.example.org/atom.xml";

/// A corpus under `../shared/corpora/`; panics with the path when it is missing.
#[track_caller]
fn shared_corpus(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpora")
        .join(relative);
    assert!(
        path.exists(),
        "test corpus missing: looked for {} (CI provides ../shared/corpora next to the repository root)",
        path.display()
    );
    path
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0)
        .single()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Realistic digests through the real model builder and templates.

const CONFIG: &str = r#"
state_dir = "state"
[delivery]
transport = "file"
dir = "mail"
[smtp]
from = "每日简报 <digest@example.org>"
[digest]
title = "每日简报"
images = "thumbnail"
unsubscribe = ["mailto:digest@example.org?subject=unsubscribe", "https://example.org/unsubscribe"]
[[feeds]]
url = "https://news.example.cn/world.xml"
name = "中文新闻"
[[feeds]]
url = "https://tech.example.org/atom.xml"
name = "Tech News"
[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "North Korea"]
[[topics]]
name = "Rust"
keywords = ["rust", "compiler"]
[[subscribers]]
email = "alice@example.org"
name = "Alice 王"
timezone = "Asia/Shanghai"
language = "zh-CN"
[[subscribers]]
email = "bob@example.org"
name = "Bob"
timezone = "America/New_York"
"#;

fn item(guid: &str, title: &str, text: &str, hours_ago: i64) -> Item {
    Item {
        guid: Some(guid.to_owned()),
        link: Some(format!("https://example.org/articles/{guid}")),
        title: title.to_owned(),
        text: text.to_owned(),
        published: Some(now() - Duration::hours(hours_ago)),
        updated: None,
        categories: Vec::new(),
        image: None,
    }
}

/// The article the store would hold for `item`, first seen at `first_seen`.
fn article(feed_key: &str, item: &Item, first_seen: DateTime<Utc>) -> Article {
    Article {
        id: ArticleId::for_item(feed_key, item, false),
        feed_key: feed_key.to_owned(),
        title: item.title.clone(),
        link: item.link.clone(),
        text: item.text.clone(),
        published: item.published,
        categories: item.categories.clone(),
        first_seen,
        also_in: Vec::new(),
        routed: Vec::new(),
        updated: item.updated,
        image: item.image.clone(),
    }
}

fn realistic_articles() -> Vec<Article> {
    let mut korea = article(
        ZH_FEED,
        &item(
            "zh-1",
            "朝鲜与邻国举行高层会谈",
            "本周二，朝鲜代表团抵达边境城市，与邻国官员就跨境铁路项目举行了为期两天的会谈，双方同意扩大合作。",
            3,
        ),
        now(),
    );
    korea.also_in = vec![EN_FEED.to_owned()];
    let mut rates = article(
        ZH_FEED,
        &item(
            "zh-2",
            "欧洲央行维持利率不变",
            "多家欧洲央行周三宣布维持基准利率不变，称通胀压力已有所缓解。",
            5,
        ),
        now(),
    );
    rates.updated = Some(now() - Duration::hours(1));
    let satellite = article(
        EN_FEED,
        &item(
            "en-1",
            "North Korea launches a satellite",
            "The launch, the third this year, failed shortly after lift-off according to officials in Seoul.",
            2,
        ),
        now(),
    );
    let mut compiler = article(
        EN_FEED,
        &item(
            "en-2",
            "The Rust compiler gets faster",
            "The compiler team merged a rewrite of the borrow checker's liveness analysis; check builds are 15% faster.",
            4,
        ),
        now(),
    );
    compiler.image = Some("https://images.example.org/compiler.jpg".to_owned());
    let mut no_link = article(
        EN_FEED,
        &item(
            "en-3",
            "A note without a link",
            "Some feeds give no link at all.",
            6,
        ),
        now(),
    );
    no_link.link = None;
    vec![korea, rates, satellite, compiler, no_link]
}

fn feed_names(config: &Config) -> std::collections::HashMap<String, String> {
    config
        .feeds
        .iter()
        .map(|feed| (feed.key.clone(), digest::feed_display_name(feed, None)))
        .collect()
}

/// Every optional part of the template switched on: notes, failing feeds.
fn busy_context(config: &Config) -> Context {
    Context {
        feed_names: feed_names(config),
        held_back: 3,
        flooded: vec![("Tech News".to_owned(), 70)],
        failing: vec![(
            "Broken Feed".to_owned(),
            "https://broken.example.org/rss answered 500".to_owned(),
        )],
    }
}

/// Labelled renders covering every branch of `templates/digest.html`: both
/// languages with all notes, a digest shortened to bare links, and the
/// bundled demo feeds through the real parser.
fn realistic_digests() -> Vec<(String, Rendered)> {
    let config = support::config(CONFIG, Path::new("/nonexistent"));
    let articles = realistic_articles();
    let mut out = Vec::new();
    for subscriber in &config.subscribers {
        let label = subscriber.email();
        let model = digest::build(&config, subscriber, &articles, &busy_context(&config), now());
        out.push((label.clone(), render(&model).expect("render")));
        let shortened = render_within(&model, 1).expect("render within a budget");
        out.push((format!("{label}, shortened"), shortened));
    }
    out.extend(demo_digests());
    out
}

/// The demo's config and sample feeds, parsed by `parse_feed` as a poll would.
fn demo_digests() -> Vec<(String, Rendered)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = support::config(demo::DEMO_CONFIG, Path::new("/nonexistent"));
    let mut articles = Vec::new();
    let mut names = std::collections::HashMap::new();
    for feed in &config.feeds {
        let file = feed.key.rsplit('/').next().unwrap_or_default();
        let bytes = std::fs::read(manifest.join("config/demo").join(file)).expect("a bundled demo feed");
        let parsed = parse::parse_feed(&bytes, None).expect("the demo feeds parse");
        names.insert(
            feed.key.clone(),
            digest::feed_display_name(feed, parsed.title.as_deref()),
        );
        articles.extend(parsed.items.iter().map(|item| article(&feed.key, item, now())));
    }
    assert!(!articles.is_empty(), "the demo feeds have items");
    let context = Context {
        feed_names: names,
        ..Context::default()
    };
    config
        .subscribers
        .iter()
        .map(|subscriber| {
            let model = digest::build(&config, subscriber, &articles, &context, now());
            (
                format!("demo {}", subscriber.email()),
                render(&model).expect("render"),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// A small HTML and CSS scanner: enough for our own template's output.

/// One start tag: lower-cased name, attributes as written, and its source text.
#[derive(Debug)]
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
    source: String,
}

#[derive(Debug, Default)]
struct Document {
    doctype: bool,
    comments: usize,
    tags: Vec<Tag>,
    /// The contents of each `<style>` element.
    stylesheets: Vec<String>,
}

fn scan_html(html: &str) -> Document {
    let mut document = Document::default();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            document.comments += 1;
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
        } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (tag, length) = read_tag(rest);
            rest = &rest[length..];
            if tag.name == "style" {
                let end = rest.to_ascii_lowercase().find("</style").unwrap_or(rest.len());
                document.stylesheets.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
            document.tags.push(tag);
        } else if rest[1..].starts_with(['/', '!', '?']) {
            let end = rest.find('>').map_or(rest.len(), |end| end + 1);
            document.doctype |= rest[..end].to_ascii_lowercase().starts_with("<!doctype");
            rest = &rest[end..];
        } else {
            rest = &rest[1..];
        }
    }
    document
}

/// Reads the start tag at the front of `source` (which starts with `<` and a letter).
fn read_tag(source: &str) -> (Tag, usize) {
    let bytes = source.as_bytes();
    let mut i = 1;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    let name = source[1..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            break;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let attribute = source[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let start = i + 1;
                let end = source[start..]
                    .find(char::from(bytes[i]))
                    .map_or(bytes.len(), |end| start + end);
                value = &source[start..end];
                i = (end + 1).min(bytes.len());
            } else {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = &source[start..i];
            }
        }
        attributes.push((attribute, value.to_owned()));
    }
    let end = (i + 1).min(bytes.len());
    let tag = Tag {
        name,
        attributes,
        source: source[..end].to_owned(),
    };
    (tag, end)
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static MEDIA_FEATURE: LazyLock<Regex> = LazyLock::new(|| regex(r"\(\s*([a-zA-Z-]+)\s*[:)]"));
static PSEUDO: LazyLock<Regex> = LazyLock::new(|| regex(r"(::?)([a-zA-Z-]+)"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| regex(r"^-?(?:\d+\.?\d*|\.\d+)([a-z%]+)$"));
static FUNCTION: LazyLock<Regex> = LazyLock::new(|| regex(r"([a-z-]+)\("));
static EVENT_HANDLER: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\son[a-z]+\s*="));
static MARKUP_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| regex(r"</?[A-Za-z]"));

/// A feature of HTML or CSS the digest uses, named as a reader would look it up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Feature {
    Doctype,
    Comment,
    CssComment,
    Element(String),
    Attribute(String),
    AnchorLink,
    MailtoLink,
    MetaColorScheme,
    Property(String),
    Display(String),
    Important,
    Unit(String),
    Function(String),
    SystemFont,
    AtRule(String),
    /// A media feature in an `@media` prelude, such as `prefers-color-scheme`.
    Media(String),
    /// A caniemail slug suffix such as `selector-class` or `pseudo-class-hover`.
    Selector(String),
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Doctype => write!(f, "<!DOCTYPE>"),
            Feature::Comment => write!(f, "<!-- -->"),
            Feature::CssComment => write!(f, "/* */"),
            Feature::Element(name) => write!(f, "<{name}>"),
            Feature::Attribute(name) => write!(f, "{name}=\"\""),
            Feature::AnchorLink => write!(f, "href=\"#…\""),
            Feature::MailtoLink => write!(f, "href=\"mailto:…\""),
            Feature::MetaColorScheme => write!(f, "<meta name=color-scheme>"),
            Feature::Property(name) => write!(f, "{name}:"),
            Feature::Display(value) => write!(f, "display:{value}"),
            Feature::Important => write!(f, "!important"),
            Feature::Unit(unit) => write!(f, "1{unit}"),
            Feature::Function(name) => write!(f, "{name}()"),
            Feature::SystemFont => write!(f, "system-ui"),
            Feature::AtRule(name) => write!(f, "@{name}"),
            Feature::Media(name) => write!(f, "({name})"),
            Feature::Selector(kind) => write!(f, "{kind}"),
        }
    }
}

/// Every feature used, with the places (tag or CSS rule) it is used in.
#[derive(Default)]
struct Found(BTreeMap<Feature, BTreeSet<String>>);

impl Found {
    fn add(&mut self, feature: Feature, context: &str) {
        let context: String = context.chars().take(160).collect();
        self.0.entry(feature).or_default().insert(context);
    }

    fn collect(&mut self, document: &Document) {
        if document.doctype {
            self.add(Feature::Doctype, "<!DOCTYPE html>");
        }
        if document.comments > 0 {
            self.add(Feature::Comment, "<!-- -->");
        }
        for stylesheet in &document.stylesheets {
            self.stylesheet(stylesheet, "<style>");
        }
        for tag in &document.tags {
            self.add(Feature::Element(tag.name.clone()), &tag.source);
            for (attribute, value) in &tag.attributes {
                self.add(Feature::Attribute(attribute.clone()), &tag.source);
                match attribute.as_str() {
                    "style" => self.declarations(value, &tag.source),
                    "href" if value.starts_with('#') => self.add(Feature::AnchorLink, &tag.source),
                    "href" if value.starts_with("mailto:") => self.add(Feature::MailtoLink, &tag.source),
                    "name" if tag.name == "meta" && value.contains("color-scheme") => {
                        self.add(Feature::MetaColorScheme, &tag.source);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Rules and at-rules, recursively; `context` names the enclosing rules.
    fn stylesheet(&mut self, css: &str, context: &str) {
        let mut rest = css;
        if rest.contains("/*") {
            self.add(Feature::CssComment, context);
        }
        while let Some(open) = rest.find('{') {
            let prelude = rest[..open].trim();
            let mut depth = 0;
            let close = rest[open..]
                .char_indices()
                .find_map(|(i, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(open + i)
                })
                .unwrap_or(rest.len());
            let block = rest.get(open + 1..close).unwrap_or_default();
            let here = format!("{context} {prelude} {{");
            if let Some(at_rule) = prelude.strip_prefix('@') {
                let name = at_rule
                    .split(|c: char| c.is_whitespace() || c == '(')
                    .next()
                    .unwrap_or_default();
                self.add(Feature::AtRule(name.to_ascii_lowercase()), &here);
                for caps in MEDIA_FEATURE.captures_iter(prelude) {
                    self.add(Feature::Media(caps[1].to_ascii_lowercase()), &here);
                }
                self.stylesheet(block, &here);
            } else {
                self.selectors(prelude, &here);
                self.declarations(block, &here);
            }
            rest = rest.get(close + 1..).unwrap_or_default();
        }
    }

    fn selectors(&mut self, prelude: &str, context: &str) {
        let list: Vec<&str> = prelude.split(',').map(str::trim).collect();
        if list.len() > 1 {
            self.add(Feature::Selector("selector-grouping".to_owned()), context);
        }
        for selector in list {
            let mut kinds = Vec::new();
            for (symbol, kind) in [
                ('.', "selector-class"),
                ('#', "selector-id"),
                ('[', "selector-attribute"),
                ('>', "selector-child"),
                ('+', "selector-adjacent-sibling"),
                ('~', "selector-general-sibling"),
                ('*', "selector-universal"),
            ] {
                if selector.contains(symbol) {
                    kinds.push(kind.to_owned());
                }
            }
            if selector.starts_with(|c: char| c.is_ascii_alphabetic()) {
                kinds.push("selector-type".to_owned());
            }
            let compounds: Vec<&str> = selector.split_whitespace().collect();
            if compounds.len() > 1 && !selector.contains(['>', '+', '~']) {
                kinds.push("selector-descendant".to_owned());
            }
            let chained = compounds.iter().any(|compound| {
                let simple = compound.matches(['.', '#', '[', ':']).count()
                    + usize::from(compound.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*'));
                simple > 1
            });
            if chained {
                kinds.push("selector-chaining".to_owned());
            }
            for caps in PSEUDO.captures_iter(selector) {
                let family = if &caps[1] == "::" {
                    "pseudo-element"
                } else {
                    "pseudo-class"
                };
                kinds.push(format!("{family}-{}", caps[2].to_ascii_lowercase()));
            }
            for kind in kinds {
                self.add(Feature::Selector(kind), context);
            }
        }
    }

    fn declarations(&mut self, block: &str, context: &str) {
        for declaration in block.split(';') {
            let Some((property, value)) = declaration.split_once(':') else {
                continue;
            };
            let property = property.trim().to_ascii_lowercase();
            let mut value = value.trim().to_ascii_lowercase();
            if let Some(at) = value.find("!important") {
                self.add(Feature::Important, context);
                value.truncate(at);
            }
            if property == "display" {
                self.add(Feature::Display(value.trim().to_owned()), context);
            } else {
                self.add(Feature::Property(property.clone()), context);
            }
            if property.starts_with("font")
                && [
                    "system-ui",
                    "ui-serif",
                    "ui-sans-serif",
                    "ui-rounded",
                    "ui-monospace",
                ]
                .iter()
                .any(|keyword| value.contains(keyword))
            {
                self.add(Feature::SystemFont, context);
            }
            for caps in FUNCTION.captures_iter(&value) {
                self.add(Feature::Function(caps[1].to_owned()), context);
            }
            let tokens = value.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '/'));
            for token in tokens.filter(|t| !t.starts_with(['#', '\'', '"'])) {
                if let Some(caps) = NUMBER.captures(token) {
                    self.add(Feature::Unit(caps[1].to_owned()), context);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// caniemail data.

/// A JSON object kept in document order: caniemail lists versions oldest
/// first, and version names ("2019", "16.80", "2024-01") do not sort.
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

impl<V> Ordered<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

#[derive(Deserialize)]
struct CanIEmail {
    data: Vec<CaniFeature>,
}

#[derive(Deserialize)]
struct CaniFeature {
    slug: String,
    /// "<table> element", "width attribute", "max-width", …
    title: String,
    keywords: Option<String>,
    notes_by_num: Option<BTreeMap<String, String>>,
    /// client → platform → version → "y" | "n" | "a #1 #2" | "u".
    stats: Ordered<Ordered<Ordered<String>>>,
}

impl CanIEmail {
    fn load() -> CanIEmail {
        let path = shared_corpus("caniemail/caniemail-data.json");
        let bytes = std::fs::read(&path).expect("read caniemail-data.json");
        serde_json::from_slice(&bytes).expect("caniemail-data.json has the documented shape")
    }

    fn feature(&self, slug: &str) -> Option<&CaniFeature> {
        self.data.iter().find(|f| f.slug == slug)
    }

    /// The caniemail slug that covers `feature`, if caniemail has one.
    fn slug_of(&self, feature: &Feature) -> Option<String> {
        let known = |slug: String| self.feature(&slug).is_some().then_some(slug);
        // `html-style` is the element, not the attribute: titles tell them apart.
        let attribute = |slug: String| {
            self.feature(&slug)
                .is_some_and(|f| f.title.contains("attribute"))
                .then_some(slug)
        };
        let element = |slug: String| {
            self.feature(&slug)
                .is_some_and(|f| !f.title.contains("attribute"))
                .then_some(slug)
        };
        match feature {
            Feature::Doctype => known("html-doctype".to_owned()),
            Feature::Comment => known("html-comments".to_owned()),
            Feature::CssComment => known("css-comments".to_owned()),
            Feature::Element(name) => match name.as_str() {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => known("html-h1-h6".to_owned()),
                "tr" | "td" | "th" | "tbody" | "thead" | "tfoot" => known("html-table".to_owned()),
                "ul" | "ol" | "li" | "dl" | "dt" | "dd" => known("html-lists".to_owned()),
                _ => element(format!("html-{name}")),
            },
            Feature::Attribute(name) => {
                attribute(format!("html-{name}")).or_else(|| attribute(format!("html-{name}-attribute")))
            }
            Feature::AnchorLink => known("html-anchor-links".to_owned()),
            Feature::MailtoLink => known("html-mailto-links".to_owned()),
            Feature::MetaColorScheme => known("html-meta-color-scheme".to_owned()),
            // `border-bottom` is in css-border's keywords; `padding-left` is
            // covered by css-padding, whose description names the sides.
            // Keywords are search words too (`css-accent-color` lists "color"),
            // so only a keyword that extends the slug's own property counts.
            Feature::Property(name) => known(format!("css-{name}"))
                .or_else(|| {
                    self.data
                        .iter()
                        .find(|f| {
                            let own = f.slug.strip_prefix("css-").unwrap_or_default();
                            f.keywords.as_deref().is_some_and(|k| {
                                k.split(',').any(|k| k.trim() == name && name.starts_with(own))
                            })
                        })
                        .map(|f| f.slug.clone())
                })
                .or_else(|| {
                    ["-top", "-right", "-bottom", "-left"]
                        .iter()
                        .find_map(|side| name.strip_suffix(side))
                        .and_then(|base| known(format!("css-{base}")))
                }),
            Feature::Display(value) => match value.as_str() {
                "none" => known("css-display-none".to_owned()),
                "flex" | "inline-flex" => known("css-display-flex".to_owned()),
                "grid" | "inline-grid" => known("css-display-grid".to_owned()),
                _ => known("css-display".to_owned()),
            },
            Feature::Important => known("css-important".to_owned()),
            Feature::Unit(unit) if unit == "%" => known("css-unit-percent".to_owned()),
            Feature::Unit(unit) => known(format!("css-unit-{unit}")),
            Feature::Function(name) if name == "var" => known("css-variables".to_owned()),
            Feature::Function(name) => known(format!("css-{name}"))
                .or_else(|| known(format!("css-function-{name}")))
                .or_else(|| known(format!("css-unit-{name}"))),
            Feature::SystemFont => known("css-sytem-ui".to_owned()),
            Feature::AtRule(name) => known(format!("css-at-{name}")),
            // Width queries are what `css-at-media` itself is tested with.
            Feature::Media(name) if matches!(name.as_str(), "min-width" | "max-width") => {
                known("css-at-media".to_owned())
            }
            Feature::Media(name) => known(format!("css-at-media-{name}")),
            Feature::Selector(kind) => known(format!("css-{kind}")),
        }
    }
}

impl CaniFeature {
    /// The most recently tested version's support, e.g. `("2019", "a #1 #2")`.
    fn latest(&self, client: &str, platform: &str) -> Option<(&str, &str)> {
        let versions = self.stats.get(client)?.get(platform)?;
        versions.0.last().map(|(v, s)| (v.as_str(), s.as_str()))
    }

    fn note(&self, number: &str) -> &str {
        self.notes_by_num
            .as_ref()
            .and_then(|notes| notes.get(number))
            .map_or("(no text)", String::as_str)
    }
}

/// The clients the digest must work in: (client, platform, column label).
const CHECKED: [(&str, &str, &str); 8] = [
    ("gmail", "desktop-webmail", "G web"),
    ("gmail", "ios", "G iOS"),
    ("gmail", "android", "G And"),
    ("outlook", "windows", "O Win"),
    ("outlook", "outlook-com", "O .com"),
    ("outlook", "macos", "O mac"),
    ("outlook", "ios", "O iOS"),
    ("outlook", "android", "O And"),
];

/// Used features without a caniemail page that every client has always handled.
const BASIC_ELEMENTS: [&str; 5] = ["html", "head", "meta", "title", "a"];
const BASIC_ATTRIBUTES: [&str; 12] = [
    "href", "src", "alt", "class", "id", "style", "name", "content", "charset", "border", "bgcolor", "rel",
];
const BASIC_PROPERTIES: [&str; 2] = ["color", "font-family"];

fn is_basic(feature: &Feature) -> bool {
    match feature {
        Feature::Element(name) => BASIC_ELEMENTS.contains(&name.as_str()),
        Feature::Attribute(name) => BASIC_ATTRIBUTES.contains(&name.as_str()),
        Feature::Property(name) => BASIC_PROPERTIES.contains(&name.as_str()),
        _ => false,
    }
}

/// An unsupported feature the digest uses on purpose, and why the mail still
/// reads well without it.
struct Allowed {
    slug: &'static str,
    /// `client/platform`, or `client/*` for every checked platform of it.
    clients: &'static [&'static str],
    /// When set, every place the feature is used must contain this text.
    only_in: Option<&'static str>,
    reason: &'static str,
}

const ALLOWED: [Allowed; 10] = [
    Allowed {
        slug: "html-anchor-links",
        clients: &["gmail/ios"],
        only_in: Some("href=\"#section-"),
        reason: "the contents links do nothing there; the line still lists the sections, which follow right below",
    },
    Allowed {
        slug: "css-at-media",
        clients: &["outlook/windows"],
        only_in: None,
        reason: "Outlook for Windows gets the inline-styled light layout in a fixed 600 px card (width=\"600\"); the queries only refine it",
    },
    Allowed {
        slug: "css-at-media-prefers-color-scheme",
        clients: &["gmail/*", "outlook/windows"],
        only_in: None,
        reason: "the query is dropped and the light design, the default, is shown",
    },
    Allowed {
        slug: "html-meta-color-scheme",
        clients: &["gmail/*", "outlook/*"],
        only_in: None,
        reason: "an unknown <meta> is ignored; the colours come from the inline styles",
    },
    Allowed {
        slug: "html-doctype",
        clients: &["outlook/windows"],
        only_in: None,
        reason: "caniemail: \"the HTML5 doctype has no impact here\"; the layout is tables and inline styles",
    },
    Allowed {
        slug: "html-body",
        clients: &["outlook/macos"],
        only_in: None,
        reason: "the outer table repeats the background (bgcolor and style) and holds all content",
    },
    Allowed {
        slug: "css-max-height",
        clients: &["outlook/windows"],
        only_in: Some("display:none"),
        reason: "a fallback in the hidden preheader only; Outlook hides that div with display:none",
    },
    Allowed {
        slug: "css-opacity",
        clients: &["outlook/windows"],
        only_in: Some("display:none"),
        reason: "a fallback in the hidden preheader only; Outlook hides that div with display:none",
    },
    Allowed {
        slug: "css-overflow",
        clients: &["outlook/windows"],
        only_in: Some("display:none"),
        reason: "a fallback in the hidden preheader only; Outlook hides that div with display:none",
    },
    Allowed {
        slug: "css-overflow-wrap",
        clients: &["gmail/*", "outlook/*"],
        only_in: Some("word-break:break-word"),
        reason: "dropped there; the word-break:break-word beside it breaks long words in every checked client",
    },
];

fn allowance(slug: &str, client: &str, platform: &str) -> Option<usize> {
    ALLOWED.iter().position(|allowed| {
        allowed.slug == slug
            && allowed.clients.iter().any(|c| {
                c.split_once('/')
                    .is_some_and(|(cl, pl)| cl == client && (pl == "*" || pl == platform))
            })
    })
}

#[test]
fn the_templates_use_nothing_gmail_or_outlook_drop() {
    let caniemail = CanIEmail::load();
    let mut found = Found::default();
    for (label, rendered) in realistic_digests() {
        let document = scan_html(&rendered.html);
        assert_eq!(document.stylesheets.len(), 1, "{label}: one <style> block");
        for stylesheet in &document.stylesheets {
            // caniemail html-style note 6: Gmail drops a <style> over 16 KB.
            assert!(
                stylesheet.len() < 16 * 1024,
                "{label}: <style> is {} bytes",
                stylesheet.len()
            );
        }
        found.collect(&document);
    }

    let mut by_slug: BTreeMap<String, Vec<&Feature>> = BTreeMap::new();
    let mut basics = Vec::new();
    let mut failures = Vec::new();
    for (feature, places) in &found.0 {
        match caniemail.slug_of(feature) {
            Some(slug) => by_slug.entry(slug).or_default().push(feature),
            None if is_basic(feature) => basics.push(feature.to_string()),
            None => failures.push(format!(
                "{feature} is not in caniemail and not a listed basic: check its support by hand, \
                 then add it to the basics or map it to a slug. Used in: {}",
                places.iter().next().map_or("", String::as_str)
            )),
        }
    }

    let header: Vec<String> = CHECKED
        .iter()
        .map(|(_, _, label)| format!("{label:<10}"))
        .collect();
    println!("{:<36} {:<34} {}", "caniemail slug", "used as", header.join(""));
    let mut notes: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    let mut used_allowances = BTreeSet::new();
    for (slug, features) in &by_slug {
        let data = caniemail.feature(slug).expect("slug_of returns known slugs");
        let mut cells = Vec::new();
        for (client, platform, label) in CHECKED {
            let Some((version, support)) = data.latest(client, platform) else {
                cells.push(format!("{:<10}", "-"));
                continue;
            };
            for number in support.split_whitespace().filter_map(|t| t.strip_prefix('#')) {
                notes
                    .entry((slug.clone(), number.to_owned()))
                    .or_default()
                    .insert(label);
            }
            let mut cell = support.replace(' ', "");
            if support.starts_with('n') {
                if let Some(index) = allowance(slug, client, platform) {
                    used_allowances.insert(index);
                    cell.push('*');
                    let places = features.iter().flat_map(|f| &found.0[*f]);
                    if let Some(needle) = ALLOWED[index].only_in {
                        for place in places.filter(|place| !place.contains(needle)) {
                            failures.push(format!(
                                "{slug} is allowed in {client}/{platform} only where {needle:?} is, but is used in {place}"
                            ));
                        }
                    }
                } else {
                    cell.push('!');
                    let place = features.iter().flat_map(|f| &found.0[*f]).next();
                    failures.push(format!(
                        "{slug} ({}) is not supported in {client}/{platform} {version} (caniemail: {support:?}), used in {}",
                        features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" "),
                        place.map_or("", String::as_str)
                    ));
                }
            }
            cells.push(format!("{cell:<10}"));
        }
        let used_as: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        let used_as: String = used_as.join(" ").chars().take(34).collect();
        println!("{slug:<36} {used_as:<34} {}", cells.join(""));
    }
    println!("\nbasics without a caniemail page: {}", basics.join(" "));
    println!("(* = not supported, allowed below; ! = not supported and not allowed)\n\nnotes:");
    for ((slug, number), labels) in &notes {
        let data = caniemail.feature(slug).expect("known slug");
        let labels: Vec<&str> = labels.iter().copied().collect();
        println!(
            "  {slug} #{number} [{}]: {}",
            labels.join(", "),
            data.note(number)
        );
    }
    println!("\nallowed:");
    for (index, allowed) in ALLOWED.iter().enumerate() {
        println!(
            "  {} in {}: {}",
            allowed.slug,
            allowed.clients.join(", "),
            allowed.reason
        );
        if !used_allowances.contains(&index) {
            failures.push(format!(
                "the allow-list entry for {} is not needed (unused, or caniemail no longer says \"n\"): remove it",
                allowed.slug
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Hostile feed HTML.

/// The elements `templates/digest.html` writes; nothing from a feed adds one.
const TEMPLATE_ELEMENTS: [&str; 16] = [
    "html", "head", "meta", "title", "style", "body", "div", "table", "tr", "td", "h1", "h2", "p", "a",
    "span", "img",
];

/// What is wrong with the HTML part, as markup a feed could have smuggled in.
fn markup_problems(html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lower = html.to_ascii_lowercase();
    for bad in ["<script", "<iframe", "<object", "<embed", "<form"] {
        if lower.contains(bad) {
            problems.push(format!("contains {bad}"));
        }
    }
    let styles = lower.matches("<style").count();
    if styles != 1 {
        problems.push(format!("{styles} <style> elements, expected our one"));
    }
    for tag in scan_html(html).tags {
        if !TEMPLATE_ELEMENTS.contains(&tag.name.as_str()) {
            problems.push(format!("element not from the template: {}", tag.source));
        }
        if EVENT_HANDLER.is_match(&tag.source) {
            problems.push(format!("event handler: {}", tag.source));
        }
        for (name, value) in &tag.attributes {
            let value: String = html_escape::decode_html_entities(value)
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect::<String>()
                .to_ascii_lowercase();
            if ["javascript:", "vbscript:", "expression("]
                .iter()
                .any(|bad| value.contains(bad))
            {
                problems.push(format!("script in an attribute: {}", tag.source));
            }
            let is_url = matches!(name.as_str(), "href" | "src");
            if is_url && value.starts_with("data:") {
                problems.push(format!("data: URL: {}", tag.source));
            }
            let allowed = ["http://", "https://", "#", "mailto:"];
            if is_url && !allowed.iter().any(|prefix| value.starts_with(prefix)) {
                problems.push(format!(
                    "{name} is not http(s), #anchor or mailto: {}",
                    tag.source
                ));
            }
        }
    }
    problems
}

#[test]
fn hostile_feed_html_never_reaches_the_mail_as_markup() {
    let folder = shared_corpus("feedparser/tests/wellformed/sanitize");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("read the sanitize folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .xml files in {}", folder.display());

    // The checks themselves catch what they look for.
    let smuggled = r#"<style></style><style></style><a href=" Java&#115;cript:x" onclick="y"><iframe><img src="data:,">"#;
    assert_eq!(
        markup_problems(smuggled).len(),
        8,
        "{:#?}",
        markup_problems(smuggled)
    );
    assert!(MARKUP_IN_TEXT.is_match("a </b> c") && !MARKUP_IN_TEXT.is_match("1 < 2, a<-b"));

    let config = support::config(CONFIG, Path::new("/nonexistent"));
    let subscriber = config.subscriber("bob@example.org").expect("bob is configured");
    let (mut items, mut feed_titles, mut parse_errors, mut links, mut images) = (0, 0, 0, 0, 0);
    let mut panics = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(file).expect("read a corpus file");
        let parsed =
            std::panic::catch_unwind(|| parse::parse_feed(&bytes, Some("http://example.org/feed.xml")));
        let feed = match parsed {
            Err(_) => {
                panics.push(name);
                continue;
            }
            Ok(Err(_)) => {
                parse_errors += 1;
                continue;
            }
            Ok(Ok(feed)) => feed,
        };
        items += feed.items.len();
        links += feed.items.iter().filter(|i| i.link.is_some()).count();
        images += feed.items.iter().filter(|i| i.image.is_some()).count();
        // A file without entries still tests its feed title, shown as the source.
        let entries = if feed.items.is_empty() {
            vec![item("placeholder", "Placeholder", "", 0)]
        } else {
            feed.items
        };
        let articles: Vec<Article> = entries.iter().map(|i| article(EN_FEED, i, now())).collect();
        // The feed's own title is its display name when the config gives none.
        let mut context = Context {
            feed_names: feed_names(&config),
            ..Context::default()
        };
        if let Some(title) = feed.title {
            feed_titles += 1;
            context.feed_names.insert(EN_FEED.to_owned(), title);
        }
        let model = digest::build(&config, subscriber, &articles, &context, now());
        let rendered = render(&model).expect("render");
        for problem in markup_problems(&rendered.html) {
            problems.push(format!("{name}: HTML part: {problem}"));
        }
        for found in MARKUP_IN_TEXT.find_iter(&rendered.text) {
            let around: String = rendered.text[found.start()..].chars().take(60).collect();
            problems.push(format!("{name}: text part has markup: {around:?}"));
        }
    }
    println!(
        "{} files: {items} items ({links} with a link, {images} with an image), {feed_titles} feed titles, \
         {parse_errors} parse errors, {} panics",
        files.len(),
        panics.len()
    );
    assert!(panics.is_empty(), "parse_feed panicked on: {panics:?}");
    assert!(items > 0, "no items parsed: the test checked nothing");
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Header injection.

const EVIL_CONFIG: &str = r#"
state_dir = "state"
[delivery]
transport = "file"
dir = "mail"
[smtp]
from = "每日简报 <digest@example.org>"
[digest]
title = "每日简报\r\nBcc: evil@example.org\u0007"
unsubscribe = ["mailto:digest@example.org?subject=unsubscribe", "https://example.org/unsubscribe?x=\r\nBcc: evil@example.org"]
[[feeds]]
url = "https://news.example.cn/world.xml"
name = "中文新闻\r\nBcc: evil@example.org"
[[feeds]]
url = "https://tech.example.org/atom.xml"
name = "Tech\nBcc: evil@example.org\u000b"
[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "North Korea"]
[[subscribers]]
email = "alice@example.org"
name = "Alice 王\r\nBcc: evil@example.org"
timezone = "Asia/Shanghai"
language = "zh-CN"
[[subscribers]]
email = "eve@example.org"
name = "Eve\r\nBcc: evil@example.org\u0000"
"#;

/// What is wrong with the header block of a composed message.
fn header_problems(message: &str) -> Vec<String> {
    let Some(end) = message.find("\r\n\r\n") else {
        return vec!["no blank line after the headers".to_owned()];
    };
    let head = &message[..end];
    let mut problems = Vec::new();
    let bytes = head.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        let bare_cr = *byte == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        let bare_lf = *byte == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
        if bare_cr || bare_lf {
            problems.push(format!("bare CR or LF at byte {i}"));
        }
    }
    let mut names = Vec::new();
    for line in head.split("\r\n") {
        if line.chars().any(|c| c.is_control() && c != '\t') {
            problems.push(format!("control character in {line:?}"));
        }
        if line.starts_with([' ', '\t']) {
            if names.is_empty() {
                problems.push(format!("continuation before any header: {line:?}"));
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, _)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) => {
                names.push(name.to_ascii_lowercase());
            }
            _ => problems.push(format!("not a header line: {line:?}")),
        }
    }
    if names.iter().any(|n| n == "bcc" || n == "cc") {
        problems.push(format!("a Bcc or Cc header: {names:?}"));
    }
    for wanted in ["from", "to", "subject"] {
        let count = names.iter().filter(|n| *n == wanted).count();
        if count != 1 {
            problems.push(format!("{count} {wanted} headers"));
        }
    }
    problems
}

#[test]
fn header_injection_is_impossible() {
    // A sender with a line break in its name is refused by the config, or folded.
    let evil_sender = EVIL_CONFIG.replace(
        "from = \"每日简报 <digest@example.org>\"",
        "from = \"Digest\\r\\nBcc: evil@example.org <digest@example.org>\"",
    );
    if let Ok(config) = Config::parse(&evil_sender, None, Path::new("/nonexistent"), &[]) {
        let name = config.from.name.unwrap_or_default();
        assert!(
            !name.contains(['\r', '\n']),
            "smtp.from kept a line break: {name:?}"
        );
    }

    let config = support::config(EVIL_CONFIG, Path::new("/nonexistent"));
    let evil = "\r\nBcc: evil@example.org";
    let mut articles = realistic_articles();
    articles[0].title = format!("朝鲜与邻国举行高层会谈{evil}");
    articles[1].title = "欧洲央行\u{85}Bcc: evil@example.org\u{2028}\u{0}维持利率不变".to_owned();
    articles[2].title = format!("North Korea{evil}\u{b}\u{c}launches a satellite");
    let context = Context {
        feed_names: feed_names(&config),
        ..Context::default()
    };
    let ids: Vec<ArticleId> = articles.iter().map(|a| a.id.clone()).collect();
    let address = |text: &str| text.parse().expect("an address");
    let alice = config
        .subscriber("alice@example.org")
        .expect("alice is configured");
    let eve = config.subscriber("eve@example.org").expect("eve is configured");
    let cases = [
        (
            "titles and feed names (plain recipient)",
            config.from.clone(),
            Mailbox::new(Some("Bob".to_owned()), address("bob@example.org")),
            alice,
        ),
        (
            "subscriber name from the config, Chinese",
            config.from.clone(),
            alice.mailbox.clone(),
            alice,
        ),
        (
            "subscriber name from the config, ASCII",
            config.from.clone(),
            eve.mailbox.clone(),
            eve,
        ),
        (
            "hand-made sender and recipient",
            Mailbox::new(Some(format!("Digest{evil}")), config.from.email.clone()),
            Mailbox::new(
                Some(format!("Mallory{evil}\u{0}")),
                address("mallory@example.org"),
            ),
            alice,
        ),
    ];
    let mut failures = Vec::new();
    for (label, from, to, subscriber) in cases {
        let model = digest::build(&config, subscriber, &articles, &context, now());
        let rendered = render(&model).expect("render");
        let composed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            mail::compose(
                &from,
                &to,
                &rendered,
                ids.clone(),
                &config.digest.unsubscribe,
                now(),
            )
        }));
        let entry = match composed {
            Ok(Ok(entry)) => entry,
            Ok(Err(err)) => {
                failures.push(format!(
                    "{label}: compose refused, so no digest would go out: {err}"
                ));
                continue;
            }
            Err(_) => {
                failures.push(format!(
                    "{label}: mail::compose panicked on the name {:?} (lettre's Mailbox cannot write CR or LF \
                     in a display name and unwraps the error)",
                    to.name
                ));
                continue;
            }
        };
        let head = entry.message.split("\r\n\r\n").next().unwrap_or_default();
        for problem in header_problems(&entry.message) {
            failures.push(format!("{label}: {problem}\n{head}"));
        }
        let parsed = mail_parser::MessageParser::default()
            .parse(entry.message.as_bytes())
            .expect("a parsable message");
        let addresses: Vec<&str> = parsed
            .to()
            .map(|to| to.iter().filter_map(|a| a.address()).collect())
            .unwrap_or_default();
        if parsed.bcc().is_some() || parsed.cc().is_some() || addresses != [to.email.to_string()] {
            failures.push(format!(
                "{label}: recipients {addresses:?}, bcc or cc present\n{head}"
            ));
        }
        let subject = decode(entry.message.as_bytes()).subject;
        let expected_start = "每日简报 Bcc: evil@example.org · ";
        let count = if subscriber.language.tag() == "zh-CN" {
            "篇文章"
        } else {
            "articles"
        };
        if subject != rendered.subject || !subject.starts_with(expected_start) || !subject.ends_with(count) {
            failures.push(format!(
                "{label}: subject {subject:?}, rendered {:?}",
                rendered.subject
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}
