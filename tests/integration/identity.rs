//! Never miss an article: distinct items that share a link or differ only by
//! fragment are all delivered once, a store written by the earlier identity
//! rule keeps its items known, flood-capped items are never lost to a 304,
//! and a capped digest takes the newest from every section.

use std::collections::HashMap;

use chrono::{Duration, TimeZone, Utc};

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::deliver::Delivered;
use feed_digest::feed_state::FeedState;
use feed_digest::ingest::{IngestBatch, NewArticle};
use feed_digest::poll::FeedOutcome;

use crate::support::rss;
use crate::support::world::{World, config_top};

/// One feed at `/a.xml` with one subscriber for everything; `extra` at the top.
async fn one_feed(extra: &str) -> World {
    World::start(|port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\nname = \"Feed A\"\n[[subscribers]]\nemail = \"all@example.org\"\n",
            config_top(port, extra),
            feeds.url("/a.xml"),
        )
    })
    .await
}

/// [`one_feed`] with the default first-poll window (a day), not "all".
async fn one_feed_first_window_24h() -> World {
    World::start(|port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\n[[subscribers]]\nemail = \"all@example.org\"\n",
            config_top(port, "").replace("first_poll_window = \"all\"", "first_poll_window = \"24h\""),
            feeds.url("/a.xml"),
        )
    })
    .await
}

/// The instant "minutes ago" counts from, fixed for the whole run and whole
/// seconds: a real feed repeats an item's date unchanged from poll to poll,
/// while `Utc::now()` read per document moves it across a second boundary
/// now and then, and a sibling told apart by its date would look new.
fn anchor() -> chrono::DateTime<Utc> {
    static ANCHOR: std::sync::LazyLock<chrono::DateTime<Utc>> = std::sync::LazyLock::new(|| {
        chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
    });
    *ANCHOR
}

/// RSS items given as `(guid, link, title, minutes ago)`; no `<guid>` when it is empty.
fn rss_items(items: &[(String, String, String, i64)]) -> String {
    let now = anchor();
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title><link>https://a.example/</link>",
    );
    for (guid, link, title, ago) in items {
        let guid = if guid.is_empty() {
            String::new()
        } else {
            format!("<guid isPermaLink=\"false\">{guid}</guid>")
        };
        out.push_str(&format!(
            "<item>{guid}<title>{title}</title><link>{link}</link><pubDate>{}</pubDate><description>about {title}</description></item>",
            (now - Duration::minutes(*ago)).to_rfc2822()
        ));
    }
    out.push_str("</channel></rss>");
    out
}

fn fetched(outcome: &FeedOutcome) -> (usize, usize) {
    match outcome {
        FeedOutcome::Fetched {
            new_articles,
            held_back,
            ..
        } => (*new_articles, *held_back),
        other => panic!("expected a fetched document, got {other:?}"),
    }
}

/// The plain-text part of every mail to `email`, with Unix line ends.
fn texts(world: &World, email: &str) -> Vec<String> {
    world
        .mail_to(email)
        .iter()
        .map(|m| m.text.replace("\r\n", "\n"))
        .collect()
}

/// How often each title appears as a digest entry across every mail to `email`.
fn entries(world: &World, email: &str, titles: &[String]) -> HashMap<String, usize> {
    let mails = texts(world, email);
    titles
        .iter()
        .map(|t| {
            let line = format!("* {t}\n");
            (t.clone(), mails.iter().map(|m| m.matches(&line).count()).sum())
        })
        .collect()
}

