//! The three promises under stress: duplicates across feeds, GUID churn,
//! edits, floods, retention, outages, store export/import and migration.

use std::path::Path;

use chrono::{Duration, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use feed_digest::deliver::{DeliverError, Delivered};
use feed_digest::mail::SendError;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::store::{Backend, Kind, Store, StoreError};

use crate::support::http::FeedServer;
use crate::support::world::{World, config_top};
use crate::support::{atom, new_article, rss};

/// Two feeds (both empty at first), a subscriber for all and one for Korea;
/// `extra` goes at the top of the config.
fn harness_config(extra: &str) -> impl FnOnce(u16, &FeedServer) -> String + '_ {
    move |port, feeds| {
        format!(
            r#"{top}[[feeds]]
url = "{a}"
name = "Feed A"
[[feeds]]
url = "{b}"
name = "Feed B"
[[topics]]
name = "Korea"
keywords = ["korea"]
[[subscribers]]
email = "all@example.org"
[[subscribers]]
email = "korea@example.org"
topics = ["Korea"]
"#,
            top = config_top(port, extra),
            a = feeds.url("/a.xml"),
            b = feeds.url("/b.atom"),
        )
    }
}

fn empty_feeds<S>(world: World<S>) -> World<S> {
    world.feeds.set("/a.xml", rss("A", &[]));
    world.feeds.set("/b.atom", atom("B", &[]));
    world
}

/// The harness on sled.
async fn harness(extra: &str) -> World {
    empty_feeds(World::start(harness_config(extra)).await)
}

/// Each scenario runs twice, on sled and on PostgreSQL (a cluster of its
/// own, skipped where PostgreSQL is not installed unless required), through
/// the same seam: the store's promises are the seam's, whatever is behind it.
macro_rules! on_both_stores {
    ($($name:ident($extra:expr);)*) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sled() {
                super::$name(super::harness($extra).await).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(cluster) = crate::support::postgres::Cluster::start() else {
                    return;
                };
                let world = crate::support::world::World::start_pg(&cluster, super::harness_config($extra)).await;
                super::$name(super::empty_feeds(world)).await;
            }
        }
    )*};
}

on_both_stores! {
    the_same_article_in_two_feeds_is_one_entry_naming_both("");
    regenerated_guids_do_not_resend_and_edits_are_not_new("");
    a_daily_item_on_one_link_under_one_title_is_new_each_day("");
    a_page_and_its_anchors_stay_known_after_their_bodies_expire("");
    a_dated_page_beside_its_anchors_is_news_each_day_its_date_moves("");
    a_flood_is_capped_newest_first_and_the_digest_says_so("max_new_per_poll = 50");
    max_items_leaves_the_rest_pending_and_says_so("[digest]\nmax_items = 3");
    retention_keeps_tombstones_for_the_period_then_forgets("");
    an_id_still_in_its_feed_is_never_forgotten("");
    an_id_is_forgotten_a_retention_after_it_left_not_after_its_last_sight("");
    a_forgotten_id_takes_its_body_with_it_whatever_the_bodys_age("");
    an_outage_for_a_whole_schedule_then_everything_arrives_once("");
    a_permanent_failure_for_one_recipient_blocks_nobody_else_and_loses_nothing("");
    gone_and_redirected_feeds_are_on_record_for_status("");
    retry_after_and_backoff_keep_polls_away_and_force_overrides_only_the_backoff("");
}

fn new_count(outcome: &FeedOutcome) -> usize {
    match outcome {
        FeedOutcome::Fetched { new_articles, .. } => *new_articles,
        FeedOutcome::NotModified | FeedOutcome::Skipped { .. } => 0,
    }
}

type Items<'a> = [(&'a str, &'a str, &'a str, Option<chrono::DateTime<Utc>>)];

/// RSS whose item links are given explicitly (the `rss` helper derives them from the guid).
fn rss_with_links(items: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>");
    for (guid, title, link) in items {
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><link>{link}</link><description>body of {title}</description></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}

async fn the_same_article_in_two_feeds_is_one_entry_naming_both<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    h.feeds.set(
        "/a.xml",
        rss_with_links(&[(
            "a-1",
            "Korea talks resume",
            "https://news.example.org/korea-talks?utm_source=rss#top",
        )]),
    );
    let atom_copy = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>B</title><id>urn:b</id><updated>2026-01-01T00:00:00Z</updated>\
        <entry><title>Talks with Korea resume</title><id>urn:b:77</id><link href=\"HTTPS://NEWS.example.org:443/korea-talks?fbclid=x\"/><summary>copy</summary></entry></feed>";
    h.feeds.set("/b.atom", atom_copy);
    let outcomes = h.poll_ok().await;
    assert_eq!(
        new_count(&outcomes[0]) + new_count(&outcomes[1]),
        1,
        "{outcomes:?}"
    );
    for email in ["all@example.org", "korea@example.org"] {
        assert!(
            matches!(h.send(email).await, Ok(Delivered::Sent { articles: 1, .. })),
            "{email}"
        );
        let mail = &h.mail_to(email)[0];
        assert_eq!(mail.text.matches("korea-talks").count(), 1, "{}", mail.text);
        // Whichever feed answered first owns the entry; the other is "also in".
        let names_both = (mail.text.contains("Feed A") && mail.text.contains("also in: Feed B"))
            || (mail.text.contains("Feed B") && mail.text.contains("also in: Feed A"));
        assert!(names_both, "{}", mail.text);
    }
}

