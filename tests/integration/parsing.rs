//! Feed items as news mirrors deliver them: the boilerplate a feed repeats in
//! every item goes, the articles' own text stays.

use std::path::Path;

use feed_digest::parse::{parse_feed, parse_feed_with};

fn mirror_feed() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds/mirror-zh.xml");
    std::fs::read(path).expect("fixture")
}

#[test]
fn a_mirrors_promotional_footer_and_repeated_title_are_stripped() {
    let parsed = parse_feed(&mirror_feed(), None).expect("parses");
    assert_eq!(parsed.items.len(), 5);
    for item in &parsed.items {
        assert!(!item.text.contains("获取更多RSS"), "{}", item.text);
        assert!(!item.text.contains("mirror.example"), "{}", item.text);
        assert!(
            !item.text.starts_with(&item.title),
            "the title is not repeated: {}",
            item.text
        );
        assert!(
            !item.text.contains("179548"),
            "no timestamp comment: {}",
            item.text
        );
    }
    // The first paragraph is the article's, not the byline or the date.
    assert!(
        parsed.items[0].text.starts_with("港口扩建工程周一正式启动"),
        "{}",
        parsed.items[0].text
    );
}

#[test]
fn a_closing_sentence_two_articles_share_is_kept() {
    let parsed = parse_feed(&mirror_feed(), None).expect("parses");
    assert!(
        parsed.items[0].text.ends_with("谈判将于下周继续。"),
        "{}",
        parsed.items[0].text
    );
    assert!(
        parsed.items[1].text.ends_with("谈判将于下周继续。"),
        "{}",
        parsed.items[1].text
    );
}

#[test]
fn per_feed_strip_patterns_remove_what_detection_cannot_know() {
    let rules = feed_digest::boilerplate::StripRules {
        patterns: vec![regex::Regex::new("^特展将持续到.*$").expect("pattern")],
        selectors: Vec::new(),
    };
    let parsed = parse_feed_with(&mirror_feed(), None, &rules).expect("parses");
    assert!(
        parsed.items[4].text.ends_with("展品来自全国十余家博物馆。"),
        "{}",
        parsed.items[4].text
    );
    assert!(
        parsed.items[3].text.ends_with("研究人员呼吁加强监测。"),
        "others untouched"
    );
}

#[test]
fn real_item_text_reads_cleanly() {
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>
<item><title>Release notes</title><link>https://b.example/1</link><description><![CDATA[<p>We shipped it.</p><ul><li>Faster builds</li><li>Smaller binaries</li></ul><p><a href="https://b.example/1">Continue reading <span>Release notes</span> <span>&rarr;</span></a></p>]]></description></item>
<item><title>央行发布报告</title><link>https://b.example/2</link><description><![CDATA[<p>央行周二发布报告，称经济继续恢复。</p><p>分析人士认为，政策仍有空间。… 继续阅读 →</p><p>更多精彩内容请关注我们的公众号。</p>]]></description></item>
<item><link>https://b.example/3</link><description><![CDATA[<p>It's a very long first sentence without any title given by the feed, so the reader needs one made from it.</p>]]></description></item>
<item><title>Sign-off</title><link>https://b.example/4</link><description><![CDATA[<p>Short post.</p><p>The post Sign-off appeared first on Example Blog.</p>]]></description></item>
</channel></rss>"#;
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    let text: Vec<&str> = parsed.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(text[0], "We shipped it. • Faster builds • Smaller binaries");
    assert_eq!(
        text[1],
        "央行周二发布报告，称经济继续恢复。分析人士认为，政策仍有空间。"
    );
    assert_eq!(text[3], "Short post.");
    // Made from the text, cut at a word, never mid-word.
    assert_eq!(
        parsed.items[2].title,
        "It's a very long first sentence without any title given by the feed, so the…"
    );
}

#[test]
fn titles_with_entities_left_in_cdata_or_escaped_twice_read_as_a_person_expects() {
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title><![CDATA[War &mdash; and peace]]></title><link>https://e.example/1</link></item>
<item><title>She said &amp;quot;hello&amp;quot;</title><link>https://e.example/2</link></item>
<item><title>Fish &amp; chips</title><link>https://e.example/3</link></item>
</channel></rss>"#;
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    let titles: Vec<&str> = parsed.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["War — and peace", "She said \"hello\"", "Fish & chips"]);
}