#[tokio::test]
async fn ninety_nine_items_sharing_one_link_and_no_guid_are_ninety_nine_articles() {
    let h = one_feed("max_new_per_poll = 500\n[digest]\nmax_items = 500").await;
    let items: Vec<_> = (0..99)
        .map(|n| {
            (
                String::new(),
                "https://nixos.org/news.html".to_owned(),
                format!("NixOS news {n:02}"),
                i64::from(n),
            )
        })
        .collect();
    h.feeds.set("/a.xml", rss_items(&items));
    assert_eq!(fetched(&h.poll_ok().await[0]), (99, 0));
    assert_eq!(h.feed_state(&h.config.feeds[0].key).not_queued.told_apart, 99);
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 99, .. })
    ));
    // The same document again, and again with a new item on top: only that one is new.
    h.feeds.set("/a.xml", rss_items(&items));
    assert_eq!(fetched(&h.poll_ok().await[0]), (0, 0));
    let mut more = items.clone();
    more.insert(
        0,
        (
            String::new(),
            "https://nixos.org/news.html".to_owned(),
            "NixOS news 99".to_owned(),
            0,
        ),
    );
    h.feeds.set("/a.xml", rss_items(&more));
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0));
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 1, .. })
    ));
    let titles: Vec<String> = more.iter().map(|i| i.2.clone()).collect();
    let counts = entries(&h, "all@example.org", &titles);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[tokio::test]
async fn items_whose_links_differ_by_fragment_are_each_delivered_once() {
    let h = one_feed("max_new_per_poll = 500\n[digest]\nmax_items = 500").await;
    // A daily page whose items are anchors on it: half without a guid, half
    // with one (then the shared page link must not make them GUID churn).
    let items: Vec<_> = (0..50)
        .map(|n| {
            let guid = if n % 2 == 0 {
                String::new()
            } else {
                format!("sn-{n}")
            };
            (
                guid,
                format!("http://scripting.com/2026/11/26.html#a08{n:04}"),
                format!("Scripting post {n:02}"),
                i64::from(n),
            )
        })
        .collect();
    h.feeds.set("/a.xml", rss_items(&items));
    assert_eq!(fetched(&h.poll_ok().await[0]), (50, 0));
    h.feeds.set("/a.xml", rss_items(&items));
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (0, 0),
        "a second poll delivers nothing"
    );
    // The page's first item of a new day stands alone, then gains siblings.
    let day = |n: usize| {
        (
            String::new(),
            format!("http://scripting.com/2026/11/27.html#b{n}"),
            format!("Next day {n}"),
            0,
        )
    };
    let mut next = vec![day(1)];
    next.extend(items.iter().cloned());
    h.feeds.set("/a.xml", rss_items(&next));
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0));
    next.insert(0, day(2));
    h.feeds.set("/a.xml", rss_items(&next));
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (1, 0),
        "the first one is not new again"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 52, .. })
    ));
    let titles: Vec<String> = next.iter().map(|i| i.2.clone()).collect();
    let counts = entries(&h, "all@example.org", &titles);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// Writes what feed-digest 0.1 stored for one poll of `items` of the feed:
/// the earlier rule gave every item sharing a link one id, so one article
/// (the first) was stored, delivered, and the rest were merged into it.
fn store_as_before(h: &World, items: &[Item]) {
    let feed = &h.config.feeds[0].key;
    let mut batch = IngestBatch::default();
    let mut ids = std::collections::HashSet::new();
    for item in items {
        let id = ArticleId::for_item(feed, item, false);
        if !ids.insert(id.clone()) {
            continue;
        }
        batch.deliver.push(NewArticle {
            article: Article {
                id,
                feed_key: feed.clone(),
                title: item.title.clone(),
                link: item.link.clone(),
                text: item.text.clone(),
                published: item.published,
                categories: Vec::new(),
                first_seen: Utc::now() - Duration::days(3),
                also_in: Vec::new(),
                routed: Vec::new(),
                updated: None,
                image: None,
                meaning: None,
            },
            recipients: Vec::new(),
            canonical_link: None,
        });
    }
    let state = FeedState {
        baselined: true,
        ..FeedState::default()
    };
    h.store
        .ingest(feed, &state, &batch, Utc::now() - Duration::days(3))
        .expect("write the earlier records");
}

fn item(guid: Option<&str>, link: &str, title: &str, days_ago: i64) -> Item {
    // Whole seconds, as a feed's date is read back.
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    Item {
        guid: guid.map(str::to_owned),
        link: Some(link.to_owned()),
        title: title.to_owned(),
        text: format!("about {title}"),
        published: Some(now - Duration::days(days_ago)),
        updated: None,
        categories: Vec::new(),
        image: None,
    }
}