async fn regenerated_guids_do_not_resend_and_edits_are_not_new<S: Backend>(h: World<S>) {
    h.feeds.set(
        "/a.xml",
        rss_with_links(&[
            ("g1", "First", "https://example.cn/1"),
            ("g2", "Second", "https://example.cn/2"),
        ]),
    );
    assert_eq!(new_count(&h.poll_ok().await[0]), 2);
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    // The publisher regenerates every GUID; the links stay. Then it edits a title.
    h.feeds.set(
        "/a.xml",
        rss_with_links(&[
            ("new-g1", "First", "https://example.cn/1"),
            ("new-g2", "Second", "https://example.cn/2"),
        ]),
    );
    assert_eq!(new_count(&h.poll_ok().await[0]), 0, "GUID churn is not news");
    h.feeds.set(
        "/a.xml",
        rss_with_links(&[
            ("new-g1", "First, corrected", "https://example.cn/1"),
            ("new-g2", "Second", "https://example.cn/2"),
        ]),
    );
    assert_eq!(
        new_count(&h.poll_ok().await[0]),
        0,
        "an edited title on the same id is not news"
    );
    assert_eq!(
        h.send("all@example.org").await.ok(),
        Some(Delivered::NothingPending)
    );
    assert_eq!(h.smtp.messages().len(), 1);
}

/// A one-item feed ("Daily briefing", always linking to the same page) with
/// a new guid each day: a new guid, the same link and title, but another
/// date and another text is the next day's item, not a regenerated guid.
/// A regenerated guid whose date moved on but whose text did not stays one.
async fn a_daily_item_on_one_link_under_one_title_is_new_each_day<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let day = |guid: &str, date: &str, text: &str| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>\
             <item><guid isPermaLink=\"false\">{guid}</guid><title>Daily briefing</title>\
             <link>https://example.cn/briefing</link><pubDate>{date}</pubDate>\
             <description>{text}</description></item></channel></rss>"
        )
    };
    h.feeds.set(
        "/a.xml",
        day("d1", "Mon, 07 Dec 2026 06:00:00 GMT", "Monday: rates held."),
    );
    assert_eq!(new_count(&h.poll_ok().await[0]), 1);
    h.feeds.set(
        "/a.xml",
        day("d2", "Tue, 08 Dec 2026 06:00:00 GMT", "Tuesday: a storm warning."),
    );
    assert_eq!(new_count(&h.poll_ok().await[0]), 1, "the next day's briefing");
    h.feeds.set(
        "/a.xml",
        day(
            "d2-again",
            "Tue, 08 Dec 2026 09:00:00 GMT",
            "Tuesday: a storm warning.",
        ),
    );
    assert_eq!(
        new_count(&h.poll_ok().await[0]),
        0,
        "its guid regenerated, its date moved"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
}

/// A page and an anchor on it, both undated: the page's id is the form
/// 0.1 gave both (it is confirmed against the stored title while the body
/// is kept). Once the bodies are gone, the unchanged document is not news.
async fn a_page_and_its_anchors_stay_known_after_their_bodies_expire<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let document = rss_with_links(&[
        ("", "The day", "https://example.cn/day.html"),
        ("", "The day, first part", "https://example.cn/day.html#p1"),
    ])
    .replace("<guid isPermaLink=\"false\"></guid>", "");
    // Served anew each time (a new ETag): each poll reads the document.
    h.feeds.set("/a.xml", document.clone());
    assert_eq!(new_count(&h.poll_ok().await[0]), 2);
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    // The same document, the bodies kept: nothing new.
    h.feeds.set("/a.xml", document.clone());
    assert!(matches!(
        h.poll_ok().await[0],
        FeedOutcome::Fetched { new_articles: 0, .. }
    ));
    let report = h
        .store
        .prune(
            Utc::now() + TimeDelta::days(8),
            TimeDelta::days(180),
            TimeDelta::days(7),
        )
        .await
        .expect("prune");
    assert_eq!((report.seen_removed, report.bodies_removed), (0, 2), "{report:?}");
    h.feeds.set("/a.xml", document);
    let outcome = &h.poll_ok().await[0];
    assert!(
        matches!(outcome, FeedOutcome::Fetched { new_articles: 0, .. }),
        "the bodies gone, still known: {outcome:?}"
    );
    assert_eq!(
        h.send("all@example.org").await.ok(),
        Some(Delivered::NothingPending)
    );
}

