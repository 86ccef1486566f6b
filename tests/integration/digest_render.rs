//! The rendered digest: snapshots of a fixed digest in English and Chinese,
//! the size budget, and the list headers.

use chrono::{DateTime, TimeZone, Utc};

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::config::Config;
use feed_digest::digest::render::{HTML_BUDGET, render, render_within};
use feed_digest::digest::{self, Context};
use feed_digest::mail;

use crate::support::{self, decode};

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .unwrap_or_default()
}

fn config(unsubscribe: &str) -> Config {
    let dir = std::path::Path::new("/nonexistent");
    support::config(
        &format!(
            r#"
state_dir = "/tmp/never-opened"
[delivery]
transport = "file"
dir = "/tmp/never-written"
[smtp]
from = "Morning Digest <digest@example.org>"
[digest]
title = "Morning Digest"
excerpt_chars = 80
unsubscribe = {unsubscribe}
[[feeds]]
url = "https://news.example.cn/world.xml"
name = "示例新闻"
topics = ["国际"]
[[feeds]]
url = "https://tech.example.org/atom.xml"
name = "Tech Weekly"
[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "North Korea"]
[[subscribers]]
email = "alice@example.org"
name = "Alice 王"
timezone = "Asia/Shanghai"
language = "zh-CN"
[[subscribers]]
email = "bob@example.org"
timezone = "America/New_York"
"#
        ),
        dir,
    )
}

fn article(feed: &str, n: u32, title: &str, text: &str) -> Article {
    let item = Item {
        guid: Some(format!("{feed}-{n}")),
        link: Some(format!("https://example.org/{n}")),
        title: title.to_owned(),
        text: text.to_owned(),
        published: Some(at(25, n % 24, 5)),
        updated: None,
        categories: Vec::new(),
        image: None,
    };
    Article {
        id: ArticleId::for_item(feed, &item, false),
        feed_key: feed.to_owned(),
        title: item.title,
        link: item.link,
        text: item.text,
        published: item.published,
        categories: Vec::new(),
        first_seen: at(25, 23, 0),
        also_in: Vec::new(),
        routed: Vec::new(),
        updated: None,
        image: None,
        meaning: None,
    }
}

const ZH: &str = "https://news.example.cn/world.xml";
const EN: &str = "https://tech.example.org/atom.xml";

fn articles() -> Vec<Article> {
    let mut korea = article(
        ZH,
        1,
        "朝鲜与邻国举行高层会谈",
        "本周二，朝鲜代表团抵达边境城市，与邻国官员就跨境铁路项目举行了为期两天的会谈，双方同意扩大合作。",
    );
    korea.also_in = vec![EN.to_owned()];
    korea.image = Some("https://images.example.org/rail.jpg".to_owned());
    let mut satellite = article(
        EN,
        2,
        "North Korea launches a satellite",
        "The launch, the third this year, failed shortly after lift-off according to officials in Seoul and Tokyo.",
    );
    satellite.updated = Some(at(25, 12, 0));
    vec![
        korea,
        satellite,
        article(
            ZH,
            3,
            "欧洲央行维持利率不变",
            "多家欧洲央行周三宣布维持基准利率不变，称通胀压力已有所缓解。",
        ),
        article(
            EN,
            4,
            "A faster borrow checker",
            "The compiler team merged a rewrite of the liveness analysis; check builds are 15% faster.",
        ),
    ]
}

fn context(config: &Config) -> Context {
    Context {
        feed_names: config
            .feeds
            .iter()
            .map(|f| (f.key.clone(), f.name.clone().unwrap_or_default()))
            .collect(),
        held_back: 2,
        flooded: vec![("Tech Weekly".to_owned(), 70)],
        failing: vec![(
            "Broken Feed".to_owned(),
            "https://broken.example.org/rss answered 500".to_owned(),
        )],
        earlier: Vec::new(),
        encoder: None,
    }
}

fn rendered(email: &str) -> feed_digest::digest::render::Rendered {
    let config = config("\"https://example.org/unsubscribe\"");
    let subscriber = config.subscriber(email).expect("subscriber");
    let digest = digest::build(&config, subscriber, &articles(), &context(&config), at(26, 0, 30));
    render(&digest).expect("render")
}

#[test]
fn english_digest_snapshot() {
    let r = rendered("bob@example.org");
    insta::assert_snapshot!("english_subject", r.subject);
    insta::assert_snapshot!("english_text", r.text);
    insta::assert_snapshot!("english_html", r.html);
}

#[test]
fn chinese_digest_snapshot() {
    let r = rendered("alice@example.org");
    assert!(r.html.contains("<html lang=\"zh-CN\">"));
    insta::assert_snapshot!("chinese_subject", r.subject);
    insta::assert_snapshot!("chinese_text", r.text);
    insta::assert_snapshot!("chinese_html", r.html);
}

#[test]
fn a_huge_digest_stays_under_the_budget_and_says_so() {
    let mut config = config("\"mailto:digest@example.org\"");
    config.digest.excerpt_chars = 1000;
    let subscriber = config.subscriber("bob@example.org").expect("subscriber");
    let long_text = "Long article text with many words in it. ".repeat(40);
    let many: Vec<Article> = (0..150)
        .map(|n| article(EN, n, &format!("Story {n:03}"), &long_text))
        .collect();
    let digest = digest::build(&config, subscriber, &many, &Context::default(), at(26, 0, 30));
    assert!(
        render(&digest).expect("render").html.len() > HTML_BUDGET,
        "the fixture must be over budget"
    );
    let r = render_within(&digest, HTML_BUDGET).expect("render");
    assert!(r.html.len() <= HTML_BUDGET, "{} bytes", r.html.len());
    assert!(r.html.contains("shortened to fit"), "the mail says so");
    // Nothing is dropped: every article keeps its link, as a card or in the list.
    for n in 0..150 {
        let link = format!("https://example.org/{n}\"");
        assert!(r.html.contains(&link), "article {n} lost");
    }
    assert!(r.text.contains("== More articles ("));
}