/// The RSS document of `items`, with their exact dates.
fn rss_of(items: &[Item]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>");
    for item in items {
        let guid = item
            .guid
            .as_ref()
            .map(|g| format!("<guid>{g}</guid>"))
            .unwrap_or_default();
        let date = item
            .published
            .map(|d| format!("<pubDate>{}</pubDate>", d.to_rfc2822()))
            .unwrap_or_default();
        out.push_str(&format!(
            "<item>{guid}<title>{}</title><link>{}</link>{date}<description>{}</description></item>",
            item.title,
            item.link.as_deref().unwrap_or_default(),
            item.text
        ));
    }
    out.push_str("</channel></rss>");
    out
}

#[tokio::test]
async fn a_store_written_by_the_earlier_rule_keeps_its_items_known_after_the_upgrade() {
    // A real first-poll window: what an upgrade finds merged is treated like a
    // feed's first poll (old items are baseline, recent ones come).
    let h = World::start(|port, feeds| {
        let top = config_top(port, "max_new_per_poll = 500")
            .replace("first_poll_window = \"all\"", "first_poll_window = \"48h\"");
        format!(
            "{top}[[feeds]]\nurl = \"{}\"\n[[subscribers]]\nemail = \"all@example.org\"\n",
            feeds.url("/a.xml")
        )
    })
    .await;
    let mut items = vec![
        // Ordinary items: guid, or a link of their own.
        item(Some("g-1"), "https://a.example/1", "Guid one", 5),
        item(None, "https://a.example/2?utm_source=rss", "Link two", 5),
        // Merged by the earlier rule: one link for three items (the first
        // was delivered), and anchors of one page (ditto).
        item(None, "https://a.example/news.html", "Shared A", 5),
        item(None, "https://a.example/news.html", "Shared B", 4),
        item(None, "https://a.example/news.html", "Shared C", 0),
        item(None, "https://a.example/day.html#p1", "Anchor 1", 5),
        item(None, "https://a.example/day.html#p2", "Anchor 2", 0),
    ];
    store_as_before(&h, &items);
    h.feeds.set("/a.xml", rss_of(&items));
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (2, 0),
        "only the recent items the earlier rule had merged away are new"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    let mail = &texts(&h, "all@example.org")[0];
    assert!(
        mail.contains("* Shared C\n") && mail.contains("* Anchor 2\n"),
        "{mail}"
    );
    let state = h.feed_state(&h.config.feeds[0].key);
    assert_eq!(
        state.not_queued.baseline, 1,
        "Shared B is old: recorded as baseline"
    );
    // From now on nothing of it is new, and a new item is.
    h.feeds.set("/a.xml", rss_of(&items));
    assert_eq!(fetched(&h.poll_ok().await[0]), (0, 0));
    items.insert(0, item(None, "https://a.example/news.html", "Shared D", 0));
    h.feeds.set("/a.xml", rss_of(&items));
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0));
}