/// The same page beside an anchor on it, its date moving on each day (a
/// daily page): each day's is news; the anchor, unchanged, is not.
async fn a_dated_page_beside_its_anchors_is_news_each_day_its_date_moves<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let day = |date: &str| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>A</title>\
             <item><title>Daily</title><link>https://example.cn/day.html</link><pubDate>{date}</pubDate></item>\
             <item><title>Daily, part one</title><link>https://example.cn/day.html#p1</link>\
             <pubDate>Mon, 07 Dec 2026 06:00:00 GMT</pubDate></item></channel></rss>"
        )
    };
    h.feeds.set("/a.xml", day("Mon, 07 Dec 2026 06:00:00 GMT"));
    assert_eq!(new_count(&h.poll_ok().await[0]), 2);
    h.feeds.set("/a.xml", day("Tue, 08 Dec 2026 06:00:00 GMT"));
    assert_eq!(new_count(&h.poll_ok().await[0]), 1, "day two's page");
    h.feeds.set("/a.xml", day("Wed, 09 Dec 2026 06:00:00 GMT"));
    assert_eq!(new_count(&h.poll_ok().await[0]), 1, "day three's page");
    h.feeds
        .set("/a.xml", format!("{} ", day("Wed, 09 Dec 2026 06:00:00 GMT")));
    assert_eq!(new_count(&h.poll_ok().await[0]), 0, "the same again");
}

async fn a_flood_is_capped_newest_first_and_the_digest_says_so<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let now = Utc::now();
    let ids: Vec<String> = (0..120).map(|i| format!("m{i:03}")).collect();
    let items: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.as_str(),
                id.as_str(),
                "migrated",
                Some(now - Duration::minutes(i as i64)),
            )
        })
        .collect();
    h.feeds.set("/a.xml", rss("A", &items));
    let outcome = &h.poll_ok().await[0];
    assert!(
        matches!(
            outcome,
            FeedOutcome::Fetched {
                new_articles: 50,
                held_back: 70,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 50, .. })
    ));
    let mail = &h.mail_to("all@example.org")[0];
    assert!(
        mail.text.contains("m000") && mail.text.contains("m049") && !mail.text.contains("m050"),
        "newest first"
    );
    assert!(
        mail.text.contains("Feed A published 70 more new items at once"),
        "{}",
        mail.text
    );
    // The held-back items arrive in the next polls, still never more than 50 at once.
    h.feeds.set("/a.xml", rss("A", &items));
    assert!(matches!(
        &h.poll_ok().await[0],
        FeedOutcome::Fetched {
            new_articles: 50,
            held_back: 20,
            ..
        }
    ));
    h.feeds.set("/a.xml", rss("A", &items));
    assert!(matches!(
        &h.poll_ok().await[0],
        FeedOutcome::Fetched {
            new_articles: 20,
            held_back: 0,
            ..
        }
    ));
    assert_eq!(h.waiting("all@example.org").await, 70);
}

async fn max_items_leaves_the_rest_pending_and_says_so<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let items: Vec<_> = (0..5)
        .map(|i| (["i0", "i1", "i2", "i3", "i4"][i], "t", "b", Some(Utc::now())))
        .collect();
    h.feeds.set("/a.xml", rss("A", &items));
    h.poll_ok().await;
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 3, .. })
    ));
    assert!(
        h.mail_to("all@example.org")[0]
            .text
            .contains("2 more articles wait for the next digest")
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
}

async fn retention_keeps_tombstones_for_the_period_then_forgets<S: Backend>(h: World<S>) {
    let item: &Items<'_> = &[("keep", "Kept", "b", None)];
    h.feeds.set("/a.xml", rss("A", item));
    assert_eq!(new_count(&h.poll_ok().await[0]), 1);
    // The item leaves the feed.
    h.feeds.set("/a.xml", rss("A", &[]));
    h.poll_ok().await;
    let retention = TimeDelta::days(180);
    let report = h
        .store
        .prune(Utc::now() + TimeDelta::days(179), retention, TimeDelta::days(7))
        .await
        .expect("prune");
    assert_eq!(
        report.seen_removed, 0,
        "inside the retention period nothing is forgotten"
    );
    // It comes back within the period: not new.
    h.feeds.set("/a.xml", rss("A", item));
    assert_eq!(new_count(&h.poll_ok().await[0]), 0);
    // Pending articles are never pruned, however old.
    let report = h
        .store
        .prune(Utc::now() + TimeDelta::days(400), retention, TimeDelta::days(7))
        .await
        .expect("prune");
    assert_eq!(report.seen_removed, 0, "still pending for its subscriber");
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    // Back in the feed, it is kept however old (the next scenario); gone
    // from it again, it is forgotten after the period.
    h.feeds.set("/a.xml", rss("A", &[]));
    h.poll_ok().await;
    let report = h
        .store
        .prune(Utc::now() + TimeDelta::days(400), retention, TimeDelta::days(7))
        .await
        .expect("prune");
    assert_eq!(
        (report.seen_removed, report.bodies_removed, report.links_removed),
        (1, 1, 1),
        "{report:?}"
    );
    let check = h.store.check().await.expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.seen, 0);
}