#[test]
fn folded_reports_keep_their_links_when_cards_become_links() {
    let config = config("\"mailto:digest@example.org\"");
    let subscriber = config.subscriber("bob@example.org").expect("subscriber");
    let long_text = "Unusual words about harbour cranes and tidal locks number ".repeat(30);
    // 120 stories, each told by both feeds: 120 entries with one folded report.
    let mut all = Vec::new();
    for n in 0..120 {
        let title = format!("Harbour crane {n} topples in storm near lock {n}");
        let text = format!("{long_text} case {n}");
        all.push(article(EN, n, &title, &text));
        let mut copy = article(ZH, n, &title, &text);
        copy.link = Some(format!("https://copy.example.org/{n}"));
        all.push(copy);
    }
    let digest = digest::build(&config, subscriber, &all, &Context::default(), at(26, 0, 30));
    let entries: usize = digest.sections.iter().map(|s| s.entries.len()).sum();
    assert_eq!(entries, 120, "each story folded once");
    let r = render_within(&digest, HTML_BUDGET).expect("render");
    assert!(!r.html.contains("shortened") || r.text.contains("== More articles ("));
    assert!(
        r.text.contains("== More articles ("),
        "the fixture must spill into links"
    );
    for n in 0..120 {
        for link in [
            format!("https://example.org/{n}"),
            format!("https://copy.example.org/{n}"),
        ] {
            assert!(r.html.contains(&format!("{link}\"")), "{link} lost from the HTML");
            assert!(r.text.contains(&link), "{link} lost from the text");
        }
    }
}

#[test]
fn list_headers_follow_rfc_2369_2919_and_8058() {
    let config =
        config("[\"mailto:digest@example.org?subject=unsubscribe\", \"https://example.org/u/alice\"]");
    let subscriber = config.subscriber("alice@example.org").expect("subscriber");
    let digest = digest::build(
        &config,
        subscriber,
        &articles(),
        &Context::default(),
        at(26, 0, 30),
    );
    let r = render(&digest).expect("render");
    let entry = mail::compose(
        &config.from,
        &subscriber.mailbox,
        &r,
        vec![],
        &config.digest.unsubscribe,
        at(26, 0, 30),
    )
    .expect("compose");
    // Unfold long header lines (RFC 5322 folding) before matching.
    let headers = entry
        .message
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ");
    for expected in [
        "List-Id: <feed-digest.example.org>",
        "List-Unsubscribe: <mailto:digest@example.org?subject=unsubscribe>, <https://example.org/u/alice>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: bulk",
        "Auto-Submitted: auto-generated",
    ] {
        assert!(headers.contains(expected), "{expected:?} missing from\n{headers}");
    }
    let mail = decode(entry.message.as_bytes());
    assert_eq!(mail.subject, "Morning Digest · 11月26日 · 4 篇文章");

    // Without an https address there is no one-click header.
    let config = self::config("\"mailto:digest@example.org\"");
    let entry = mail::compose(
        &config.from,
        &subscriber.mailbox,
        &r,
        vec![],
        &config.digest.unsubscribe,
        at(26, 0, 30),
    )
    .expect("compose");
    assert!(!entry.message.contains("List-Unsubscribe-Post"));

    // A sender at an internationalised domain: its ASCII form where a
    // header takes no encoded words (msg-id, list id).
    let from: lettre::message::Mailbox = "摘要 <digest@例子.中国>".parse().expect("mailbox");
    let entry = mail::compose(&from, &subscriber.mailbox, &r, vec![], &[], at(26, 0, 30)).expect("compose");
    let headers = entry
        .message
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ");
    assert!(
        headers.contains("List-Id: <feed-digest.xn--fsqu00a.xn--fiqs8s>"),
        "{headers}"
    );
    assert!(
        entry.message_id.ends_with("@xn--fsqu00a.xn--fiqs8s>"),
        "{}",
        entry.message_id
    );
    assert!(
        headers.contains(&format!("Message-ID: {}", entry.message_id)),
        "{headers}"
    );
}

#[test]
fn updated_is_shown_only_to_a_reader_who_got_the_article_before() {
    let config = config("\"https://example.org/unsubscribe\"");
    let subscriber = config.subscriber("bob@example.org").expect("subscriber");
    let articles = articles();
    let badge = |context: &Context| {
        let digest = digest::build(&config, subscriber, &articles, context, at(26, 0, 30));
        digest
            .sections
            .iter()
            .flat_map(|s| &s.entries)
            .find(|e| e.title == "North Korea launches a satellite")
            .map(|e| e.updated)
    };
    let mut context = context(&config);
    assert_eq!(
        badge(&context),
        Some(false),
        "news to this reader is not an update"
    );
    context.earlier.push(feed_digest::digest::SentStory {
        sent_at: at(24, 7, 0),
        feed_key: EN.to_owned(),
        title: "North Korea launches a satellite".to_owned(),
        link: Some("https://example.org/2".to_owned()),
        meaning: None,
        lede: String::new(),
    });
    assert_eq!(badge(&context), Some(true));
}