#[tokio::test]
async fn flood_capped_items_are_never_lost_to_a_304() {
    let h = one_feed("max_new_per_poll = 50\n[digest]\nmax_items = 500").await;
    let items: Vec<_> = (0..120)
        .map(|n| {
            let id = format!("m{n:03}");
            (
                id.clone(),
                format!("https://a.example/{id}"),
                format!("Item {id}"),
                i64::from(n),
            )
        })
        .collect();
    // Set once: from now on the server answers 304 to every conditional request.
    h.feeds.set("/a.xml", rss_items(&items));
    let key = h.config.feeds[0].key.clone();
    let mut sent = 0;
    for (new, held) in [(50, 70), (50, 20), (20, 0)] {
        assert_eq!(fetched(&h.poll_ok().await[0]), (new, held));
        assert_eq!(
            h.feed_state(&key).held_back,
            held as u64,
            "status counts them down"
        );
        match h.send("all@example.org").await {
            Ok(Delivered::Sent { articles, .. }) => sent += articles,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 120);
    // Nothing is held any more: validators go out again, and the server's 304 is honoured.
    assert_eq!(h.poll_ok().await[0], FeedOutcome::NotModified);
    let log = h.feeds.requests();
    let conditional: Vec<bool> = log.iter().map(|r| r.if_none_match.is_some()).collect();
    assert_eq!(conditional, [false, false, false, true]);
    let titles: Vec<String> = items.iter().map(|i| i.2.clone()).collect();
    let counts = entries(&h, "all@example.org", &titles);
    assert!(counts.values().all(|&n| n == 1), "each exactly once: {counts:?}");
    // Newest first within the cap: the first digest had the 50 newest.
    let first = &texts(&h, "all@example.org")[0];
    assert!(first.contains("* Item m000\n") && first.contains("* Item m049\n"));
    assert!(!first.contains("* Item m050\n"));
}

#[tokio::test]
async fn a_capped_digest_takes_the_newest_from_every_section() {
    let h = World::start(|port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\nname = \"Old Blog\"\n[[feeds]]\nurl = \"{}\"\nname = \"Daily News\"\n[[topics]]\nname = \"Rust\"\nkeywords = [\"rust\"]\n[[subscribers]]\nemail = \"all@example.org\"\n",
            config_top(port, "max_new_per_poll = 500\n[digest]\nmax_items = 9"),
            feeds.url("/old.xml"),
            feeds.url("/news.xml"),
        )
    })
    .await;
    // 40 posts from 2016, and today's 6 news items, two of them about Rust.
    let old: Vec<(String, String, String, Option<chrono::DateTime<Utc>>)> = (0..40)
        .map(|n| {
            let at = Utc
                .with_ymd_and_hms(2016, 3, 1, 8, 0, 0)
                .single()
                .unwrap_or_default()
                + Duration::days(n);
            (
                format!("old-{n:02}"),
                format!("Archive post {n:02}"),
                "from the archive".to_owned(),
                Some(at),
            )
        })
        .collect();
    let news: Vec<(String, String, String, Option<chrono::DateTime<Utc>>)> = (0..6)
        .map(|n| {
            let title = if n < 2 {
                format!("Rust release {n}")
            } else {
                format!("Headline {n}")
            };
            (
                format!("news-{n}"),
                title,
                "today".to_owned(),
                Some(Utc::now() - Duration::hours(n)),
            )
        })
        .collect();
    let as_refs = |v: &[(String, String, String, Option<chrono::DateTime<Utc>>)]| {
        v.iter()
            .map(|(a, b, c, d)| (a.clone(), b.clone(), c.clone(), *d))
            .collect::<Vec<_>>()
    };
    let old = as_refs(&old);
    let news = as_refs(&news);
    let refs = |v: &[(String, String, String, Option<chrono::DateTime<Utc>>)]| -> String {
        let items: Vec<(&str, &str, &str, Option<chrono::DateTime<Utc>>)> = v
            .iter()
            .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), *d))
            .collect();
        rss("feed", &items)
    };
    h.feeds.set("/old.xml", refs(&old));
    h.feeds.set("/news.xml", refs(&news));
    h.poll_ok().await;
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 9, .. })
    ));
    let text = &texts(&h, "all@example.org")[0];
    for section in ["== Rust (2) ==", "== Daily News (", "== Old Blog ("] {
        assert!(text.contains(section), "every section present: {section}\n{text}");
    }
    for newest in [
        "* Rust release 0\n",
        "* Rust release 1\n",
        "* Headline 2\n",
        "* Archive post 39\n",
    ] {
        assert!(text.contains(newest), "newest first: {newest}\n{text}");
    }
    // The oldest waiting article has a place of its own, so none waits forever.
    assert!(text.contains("* Archive post 00\n"), "{text}");
    assert!(
        !text.contains("* Archive post 01\n"),
        "the other old ones wait\n{text}"
    );
    assert!(
        text.contains("Apr 9, 2016"),
        "a date of another year shows it\n{text}"
    );
    assert!(
        text.contains("37 more articles wait for the next digest"),
        "{text}"
    );
}