/// A feed that answers 304 for longer than the retention (a quiet blog) does
/// not refresh its ids: still in its latest document, they have not left it,
/// and are kept however old. Forgotten, they all came back as new with its
/// next post.
async fn an_id_still_in_its_feed_is_never_forgotten<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    let quiet: &Items<'_> = &[("old-1", "Old one", "b", None), ("old-2", "Old two", "b", None)];
    h.feeds.set("/a.xml", rss("A", quiet));
    assert_eq!(new_count(&h.poll_ok().await[0]), 2);
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    assert!(
        matches!(h.poll_ok().await[0], FeedOutcome::NotModified),
        "unchanged: a 304"
    );
    let report = h
        .store
        .prune(
            Utc::now() + TimeDelta::days(400),
            TimeDelta::days(180),
            TimeDelta::days(7),
        )
        .await
        .expect("prune");
    assert_eq!(report.seen_removed, 0, "{report:?}");
    assert_eq!(
        report.bodies_removed, 2,
        "the bodies go after their week: {report:?}"
    );
    h.feeds.set(
        "/a.xml",
        rss("A", &[quiet[0], quiet[1], ("new-1", "New one", "b", None)]),
    );
    assert_eq!(new_count(&h.poll_ok().await[0]), 1, "only the new post");
    let check = h.store.check().await.expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

/// A quiet feed (304s for months) whose new post pushes an old item out:
/// the item left today, though last seen long ago, and is kept for the
/// retention from today.
async fn an_id_is_forgotten_a_retention_after_it_left_not_after_its_last_sight<S: Backend>(h: World<S>) {
    use feed_digest::store::Feeds;
    let feed = "https://quiet.example/feed";
    let state = feed_digest::feed_state::FeedState::default();
    let start = Utc::now();
    // Queued for nobody: what waits is kept whatever its age (tested above).
    let unrouted = |guid: &str| feed_digest::ingest::NewArticle {
        recipients: Vec::new(),
        ..new_article(
            feed,
            guid,
            &format!("https://quiet.example/{guid}"),
            "all@example.org",
        )
    };
    let batch = feed_digest::ingest::IngestBatch {
        deliver: vec![unrouted("old-1")],
        ..Default::default()
    };
    Feeds::ingest(&h.store, feed, &state, &batch, start)
        .await
        .expect("first poll");
    // 200 days of 304s, then a new post: the old item leaves the document.
    let later = start + TimeDelta::days(200);
    let batch = feed_digest::ingest::IngestBatch {
        deliver: vec![unrouted("new-1")],
        ..Default::default()
    };
    Feeds::ingest(&h.store, feed, &state, &batch, later)
        .await
        .expect("the new post");
    let retention = TimeDelta::days(180);
    let report = h
        .store
        .prune(later + TimeDelta::days(1), retention, TimeDelta::days(7))
        .await
        .expect("prune");
    assert_eq!(report.seen_removed, 0, "left yesterday: {report:?}");
    let report = h
        .store
        .prune(later + TimeDelta::days(181), retention, TimeDelta::days(7))
        .await
        .expect("prune");
    assert_eq!(report.seen_removed, 1, "a retention after it left: {report:?}");
}

async fn a_forgotten_id_takes_its_body_with_it_whatever_the_bodys_age<S: Backend>(h: World<S>) {
    h.feeds.set("/a.xml", rss("A", &[("brief", "Brief", "b", None)]));
    assert_eq!(new_count(&h.poll_ok().await[0]), 1);
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    h.feeds.set("/a.xml", rss("A", &[]));
    h.poll_ok().await;
    // Retention (1 day) shorter than the bodies' week: the body goes with its id.
    let report = h
        .store
        .prune(
            Utc::now() + TimeDelta::days(2),
            TimeDelta::days(1),
            TimeDelta::days(7),
        )
        .await
        .expect("prune");
    assert_eq!((report.seen_removed, report.bodies_removed), (1, 1), "{report:?}");
    let check = h.store.check().await.expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!((check.seen, check.articles), (0, 0));
}

async fn an_outage_for_a_whole_schedule_then_everything_arrives_once<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    h.smtp.refuse(true);
    let mut published = Vec::new();
    for round in 0..4 {
        published.push(format!("Korea update {round}"));
        let items: Vec<_> = published
            .iter()
            .enumerate()
            .map(|(i, t)| (["o0", "o1", "o2", "o3"][i], t.as_str(), "b", None))
            .collect();
        h.feeds.set("/a.xml", rss("A", &items));
        h.poll_ok().await;
        for email in ["all@example.org", "korea@example.org"] {
            let result = h.send(email).await;
            assert!(
                matches!(
                    result,
                    Err(DeliverError::Send {
                        source: SendError::Refused(_),
                        ..
                    })
                ),
                "{result:?}"
            );
        }
    }
    let state = h
        .store
        .subscriber_state("all@example.org")
        .await
        .ok()
        .flatten()
        .expect("state");
    assert_eq!(state.failures, 4);
    assert!(
        state.retry_at().is_some_and(|t| t > Utc::now()),
        "the daemon backs off"
    );
    assert_eq!(h.waiting("all@example.org").await, 4);
    h.smtp.refuse(false);
    for email in ["all@example.org", "korea@example.org"] {
        assert!(
            matches!(h.send(email).await, Ok(Delivered::Sent { articles: 4, .. })),
            "{email}"
        );
        assert_eq!(h.send(email).await.ok(), Some(Delivered::NothingPending));
        let mails = h.mail_to(email);
        assert_eq!(mails.len(), 1);
        for title in &published {
            assert_eq!(mails[0].text.matches(title.as_str()).count(), 1, "{title} once");
        }
    }
    let state = h
        .store
        .subscriber_state("all@example.org")
        .await
        .ok()
        .flatten()
        .expect("state");
    assert_eq!((state.failures, state.retry_at()), (0, None));
}

