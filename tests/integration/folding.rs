//! Story folding through the whole pipeline: the same event from two feeds
//! (one in traditional characters) is one entry naming both, a different
//! event on the same topic stays apart, and the story coming back from a
//! third feed after it was sent is a follow-up, not news.

use chrono::{Duration, Utc};

use feed_digest::deliver::{self, Delivered};
use feed_digest::meaning::Meaning;

use crate::support::rss;
use crate::support::world::{World, config_top};

async fn world() -> World {
    World::start(|port, feeds| {
        format!(
            r#"{top}[[feeds]]
url = "{a}"
name = "新华网"
[[feeds]]
url = "{b}"
name = "明報"
[[feeds]]
url = "{c}"
name = "澎湃新闻"
[[subscribers]]
email = "all@example.org"
"#,
            top = config_top(port, ""),
            a = feeds.url("/a.xml"),
            b = feeds.url("/b.xml"),
            c = feeds.url("/c.xml"),
        )
    })
    .await
}

const QUAKE: (&str, &str) = (
    "日本北海道东部海域发生7.1级地震 暂无海啸预警",
    "日本气象厅称，北海道东部海域今晨发生7.1级地震，震源深度约50公里，暂未发布海啸预警，钏路等地震感强烈。",
);
const QUAKE_TRADITIONAL: (&str, &str) = (
    "日本北海道東部海域發生7.1級地震 暫無海嘯預警",
    "日本氣象廳表示，北海道東部海域今晨發生7.1級地震，震源深度約50公里，暫未發布海嘯預警，釧路等地震感強烈。",
);
const OTHER_QUAKE: (&str, &str) = (
    "智利中部海域发生6.4级地震 首都震感明显",
    "智利国家地震中心称，中部沿海今日发生6.4级地震，首都圣地亚哥高楼摇晃，暂无人员伤亡报告。",
);
const QUAKE_AGAIN: (&str, &str) = (
    "北海道东部海域7.1级地震 日本气象厅未发布海啸预警",
    "日本气象厅通报，北海道东部海域发生7.1级地震，震源深度约50公里，未发布海啸预警，钏路震感强烈，部分列车停运。",
);

#[tokio::test]
async fn one_story_from_two_feeds_is_one_entry_and_its_return_is_a_follow_up() {
    let w = world().await;
    let now = Utc::now();
    w.feeds.set(
        "/a.xml",
        rss("A", &[("a1", QUAKE.0, QUAKE.1, Some(now - Duration::hours(2)))]),
    );
    w.feeds.set(
        "/b.xml",
        rss(
            "B",
            &[(
                "b1",
                QUAKE_TRADITIONAL.0,
                QUAKE_TRADITIONAL.1,
                Some(now - Duration::hours(1)),
            )],
        ),
    );
    w.feeds.set(
        "/c.xml",
        rss("C", &[("c1", OTHER_QUAKE.0, OTHER_QUAKE.1, Some(now))]),
    );
    w.poll_ok().await;

    // What `preview --json` prints: the structure, before anything is consumed.
    let subscriber = w.config.subscriber("all@example.org").expect("configured");
    let prepared = deliver::prepare(
        &w.config,
        &w.store,
        subscriber,
        &Meaning::new(&w.config),
        Utc::now(),
    )
    .await
    .expect("prepared")
    .expect("something to send");
    let json = serde_json::to_value(&prepared.model).expect("JSON");
    let entries: Vec<&serde_json::Value> = json["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["entries"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(entries.len(), 2, "three articles, two stories: {json:#}");
    let quake = entries
        .iter()
        .find(|e| e["title"] == QUAKE.0)
        .expect("the earliest report leads");
    assert_eq!(quake["source"], "新华网");
    assert_eq!(quake["folded"][0]["source"], "明報");
    assert_eq!(quake["folded"][0]["title"], QUAKE_TRADITIONAL.0);
    assert_eq!(quake["folded"][0]["link"], "https://example.cn/b1");
    assert!(
        entries
            .iter()
            .any(|e| e["title"] == OTHER_QUAKE.0 && e["folded"] == serde_json::json!([]))
    );

    assert!(matches!(
        w.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 3, .. })
    ));
    let mail = &w.mail_to("all@example.org")[0];
    assert!(
        mail.text.contains("另见: 明報") || mail.text.contains("also in: 明報"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("明報: https://example.cn/b1"), "{}", mail.text);
    assert_eq!(
        mail.text.matches(QUAKE_TRADITIONAL.0).count(),
        0,
        "folded, not listed"
    );
    assert!(
        mail.html.contains("href=\"https://example.cn/b1\""),
        "the folded source links its report"
    );

    // The next day a third outlet reports the same quake: a follow-up.
    w.feeds.set(
        "/c.xml",
        rss(
            "C",
            &[
                ("c1", OTHER_QUAKE.0, OTHER_QUAKE.1, Some(now)),
                (
                    "c2",
                    QUAKE_AGAIN.0,
                    QUAKE_AGAIN.1,
                    Some(now + Duration::minutes(5)),
                ),
            ],
        ),
    );
    w.poll_ok().await;
    let prepared = deliver::prepare(
        &w.config,
        &w.store,
        subscriber,
        &Meaning::new(&w.config),
        Utc::now(),
    )
    .await
    .expect("prepared")
    .expect("the new report is pending");
    let entry = &prepared.model.sections[0].entries[0];
    assert_eq!(entry.title, QUAKE_AGAIN.0);
    let earlier = entry.follow_up.as_ref().expect("marked as a follow-up");
    assert_eq!(
        (earlier.title.as_str(), earlier.source.as_str()),
        (QUAKE.0, "新华网")
    );
    assert!(matches!(
        w.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 1, .. })
    ));
    let mail = &w.mail_to("all@example.org")[1];
    assert!(
        mail.text
            .contains(&format!("{QUAKE_AGAIN_LABEL}: {} · 新华网", QUAKE.0)),
        "{}",
        mail.text
    );
}