#[tokio::test]
async fn poll_force_fetches_the_whole_document_whatever_the_validators() {
    let h = one_feed("").await;
    h.feeds
        .set("/a.xml", rss("A", &[("x1", "One", "b", Some(Utc::now()))]));
    h.poll_ok().await;
    assert_eq!(h.poll_ok().await[0], FeedOutcome::NotModified);
    let forced = h.poll_forced().await;
    assert!(matches!(forced[0], Ok(FeedOutcome::Fetched { .. })), "{forced:?}");
    let conditional: Vec<bool> = h
        .feeds
        .requests()
        .iter()
        .map(|r| r.if_none_match.is_some())
        .collect();
    assert_eq!(conditional, [false, true, false]);
}

/// `(guid, link, title, minutes ago or None for undated)` items.
fn rss_dated(items: &[(&str, &str, &str, Option<i64>)]) -> String {
    let now = anchor();
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>");
    for (guid, link, title, ago) in items {
        let guid = if guid.is_empty() {
            String::new()
        } else {
            format!("<guid>{guid}</guid>")
        };
        let date = ago.map(|m| format!("<pubDate>{}</pubDate>", (now - Duration::minutes(m)).to_rfc2822()));
        out.push_str(&format!(
            "<item>{guid}<title>{title}</title><link>{link}</link>{}<description>x</description></item>",
            date.unwrap_or_default()
        ));
    }
    out.push_str("</channel></rss>");
    out
}

#[tokio::test]
async fn a_sibling_with_the_same_title_neither_repeats_nor_hides_an_item() {
    let h = one_feed("").await;
    let l = "https://weekly.example/news";
    // Y and Z share a link; Y is told apart by its title.
    h.feeds.set(
        "/a.xml",
        rss_dated(&[("", l, "Weekly", Some(600)), ("", l, "Other", Some(500))]),
    );
    assert_eq!(fetched(&h.poll_ok().await[0]), (2, 0));
    // X has Y's title: Y now needs its date too, and must not come back.
    h.feeds.set(
        "/a.xml",
        rss_dated(&[
            ("", l, "Weekly", Some(10)),
            ("", l, "Weekly", Some(600)),
            ("", l, "Other", Some(500)),
        ]),
    );
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0), "only X is new");
    // One item alone, then a second with the same title: the second is new.
    let b = "https://bulletin.example/";
    h.feeds
        .set("/a.xml", rss_dated(&[("", b, "Bulletin", Some(300))]));
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0));
    h.feeds.set(
        "/a.xml",
        rss_dated(&[("", b, "Bulletin", Some(5)), ("", b, "Bulletin", Some(300))]),
    );
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (1, 0),
        "the second bulletin is not taken for the first"
    );
}

#[tokio::test]
async fn a_regenerated_guid_without_a_stored_title_is_delivered_not_absorbed() {
    let h = one_feed("").await;
    let l = "https://weekly.example/digest";
    h.feeds
        .set("/a.xml", rss_dated(&[("w48", l, "Week 48", Some(60))]));
    assert_eq!(fetched(&h.poll_ok().await[0]), (1, 0));
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    // The body goes a week after delivery; the link index still names it.
    h.store
        .prune(
            Utc::now() + Duration::days(8),
            chrono::TimeDelta::days(180),
            chrono::TimeDelta::days(7),
        )
        .expect("prune");
    h.feeds
        .set("/a.xml", rss_dated(&[("w49", l, "Week 49", Some(1))]));
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (1, 0),
        "a new guid and title on a known link is an article"
    );
}