async fn a_permanent_failure_for_one_recipient_blocks_nobody_else_and_loses_nothing<S: Backend>(h: World<S>) {
    h.poll_ok().await;
    h.feeds.set("/a.xml", rss("A", &[("k", "Korea news", "b", None)]));
    h.poll_ok().await;
    h.smtp.reject_recipient("korea@example.org", true);
    let failed = h.send("korea@example.org").await;
    assert!(
        matches!(failed, Err(DeliverError::Send { source: SendError::Refused(ref m), .. }) if m.contains("550")),
        "{failed:?}"
    );
    assert!(matches!(
        h.send("all@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    let state = h
        .store
        .subscriber_state("korea@example.org")
        .await
        .ok()
        .flatten()
        .expect("state");
    assert!(state.last_error.as_deref().is_some_and(|e| e.contains("550")));
    assert_eq!(
        h.waiting("korea@example.org").await,
        1,
        "the articles wait for the next successful digest"
    );
    h.smtp.reject_recipient("korea@example.org", false);
    assert!(matches!(
        h.send("korea@example.org").await,
        Ok(Delivered::Sent { articles: 1, .. })
    ));
}

#[tokio::test]
async fn export_and_import_round_trip() {
    let h = harness("").await;
    h.feeds.set(
        "/a.xml",
        rss("A", &[("x1", "Korea 一", "正文", None), ("x2", "Two", "b", None)]),
    );
    h.feeds.set("/b.atom", atom("B", &[("y", "Why", "s", None)]));
    h.poll_ok().await;
    assert!(matches!(
        h.send("korea@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    let mut first = Vec::new();
    let count = h.store.export(&mut first).expect("export");
    assert!(count > 10, "{count}");
    let other = tempfile::tempdir().expect("temp dir");
    let restored = Store::open(other.path()).expect("open");
    assert_eq!(restored.import(&mut first.as_slice()).expect("import"), count);
    let mut second = Vec::new();
    restored.export(&mut second).expect("export again");
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(&second));
    assert!(restored.check().expect("check").problems.is_empty());
    assert_eq!(restored.pending("all@example.org").map(|p| p.len()).ok(), Some(3));
    // A second import would mix two stores: refused.
    assert!(restored.import(&mut first.as_slice()).is_err());
}

#[tokio::test]
async fn store_check_reports_a_broken_invariant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let export = "{\"tree\":\"meta\",\"key\":\"schema_version\",\"value\":3}\n\
        {\"tree\":\"pending\",\"key\":\"a@example.org/0123456789abcdef0123456789abcdef\",\"value\":\"2026-11-26T00:00:00Z\"}\n";
    store.import(&mut export.as_bytes()).expect("import");
    let problems = store.check().expect("check").problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("has no article body"), "{problems:?}");
}

fn write_v1_store(dir: &Path) {
    let db = sled::open(dir.join("store")).expect("sled");
    db.insert("schema_version", &1u32.to_be_bytes()).expect("version");
    let seen = db.open_tree("seen").expect("seen");
    let id = "00112233445566778899aabbccddeeff";
    let record = r#"{"feed_key":"https://example.org/feed","first_seen":"2026-11-01T00:00:00Z","last_seen":"2026-11-02T00:00:00Z","delivered":true}"#;
    seen.insert(id, record.as_bytes()).expect("seen row");
    let articles = db.open_tree("articles").expect("articles");
    let article = format!(
        r#"{{"id":"{id}","feed_key":"https://example.org/feed","title":"Old","link":"https://example.org/a?utm_source=x","text":"t","published":null,"categories":[],"first_seen":"2026-11-01T00:00:00Z"}}"#
    );
    articles.insert(id, article.as_bytes()).expect("article row");
    let pending = db.open_tree("pending").expect("pending");
    pending
        .insert(
            format!("a@example.org\0{id}"),
            br#""2026-11-01T00:00:00Z""#.as_slice(),
        )
        .expect("pending row");
    db.flush().expect("flush");
}

#[test]
fn a_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_v1_store(dir.path());
    let store = Store::open(dir.path()).expect("migrated");
    let check = store.check().expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(
        (check.schema_version, check.seen, check.links),
        (feed_digest::store::SCHEMA_VERSION, 1, 1)
    );
    let owner = |feed| {
        store
            .link_owner(feed, "https://example.org/a")
            .expect("lookup")
            .expect("link indexed")
    };
    assert!(owner("https://example.org/feed").same_feed && !owner("https://example.org/other").same_feed);
    let id = feed_digest::article::ArticleId::from_stored("00112233445566778899aabbccddeeff").expect("id");
    let article = store.article(&id).expect("read").expect("article");
    assert_eq!(article.routed, ["a@example.org"]);
}

#[test]
fn a_newer_store_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = sled::open(dir.path().join("store")).expect("sled");
        db.insert("schema_version", &99u32.to_be_bytes())
            .expect("version");
        db.flush().expect("flush");
    }
    let Err(err) = Store::open(dir.path()) else {
        panic!("a newer store was opened")
    };
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }));
    assert!(err.to_string().contains("upgrade feed-digest"), "{err}");
}