/// A summary with no text of its own (an image alone, the title again)
/// gives way to the full content, then to a media description.
#[test]
fn an_item_whose_summary_says_nothing_takes_its_text_from_the_content_or_media() {
    let feed = r#"<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<item><title>春雨</title><link>https://e.example/1</link>
<description><![CDATA[<img src="https://e.example/a.jpg">]]></description>
<content:encoded><![CDATA[<p>长江流域迎来今年首场春雨。</p>]]></content:encoded></item>
<item><title>Storm warning</title><link>https://e.example/2</link>
<description>Storm warning</description>
<content:encoded><![CDATA[<p>Gales are expected along the coast tonight.</p>]]></content:encoded></item>
<item><title>A talk</title><link>https://e.example/3</link>
<media:group><media:description>How the encoder folds stories, in twenty minutes.</media:description></media:group></item>
<item><title>Kept</title><link>https://e.example/4</link>
<description>The teaser.</description>
<content:encoded><![CDATA[<p>The whole article.</p>]]></content:encoded></item>
</channel></rss>"#;
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    let texts: Vec<&str> = parsed.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "长江流域迎来今年首场春雨。",
            "Gales are expected along the coast tonight.",
            "How the encoder folds stories, in twenty minutes.",
            "The teaser."
        ]
    );
}

/// A plain-text title with `<` in it (a generic, a comparison) is not HTML;
/// one with a real tag is.
#[test]
fn a_text_title_with_angle_brackets_is_kept_whole() {
    let feed = r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title type="text">Vec&lt;T&gt; in Rust</title><id>urn:1</id><link href="https://e.example/1"/><updated>2026-01-01T00:00:00Z</updated></entry>
<entry><title type="text">Why a&lt;b matters</title><id>urn:2</id><link href="https://e.example/2"/><updated>2026-01-01T00:00:00Z</updated></entry>
<entry><title type="text">Pin&lt;P&gt; and Box&lt;A&gt; explained</title><id>urn:5</id><link href="https://e.example/5"/><updated>2026-01-01T00:00:00Z</updated></entry>
<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; news</title><id>urn:3</id><link href="https://e.example/3"/><updated>2026-01-01T00:00:00Z</updated></entry>
</feed>"#;
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    let titles: Vec<&str> = parsed.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Vec<T> in Rust",
            "Why a<b matters",
            "Pin<P> and Box<A> explained",
            "Bold news"
        ]
    );
    let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>&lt;em&gt;Breaking&lt;/em&gt;: rates held</title><link>https://e.example/4</link></item>
</channel></rss>"#;
    let parsed = parse_feed(rss.as_bytes(), None).expect("parses");
    assert_eq!(parsed.items[0].title, "Breaking: rates held");
}

/// A PHP warning printed before the feed: the feed is read, the repair said.
#[test]
fn a_feed_after_a_php_warning_is_read() {
    let feed = "<br />\n<b>Warning</b>:  Undefined variable $x in <b>/var/www/feed.php</b> on line <b>12</b><br />\n\
        <?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
        <item><title>新闻一</title><link>https://e.example/1</link></item></channel></rss>";
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(parsed.items[0].title, "新闻一");
    assert!(
        parsed
            .reading
            .repairs
            .iter()
            .any(|r| r.contains("before the document")),
        "{:?}",
        parsed.reading.repairs
    );
}

/// Dates in forms feed-rs does not read, common in Chinese feeds, are read
/// (without a zone, as UTC); the dates it reads stay as it reads them.
#[test]
fn dates_in_common_non_rfc_forms_are_read() {
    let items: String = [
        "2024-01-15 10:30:00",
        "2024-01-15 10:30:00 +0800",
        "2024-01-15T10:30:00",
        "2024/01/15 10:30",
        "2024年1月15日 10:30",
        "Mon, 15 Jan 2024 10:30:00 GMT",
    ]
    .iter()
    .enumerate()
    .map(|(n, date)| {
        format!("<item><title>t{n}</title><link>https://e.example/{n}</link><pubDate>{date}</pubDate></item>")
    })
    .collect();
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>{items}</channel></rss>"
    );
    let parsed = parse_feed(feed.as_bytes(), None).expect("parses");
    let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2024, 1, 15, h, 30, 0).single();
    let dates: Vec<_> = parsed.items.iter().map(|i| i.published).collect();
    // Without a zone: UTC, but Beijing time for a date written 年月日.
    assert_eq!(dates, [at(10), at(2), at(10), at(10), at(2), at(10)]);
    // A Chinese site's dates without a zone are Beijing time.
    let parsed = parse_feed(feed.as_bytes(), Some("https://news.example.cn/rss.xml")).expect("parses");
    let dates: Vec<_> = parsed.items.iter().map(|i| i.published).collect();
    assert_eq!(dates, [at(2), at(2), at(2), at(2), at(2), at(10)]);
}