#[tokio::test]
async fn an_upgrade_tells_an_anchored_item_from_a_sibling_on_the_bare_page() {
    let h = World::start(|port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\n[[subscribers]]\nemail = \"all@example.org\"\n",
            config_top(port, "max_new_per_poll = 500"),
            feeds.url("/a.xml")
        )
    })
    .await;
    // feed-digest 0.1 stored the anchored item under the bare page's id.
    let anchored = item(None, "https://a.example/day.html#p1", "Anchor one", 1);
    store_as_before(&h, std::slice::from_ref(&anchored));
    let bare = item(None, "https://a.example/day.html", "The page itself", 0);
    h.feeds.set("/a.xml", rss_of(&[anchored, bare]));
    assert_eq!(
        fetched(&h.poll_ok().await[0]),
        (1, 0),
        "the bare page's item is new, the anchored one known"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 1, .. })
    ));
    assert!(texts(&h, "all@example.org")[0].contains("* The page itself\n"));
}

/// An item polled alone has its guid for id; then a second item comes with
/// the same guid and no link. The first keeps its id, through the form the
/// two share; the second, whose earlier rule's form is that same guid, is
/// new: that form is not evidence that it was stored (it was the first's).
#[tokio::test]
async fn a_new_item_reusing_a_known_guid_without_a_link_is_delivered() {
    let h = one_feed("").await;
    let document = |items: &[(&str, Option<&str>, &str)]| {
        let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>");
        for (guid, link, title) in items {
            let link = link.map(|l| format!("<link>{l}</link>")).unwrap_or_default();
            out.push_str(&format!(
                "<item><guid isPermaLink=\"false\">{guid}</guid>{link}<title>{title}</title><description>about {title}</description></item>"
            ));
        }
        out + "</channel></rss>"
    };
    h.feeds.set("/a.xml", document(&[]));
    h.poll().await;
    let first = ("g", Some("https://a.example/first"), "First");
    h.feeds.set("/a.xml", document(&[first]));
    assert_eq!(fetched(&h.poll().await[0].clone().expect("poll")), (1, 0));
    h.feeds
        .set("/a.xml", document(&[first, ("g", None, "Second, no link")]));
    assert_eq!(
        fetched(&h.poll().await[0].clone().expect("poll")),
        (1, 0),
        "the second item is new, the first known"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
}

/// A feed whose first document's items could not be read, then its old
/// items read: still a first poll, so they are the baseline, not thirty
/// articles of news; a recent one among them is news. A feed first read
/// truly empty (new, a search with no hits) has its first item as news,
/// dated or not.
#[tokio::test]
async fn old_items_after_an_unreadable_first_read_are_the_baseline_not_news() {
    let h = one_feed_first_window_24h().await;
    let old = |n: i64| {
        (
            format!("g{n}"),
            format!("https://a.example/{n}"),
            format!("Old {n}"),
            60 * 24 * 300 + n,
        )
    };
    // Atom entries in an RSS channel: the document holds them, none are read.
    let unreadable = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>\
        <entry><title>Old 1</title><link href=\"https://a.example/1\"/></entry></channel></rss>";
    h.feeds.set("/a.xml", unreadable);
    assert_eq!(fetched(&h.poll().await[0].clone().expect("poll")), (0, 0));
    let state = h
        .store
        .feed_state(&h.feeds.url("/a.xml"))
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(state.empty_reason.is_some() && !state.baselined, "{state:?}");
    let mut items: Vec<_> = (0..30).map(old).collect();
    items.push((
        "fresh".to_owned(),
        "https://a.example/fresh".to_owned(),
        "Fresh".to_owned(),
        30,
    ));
    h.feeds.set("/a.xml", rss_items(&items));
    match h.poll().await[0].clone().expect("poll") {
        FeedOutcome::Fetched {
            new_articles,
            baseline,
            ..
        } => assert_eq!((new_articles, baseline), (1, 30)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_first_item_of_a_feed_first_read_empty_is_news_even_undated() {
    let h = one_feed_first_window_24h().await;
    h.feeds.set("/a.xml", rss_items(&[]));
    assert_eq!(fetched(&h.poll().await[0].clone().expect("poll")), (0, 0));
    let undated = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>\
        <item><title>First post</title><link>https://a.example/first</link></item></channel></rss>";
    h.feeds.set("/a.xml", undated);
    assert_eq!(fetched(&h.poll().await[0].clone().expect("poll")), (1, 0));
}