#[tokio::test]
async fn a_second_process_on_the_same_state_dir_is_refused() {
    let h = harness("").await;
    let config_path = h.dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        "state_dir = \"state\"\n[delivery]\ntransport = \"file\"\ndir = \"mail\"\n[[subscribers]]\nemail = \"x@example.org\"\n",
    )
    .expect("write config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_feed-digest"))
        .arg("--config")
        .arg(&config_path)
        .arg("status")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another feed-digest process"),
        "{stderr}"
    );
    // The first process's store is untouched.
    assert!(h.store.check().expect("check").problems.is_empty());
}

/// Regression (found by the crash test): a process killed while sled wrote its
/// start-up snapshot left `snap.*.generating`, and every later start failed.
#[test]
fn a_snapshot_left_unfinished_by_a_kill_does_not_block_the_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .register_subscriber(
                "a@example.org",
                &feed_digest::subscriber::SubscriberState::new(Utc::now()),
            )
            .expect("write");
        store.flush_blocking().expect("flush");
    }
    std::fs::write(dir.path().join("store/snap.00000000000FFFFF.generating"), b"").expect("partial snapshot");
    let store = Store::open(dir.path()).expect("reopened despite the partial snapshot");
    assert!(store.subscriber_state("a@example.org").expect("read").is_some());
    assert!(store.check().expect("check").problems.is_empty());
}

async fn gone_and_redirected_feeds_are_on_record_for_status<S: Backend>(h: World<S>) {
    h.feeds
        .set("/moved.atom", atom("B", &[("m", "Moved", "s", None)]));
    h.feeds.redirect("/b.atom", "/moved.atom");
    h.feeds.set_status("/a.xml", 410);
    let reports = poll::poll_all(&h.config, &h.store, &h.fetcher, &CancellationToken::new())
        .await
        .expect("poll stored");
    assert!(reports[0].result.is_err() && reports[1].result.is_ok());
    let a = h
        .store
        .feed_state(&h.feeds.url("/a.xml"))
        .await
        .ok()
        .flatten()
        .expect("state");
    assert!(a.gone, "410 is on record");
    let b = h
        .store
        .feed_state(&h.feeds.url("/b.atom"))
        .await
        .ok()
        .flatten()
        .expect("state");
    assert_eq!(
        b.redirected_to.as_deref(),
        Some(h.feeds.url("/moved.atom").as_str())
    );
    assert!(b.last_new.is_some());
    // A gone feed is no longer polled, unless forced; then it can come back.
    h.feeds.set("/a.xml", rss("A", &[]));
    let routine = h.poll().await;
    assert!(
        matches!(&routine[0], Ok(FeedOutcome::Skipped { reason }) if reason.starts_with("gone (410)")),
        "{routine:?}"
    );
    assert!(h.poll_forced().await[0].is_ok());
    let a = h
        .store
        .feed_state(&h.feeds.url("/a.xml"))
        .await
        .ok()
        .flatten()
        .expect("state");
    assert!(!a.gone);
}

async fn retry_after_and_backoff_keep_polls_away_and_force_overrides_only_the_backoff<S: Backend>(
    h: World<S>,
) {
    h.feeds.set_status_with_retry_after("/a.xml", 429, "3600");
    h.feeds.set_status("/b.atom", 500);
    let first = h.poll().await;
    assert!(first[0].is_err() && first[1].is_err(), "{first:?}");
    let requests = h.feeds.requests().len();
    // Next routine poll: a is under the server's Retry-After, b in our backoff.
    let second = h.poll().await;
    assert!(
        matches!(&second[0], Ok(FeedOutcome::Skipped { reason }) if reason.contains("asked for no request")),
        "{second:?}"
    );
    assert!(
        matches!(&second[1], Ok(FeedOutcome::Skipped { reason }) if reason.contains("backing off after 1 failure until")),
        "{second:?}"
    );
    assert_eq!(h.feeds.requests().len(), requests, "no request went out");
    // --force overrides our backoff, never the server's Retry-After.
    h.feeds.set("/b.atom", atom("B", &[]));
    let forced = h.poll_forced().await;
    assert!(
        matches!(&forced[0], Ok(FeedOutcome::Skipped { .. })),
        "{forced:?}"
    );
    assert!(
        matches!(&forced[1], Ok(FeedOutcome::Fetched { .. })),
        "{forced:?}"
    );
    assert_eq!(h.feeds.requests().len(), requests + 1);
    let b = h
        .store
        .feed_state(&h.feeds.url("/b.atom"))
        .await
        .ok()
        .flatten()
        .expect("state");
    assert_eq!(
        (b.failures, b.next_attempt),
        (0, None),
        "a success resets the backoff"
    );
}