/// The follow-up label in the reader's language (English by default).
const QUAKE_AGAIN_LABEL: &str = "Follow-up to";

#[tokio::test]
async fn folding_can_be_switched_off() {
    let server = crate::support::http::FeedServer::start().await;
    let urls = [server.url("/a.xml"), server.url("/b.xml")];
    let w = World::with_feeds(server, &urls, "[digest]\nfold_stories = false").await;
    w.feeds.set("/a.xml", rss("A", &[("a1", QUAKE.0, QUAKE.1, None)]));
    w.feeds.set(
        "/b.xml",
        rss("B", &[("b1", QUAKE_TRADITIONAL.0, QUAKE_TRADITIONAL.1, None)]),
    );
    w.poll_ok().await;
    let subscriber = w.config.subscriber("all@example.org").expect("configured");
    let prepared = deliver::prepare(
        &w.config,
        &w.store,
        subscriber,
        &Meaning::new(&w.config),
        Utc::now(),
    )
    .await
    .expect("prepared")
    .expect("pending");
    let entries: usize = prepared.model.sections.iter().map(|s| s.entries.len()).sum();
    assert_eq!(entries, 2);
}

/// Two reports of one story, neither with a link: the folded one is named
/// with its title, in both parts of the mail (its source alone hid it).
#[tokio::test]
async fn a_folded_report_without_a_link_is_named_with_its_title() {
    let w = world().await;
    let now = Utc::now();
    let linkless = |guid: &str, (title, text): (&str, &str), at: chrono::DateTime<Utc>| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><item>\
             <guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><description>{text}</description>\
             <pubDate>{}</pubDate></item></channel></rss>",
            at.to_rfc2822()
        )
    };
    w.feeds
        .set("/a.xml", linkless("a1", QUAKE, now - Duration::hours(2)));
    w.feeds.set(
        "/b.xml",
        linkless("b1", QUAKE_TRADITIONAL, now - Duration::hours(1)),
    );
    w.feeds.set("/c.xml", rss("C", &[]));
    w.poll_ok().await;
    assert!(matches!(
        w.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    let mail = w.mail_to("all@example.org").remove(0);
    assert!(mail.text.contains(QUAKE.0), "{}", mail.text);
    assert!(
        mail.text.contains(&format!("明報: {}", QUAKE_TRADITIONAL.0)),
        "{}",
        mail.text
    );
    assert!(mail.html.contains(QUAKE_TRADITIONAL.0), "{}", mail.html);
}