/// What a store holds, kind by kind, through its own API: what a restore
/// must reproduce.
fn contents(store: &Store, emails: &[&str], feeds: &[&str]) -> String {
    let report = store.check().expect("check");
    let mut out = format!(
        "seen {} articles {} links {} pending {} outbox {} feeds {} subscribers {} sent {}\n",
        report.seen,
        report.articles,
        report.links,
        report.pending,
        report.outbox,
        report.feeds,
        report.subscribers,
        report.sent
    );
    let epoch = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
    for email in emails {
        let pending = store.pending(email).expect("pending");
        out += &format!("{email} pending {pending:?}\n");
        for id in &pending {
            out += &format!("  {:?}\n", store.article(id).expect("article"));
        }
        out += &format!(
            "{email} sent {:?}\n",
            store.sent_since(email, epoch).expect("sent")
        );
        out += &format!(
            "{email} state {:?}\n",
            store.subscriber_state(email).expect("state")
        );
        out += &format!("{email} outbox {:?}\n", store.outbox(email).expect("outbox"));
        out += &format!(
            "{email} opted out {:?}\n",
            store.opted_out(email).expect("opt-out")
        );
    }
    for feed in feeds {
        out += &format!("{feed} {:?}\n", store.feed_state(feed).expect("feed"));
    }
    out
}

#[test]
fn a_backup_restores_every_record_through_the_binary() {
    use crate::support::cli::{feed_digest, stdout, write_config};
    let smtp = crate::support::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    // A second subscriber who is not sent to keeps articles pending.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!("{text}[[subscribers]]\nemail = \"bob@example.org\"\n[[subscribers]]\nemail = \"carol@example.org\"\n"),
    )
    .expect("config");
    // Carol unsubscribed: that is a record to keep too.
    for args in [
        &["poll"][..],
        &["send", "--subscriber", "alice@example.org"],
        &["subscribers", "unsubscribe", "carol@example.org"],
    ] {
        let out = feed_digest(&config, args, &[]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let backup = dir.path().join("backup.jsonl");
    let out = feed_digest(
        &config,
        &["store", "export", "-o", &backup.display().to_string()],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same config with a state_dir that does not exist yet.
    let restored_dir = tempfile::tempdir().expect("temp dir");
    let restored_config = restored_dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let moved = text.replace(
        "state_dir = \"state\"",
        &format!(
            "state_dir = {:?}",
            restored_dir.path().join("new-state").display().to_string()
        ),
    );
    let moved = moved
        .replace(
            "\"world-zh.xml\"",
            &format!("{:?}", dir.path().join("world-zh.xml").display().to_string()),
        )
        .replace(
            "\"tech-en.atom\"",
            &format!("{:?}", dir.path().join("tech-en.atom").display().to_string()),
        );
    std::fs::write(&restored_config, &moved).expect("config");
    let out = feed_digest(
        &restored_config,
        &["store", "import", &backup.display().to_string()],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("records imported"), "{}", stdout(&out));
    // Into a store that is not empty: refused, saying just that.
    let again = feed_digest(
        &restored_config,
        &["store", "import", &backup.display().to_string()],
        &[],
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(
        stderr.contains("is not empty: import a backup into a new state_dir"),
        "{stderr}"
    );
    // Kind by kind, the restored store holds what the original did, `sent` included.
    let emails = ["alice@example.org", "bob@example.org", "carol@example.org"];
    let original = Store::open(&dir.path().join("state")).expect("open the original");
    let feeds: Vec<String> = ["world-zh.xml", "tech-en.atom"]
        .iter()
        .map(|f| dir.path().join(f).display().to_string())
        .collect();
    let feed_keys: Vec<&str> = feeds.iter().map(String::as_str).collect();
    let before = contents(&original, &emails, &feed_keys);
    drop(original);
    let restored = Store::open(&restored_dir.path().join("new-state")).expect("open the restored");
    let after = contents(&restored, &emails, &feed_keys);
    assert!(
        before.contains("sent [SentStory"),
        "alice was sent something: {before}"
    );
    assert!(!before.contains("sent 0\n"), "{before}");
    assert!(before.contains("carol@example.org opted out Some("), "{before}");
    assert_eq!(
        before.matches("Some(FeedState").count(),
        2,
        "both feeds' records: {before}"
    );
    assert_eq!(before, after);
    // And record by record, every kind of the one table, raw bytes included.
    let original = Store::open(&dir.path().join("state")).expect("open the original");
    let raw_before: Vec<_> = Kind::ALL
        .iter()
        .map(|kind| (*kind, original.records(*kind).expect("records")))
        .collect();
    drop(original);
    let raw_after: Vec<_> = Kind::ALL
        .iter()
        .map(|kind| (*kind, restored.records(*kind).expect("records")))
        .collect();
    drop(restored);
    for ((kind, before), (_, after)) in raw_before.iter().zip(&raw_after) {
        assert_eq!(before.len(), after.len(), "{kind}: as many records");
        assert_eq!(before, after, "{kind}: the same records");
    }
    // The daemon runs on the restored store: bob's waiting articles go out
    // once, alice (sent before the backup) gets nothing again.
    let mails_before = smtp.messages().len();
    let notify = tempfile::tempdir().expect("temp dir");
    let daemon = crate::support::cli::Daemon::start(&restored_config, Some(notify.path()), &[]);
    assert_eq!(daemon.notification(), "READY=1");
    let sent = stdout(&feed_digest(&restored_config, &["send"], &[]));
    assert!(sent.contains("bob@example.org: sent"), "{sent}");
    assert!(!sent.contains("alice@example.org: sent"), "{sent}");
    assert!(sent.contains("carol@example.org: unsubscribed since"), "{sent}");
    let (clean, log) = daemon.stop();
    assert!(clean, "{log}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), mails_before + 1, "one digest, bob's");
    assert_eq!(
        mails.last().map(|m| m.to.clone()),
        Some(vec!["bob@example.org".to_owned()])
    );
}

#[test]
fn a_backup_with_a_bad_line_leaves_the_new_store_empty_for_another_try() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let good = "{\"tree\":\"meta\",\"key\":\"schema_version\",\"value\":3}\n\
        {\"tree\":\"seen\",\"key\":\"0011223344556677ffffffff\",\"value\":[{\"id\":\"00112233445566778899aabbccddeeff\",\"first_seen\":\"2026-11-01T00:00:00Z\",\"last_seen\":\"2026-11-02T00:00:00Z\",\"delivered\":true}]}\n";
    let broken = format!("{good}{{\"tree\":\"seen\",\"key\":\"x\",\"value\":\"not a record\"}}\n");
    let err = store
        .import(&mut broken.as_bytes())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(store.check().expect("check").seen, 0, "nothing was written");
    assert_eq!(store.import(&mut good.as_bytes()).expect("the retry works"), 2);
    assert_eq!(store.check().expect("check").seen, 1);
}

/// A digest the server accepted just before the sender died stays in the
/// outbox; if its resend is then refused, it must stay there still (this
/// attempt was refused, the first was not): the next send repeats the same
/// message, not a new digest of the same articles. Found by the crash test
/// once its relay refused some rounds.
#[test]
fn a_refused_resend_keeps_the_entry_an_earlier_attempt_may_have_delivered() {
    use crate::support::cli::{feed_digest, stdout, write_config};
    let smtp = crate::support::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    // Accepted, then the process dies before the commit.
    let crashed = feed_digest(&config, &["send"], &[("FEED_DIGEST_FAULT", "after-send")]);
    assert!(!crashed.status.success(), "the fault aborts the send");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "the server has the digest");
    // The resend is refused.
    smtp.refuse(true);
    let refused = feed_digest(&config, &["send"], &[]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    smtp.refuse(false);
    // The next send repeats the very message, and is the last.
    let again = feed_digest(&config, &["send"], &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(stdout(&again).contains("resent"), "{}", stdout(&again));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[1].data, messages[0].data,
        "the same bytes, so it counts once"
    );
    let quiet = feed_digest(&config, &["send"], &[]);
    assert!(stdout(&quiet).contains("nothing pending"), "{}", stdout(&quiet));
    assert_eq!(smtp.messages().len(), 2);
}

/// Two feeds' polls planned before either stored anything (anything that
/// awaits between a plan and its commit allows it: encoding titles with the
/// model does): the second commit finds the link taken by the first and is
/// refused, so that its poll plans again and finds a copy, rather than
/// queueing the same article twice.
#[tokio::test]
async fn a_link_stored_by_another_feed_since_the_plan_refuses_the_commit() {
    use feed_digest::store::Feeds;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open the store");
    let link = "https://news.example/story";
    let email = "all@example.org";
    let state = feed_digest::feed_state::FeedState::default();
    let batch = |feed: &str, guid: &str| feed_digest::ingest::IngestBatch {
        deliver: vec![new_article(feed, guid, link, email)],
        ..Default::default()
    };
    let (a, b) = (batch("feed-a", "a-1"), batch("feed-b", "b-1"));
    let now = Utc::now();
    Feeds::ingest(&store, "feed-a", &state, &a, now)
        .await
        .expect("the first commit");
    match Feeds::ingest(&store, "feed-b", &state, &b, now).await {
        Err(StoreError::LinkClaimed { feed, link: claimed }) => {
            assert_eq!(feed, "feed-b");
            assert_eq!(claimed, link);
        }
        other => panic!("the second feed's commit should be refused, got {other:?}"),
    }
    // Refused whole: nothing of it was stored or queued.
    let id_b = &b.deliver[0].article.id;
    assert!(store.article(id_b).expect("read").is_none());
    assert_eq!(
        store.pending(email).expect("read"),
        [a.deliver[0].article.id.clone()]
    );
    // The same feed storing its own link again (a regenerated guid is
    // planned by that feed's own poll) is not refused.
    Feeds::ingest(&store, "feed-a", &state, &batch("feed-a", "a-2"), now)
        .await
        .expect("the feed's own link");
}
