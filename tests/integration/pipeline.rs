//! The pipeline end to end through the library: a real HTTP server serving
//! feeds, a real SMTP server receiving digests, a real sled store (and the
//! first two scenarios again on a real PostgreSQL, through the same seam).

use chrono::{Duration, Utc};

use feed_digest::deliver::{DeliverError, Delivered};
use feed_digest::mail::SendError;
use feed_digest::poll::FeedOutcome;

use feed_digest::store::Backend;

use crate::support::http::FeedServer;
use crate::support::postgres::Cluster;
use crate::support::world::World;
use crate::support::{atom, rss};

async fn world() -> World {
    World::start(world_config).await
}

fn world_config(port: u16, feeds: &FeedServer) -> String {
    {
        format!(
            r#"
state_dir = "state"
first_poll_window = "24h"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
from = "每日简报 <digest@example.org>"
[digest]
title = "每日简报"
[[feeds]]
url = "{zh}"
name = "中文新闻"
[[feeds]]
url = "{en}"
name = "English News"
[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "North Korea"]
[[topics]]
name = "Rust"
keywords = ["rust"]
[[subscribers]]
email = "alice@example.org"
name = "Alice 王"
topics = ["朝鲜半岛"]
timezone = "Asia/Shanghai"
[[subscribers]]
email = "bob@example.org"
[[subscribers]]
email = "carol@example.org"
feeds = ["English News"]
topics = ["Rust"]
"#,
            port = port,
            zh = feeds.url("/zh.xml"),
            en = feeds.url("/en.atom"),
        )
    }
}

fn fetched(new_articles: usize, baseline: usize, items: usize) -> Result<FeedOutcome, String> {
    Ok(FeedOutcome::Fetched {
        new_articles,
        baseline,
        held_back: 0,
        items,
    })
}

#[tokio::test]
async fn digests_go_out_once_to_the_right_people_grouped_by_topic() {
    digests_go_out_once(world().await).await;
}

#[tokio::test]
async fn on_postgres_digests_go_out_once_to_the_right_people_grouped_by_topic() {
    let Some(cluster) = Cluster::start() else { return };
    digests_go_out_once(World::start_pg(&cluster, world_config).await).await;
}

async fn digests_go_out_once<S: Backend>(w: World<S>) {
    let now = Utc::now();
    let old = Some(now - Duration::days(10));
    let recent = Some(now - Duration::hours(2));
    // First poll: only the recent item counts; old and undated ones are baseline.
    w.feeds.set(
        "/zh.xml",
        rss(
            "中文",
            &[
                ("a", "朝鲜旧闻", "很久以前", old),
                ("b", "朝鲜举行会谈", "双方同意扩大合作", recent),
            ],
        ),
    );
    w.feeds.set(
        "/en.atom",
        atom(
            "en",
            &[
                ("c", "Rust 1.0 retrospective", "old", old),
                ("d", "Undated note", "x", None),
            ],
        ),
    );
    assert_eq!(w.poll().await, vec![fetched(1, 1, 2), fetched(0, 2, 2)]);

    // Second poll: three new items.
    w.feeds.set(
        "/zh.xml",
        rss(
            "中文",
            &[
                ("a", "朝鲜旧闻", "很久以前", old),
                ("b", "朝鲜举行会谈", "双方同意扩大合作", recent),
                ("e", "欧洲央行维持利率不变", "通胀压力有所缓解", Some(now)),
            ],
        ),
    );
    w.feeds.set(
        "/en.atom",
        atom(
            "en",
            &[
                ("c", "Rust 1.0 retrospective", "old", old),
                ("d", "Undated note", "x", None),
                (
                    "f",
                    "North Korea launches a satellite",
                    "The launch failed.",
                    Some(now),
                ),
                (
                    "g",
                    "The Rust compiler gets faster",
                    "Check builds are quicker.",
                    Some(now),
                ),
            ],
        ),
    );
    assert_eq!(w.poll().await, vec![fetched(1, 0, 3), fetched(2, 0, 4)]);

    for email in ["alice@example.org", "bob@example.org", "carol@example.org"] {
        assert!(
            matches!(w.send(email).await, Ok(Delivered::Sent { resent: false, .. })),
            "{email}"
        );
    }
    assert_eq!(w.smtp.messages().len(), 3);

    let alice = w.mail_to("alice@example.org");
    assert_eq!(alice.len(), 1);
    assert!(
        alice[0].subject.starts_with("每日简报 · "),
        "{}",
        alice[0].subject
    );
    assert!(alice[0].subject.ends_with("2 articles"), "{}", alice[0].subject);
    assert!(alice[0].raw.contains("Auto-Submitted: auto-generated"));
    for wanted in [
        "== 朝鲜半岛 (2) ==",
        "朝鲜举行会谈",
        "双方同意扩大合作",
        "North Korea launches a satellite",
    ] {
        assert!(
            alice[0].text.contains(wanted),
            "{wanted:?} not in alice's digest:\n{}",
            alice[0].text
        );
    }
    for unwanted in ["欧洲央行", "Rust", "朝鲜旧闻", "Undated note"] {
        assert!(
            !alice[0].text.contains(unwanted),
            "{unwanted:?} in alice's digest"
        );
    }
    assert!(alice[0].html.contains("朝鲜举行会谈"));

    let bob = &w.mail_to("bob@example.org")[0];
    let korea = bob.text.find("== 朝鲜半岛 (2) ==");
    let rust = bob.text.find("== Rust (1) ==");
    let by_feed = bob.text.find("== 中文新闻 (1) ==");
    assert!(
        korea < rust && rust < by_feed && korea.is_some(),
        "section order in:\n{}",
        bob.text
    );
    assert!(bob.text.contains("欧洲央行维持利率不变"));

    let carol = &w.mail_to("carol@example.org")[0];
    assert!(carol.text.contains("The Rust compiler gets faster"));
    assert!(
        !carol.text.contains("North Korea"),
        "carol follows only Rust from the English feed"
    );

    // Third poll: nothing changed, so conditional requests and no mail.
    assert_eq!(
        w.poll().await,
        vec![Ok(FeedOutcome::NotModified), Ok(FeedOutcome::NotModified)]
    );
    let last_two: Vec<_> = w.feeds.requests().into_iter().rev().take(2).collect();
    let mut paths: Vec<_> = last_two.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/en.atom", "/zh.xml"]);
    for request in &last_two {
        assert_eq!(request.status, 304, "{request:?}");
        assert!(
            request.if_none_match.is_some() && request.if_modified_since.is_some(),
            "{request:?}"
        );
        assert!(
            request
                .user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("feed-digest/"))
        );
    }
    for email in ["alice@example.org", "bob@example.org", "carol@example.org"] {
        assert_eq!(
            w.send(email).await.ok(),
            Some(Delivered::NothingPending),
            "{email}"
        );
    }
    assert_eq!(w.smtp.messages().len(), 3, "nothing is mailed twice");
}

/// Both feeds polled empty, then one article, 朝鲜新闻一, polled for alice.
async fn one_article_for_alice<S: Backend>(w: &World<S>) {
    w.feeds.set("/zh.xml", rss("中文", &[]));
    w.feeds.set("/en.atom", atom("en", &[]));
    w.poll().await;
    w.feeds.set(
        "/zh.xml",
        rss("中文", &[("n1", "朝鲜新闻一", "正文", Some(Utc::now()))]),
    );
    w.poll().await;
}

#[tokio::test]
async fn smtp_4xx_leaves_everything_pending_and_the_next_send_delivers_once() {
    refused_then_delivered_once(world().await).await;
}

#[tokio::test]
async fn on_postgres_smtp_4xx_leaves_everything_pending_and_the_next_send_delivers_once() {
    let Some(cluster) = Cluster::start() else { return };
    refused_then_delivered_once(World::start_pg(&cluster, world_config).await).await;
}

async fn refused_then_delivered_once<S: Backend>(w: World<S>) {
    one_article_for_alice(&w).await;

    w.smtp.refuse(true);
    let failure = w.send("alice@example.org").await;
    assert!(
        matches!(
            &failure,
            Err(DeliverError::Send {
                source: SendError::Refused(_),
                ..
            })
        ),
        "{failure:?}"
    );
    assert_eq!(w.waiting("alice@example.org").await, 1);
    assert!(
        feed_digest::store::Delivery::outbox(&w.store, "alice@example.org")
            .await
            .ok()
            .flatten()
            .is_none(),
        "a refused digest is rebuilt"
    );

    // A second article arrives while the relay is down: the next digest carries both.
    w.feeds.set(
        "/zh.xml",
        rss(
            "中文",
            &[
                ("n1", "朝鲜新闻一", "正文", Some(Utc::now())),
                ("n2", "朝鲜新闻二", "正文", Some(Utc::now())),
            ],
        ),
    );
    w.poll().await;
    w.smtp.refuse(false);
    assert!(matches!(
        w.send("alice@example.org").await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    assert_eq!(
        w.send("alice@example.org").await.ok(),
        Some(Delivered::NothingPending)
    );
    let mails = w.mail_to("alice@example.org");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.contains("朝鲜新闻一") && mails[0].text.contains("朝鲜新闻二"));
}

/// The relay takes the message, and the connection drops before its reply
/// arrives: the digest may have been delivered, so it is not rebuilt (a
/// rebuilt one would carry the same articles under another Message-ID);
/// the same message goes again, then the next digest has only what is new.
#[tokio::test]
async fn a_reply_lost_after_the_message_resends_the_same_message_not_a_new_one() {
    lost_reply_resent_not_rebuilt(world().await).await;
}

#[tokio::test]
async fn on_postgres_a_reply_lost_after_the_message_resends_the_same_message_not_a_new_one() {
    let Some(cluster) = Cluster::start() else { return };
    lost_reply_resent_not_rebuilt(World::start_pg(&cluster, world_config).await).await;
}

async fn lost_reply_resent_not_rebuilt<S: Backend>(w: World<S>) {
    w.feeds.set("/zh.xml", rss("中文", &[]));
    w.feeds.set("/en.atom", atom("en", &[]));
    w.poll().await;
    let first = ("n1", "朝鲜新闻一", "正文", Some(Utc::now()));
    w.feeds.set("/zh.xml", rss("中文", &[first]));
    w.poll().await;

    w.smtp.vanish_after_data(true);
    let failure = w.send("alice@example.org").await;
    assert!(
        matches!(
            &failure,
            Err(DeliverError::Send {
                source: SendError::Uncertain(_),
                ..
            })
        ),
        "{failure:?}"
    );
    assert!(
        feed_digest::store::Delivery::outbox(&w.store, "alice@example.org")
            .await
            .ok()
            .flatten()
            .is_some(),
        "a digest whose fate is unknown stays in the outbox"
    );

    w.feeds.set(
        "/zh.xml",
        rss("中文", &[first, ("n2", "朝鲜新闻二", "正文", Some(Utc::now()))]),
    );
    w.poll().await;
    w.smtp.vanish_after_data(false);
    assert!(
        matches!(
            w.send("alice@example.org").await,
            Ok(Delivered::Sent {
                articles: 1,
                resent: true,
                ..
            })
        ),
        "the same message again"
    );
    assert!(matches!(
        w.send("alice@example.org").await,
        Ok(Delivered::Sent {
            articles: 1,
            resent: false,
            ..
        })
    ));
    let mails = w.mail_to("alice@example.org");
    assert_eq!(mails.len(), 3, "taken, taken again, the next digest");
    assert_eq!(mails[0].message_id, mails[1].message_id);
    assert_eq!(mails[0].raw, mails[1].raw, "the same bytes");
    assert!(mails[0].text.contains("朝鲜新闻一") && !mails[0].text.contains("朝鲜新闻二"));
    assert!(mails[2].text.contains("朝鲜新闻二") && !mails[2].text.contains("朝鲜新闻一"));
    assert_ne!(mails[2].message_id, mails[0].message_id);
}

/// The relay accepts the digest and the store then fails to record it (a
/// database that refuses the commit, as a full disk or a read-only failover
/// would): the entry stays, and the attempts that follow record it rather
/// than mail it again each round. PostgreSQL only: a trigger makes the
/// commit fail for real, which sled cannot be made to do.
#[tokio::test]
async fn on_postgres_a_digest_accepted_but_not_recorded_is_not_mailed_again() {
    let Some(cluster) = Cluster::start() else { return };
    let w = World::start_pg(&cluster, world_config).await;
    one_article_for_alice(&w).await;
    let db = cluster.client().await;
    db.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'no space left (test)'; END $$;
         CREATE TRIGGER refuse BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await
    .expect("trigger");
    for attempt in 0..3 {
        let failure = w.send("alice@example.org").await;
        assert!(
            matches!(&failure, Err(DeliverError::Store { .. })),
            "attempt {attempt}: {failure:?}"
        );
        assert_eq!(w.smtp.messages().len(), 1, "attempt {attempt}: mailed once");
    }
    db.batch_execute("DROP TRIGGER refuse ON outbox")
        .await
        .expect("drop trigger");
    assert!(matches!(
        w.send("alice@example.org").await,
        Ok(Delivered::Sent { resent: true, .. })
    ));
    assert_eq!(w.smtp.messages().len(), 1, "recorded, not sent again");
    assert_eq!(
        w.send("alice@example.org").await.ok(),
        Some(Delivered::NothingPending)
    );
}

/// A relay that takes the message and never answers: the send ends after
/// three `[smtp] timeout`s as uncertain (the same message goes again), and
/// does not hold the round, every other subscriber and every poll, forever.
#[tokio::test]
async fn a_relay_that_never_answers_after_the_message_does_not_hold_the_send() {
    let w = World::start(|port, feeds| {
        world_config(port, feeds).replace("security = \"none\"", "security = \"none\"\ntimeout = \"1s\"")
    })
    .await;
    one_article_for_alice(&w).await;
    w.smtp.hold(true);
    let started = std::time::Instant::now();
    let failure = w.send("alice@example.org").await;
    let took = started.elapsed();
    w.smtp.hold(false);
    assert!(
        matches!(
            &failure,
            Err(DeliverError::Send {
                source: SendError::Uncertain(_),
                ..
            })
        ),
        "{failure:?}"
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert!(
        feed_digest::store::Delivery::outbox(&w.store, "alice@example.org")
            .await
            .ok()
            .flatten()
            .is_some(),
        "its fate unknown, the message stays for a resend"
    );
}

#[tokio::test]
async fn a_broken_feed_does_not_stop_the_others_and_is_named() {
    let w = world().await;
    w.feeds.set("/zh.xml", "<rss><channel><item><title>never closed");
    w.feeds
        .set("/en.atom", atom("en", &[("x", "Fine", "ok", Some(Utc::now()))]));
    let results = w.poll().await;
    let error = results[0].as_ref().expect_err("the broken feed fails");
    assert!(error.contains(&w.feeds.url("/zh.xml")), "{error}");
    assert_eq!(results[1], fetched(1, 0, 1));
    // The broken feed's failure is on record for `status`.
    let key = w.feeds.url("/zh.xml");
    let state = w.store.feed_state(&key).ok().flatten().expect("state recorded");
    assert!(state.last_error.is_some() && !state.baselined);

    w.feeds.set_status("/en.atom", 500);
    let results = w.poll().await;
    let error = results[1].as_ref().expect_err("a 500 fails");
    assert!(error.contains("/en.atom") && error.contains("500"), "{error}");
}

/// A feed failing for over a day is named in its readers' digests, and only
/// theirs: a reader of five feeds out of thousands hears of those five.
#[tokio::test]
async fn a_failing_feed_is_named_to_its_readers_only() {
    let w = world().await;
    w.feeds.set_status("/zh.xml", 500);
    w.feeds.set(
        "/en.atom",
        atom(
            "en",
            &[("rust-1", "Rust 2.0 released", "rust news", Some(Utc::now()))],
        ),
    );
    let results = w.poll().await;
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    for email in ["bob@example.org", "carol@example.org"] {
        let sent = w.send(email).await;
        assert!(
            matches!(sent, Ok(Delivered::Sent { articles: 1, .. })),
            "{email}: {sent:?}"
        );
    }
    let bob = &w.mail_to("bob@example.org")[0];
    assert!(
        bob.text.contains("Feeds that need attention") && bob.text.contains("中文新闻"),
        "{}",
        bob.text
    );
    let carol = &w.mail_to("carol@example.org")[0];
    assert!(
        carol.text.contains("Rust 2.0 released") && !carol.text.contains("中文新闻"),
        "{}",
        carol.text
    );
}

#[tokio::test]
async fn hostile_html_never_reaches_the_mail_as_markup() {
    let w = world().await;
    w.feeds.set("/zh.xml", rss("中文", &[]));
    w.feeds.set("/en.atom", atom("en", &[]));
    w.poll().await;
    let hostile = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;North Korea &lt;b&gt;talks&lt;/b&gt;";
    w.feeds.set(
        "/en.atom",
        atom(
            "en",
            &[(
                "h",
                "North Korea &lt;i&gt;now&lt;/i&gt;",
                hostile,
                Some(Utc::now()),
            )],
        ),
    );
    w.poll().await;
    assert!(matches!(
        w.send("alice@example.org").await,
        Ok(Delivered::Sent { .. })
    ));
    let mail = &w.mail_to("alice@example.org")[0];
    for bad in ["<script", "onerror", "alert(1)", "<i>", "javascript:"] {
        assert!(!mail.html.contains(bad), "{bad:?} in the HTML part");
    }
    // The only images are thumbnails we chose: absolute http(s), no attributes from the feed.
    for img in mail.html.split("<img ").skip(1) {
        assert!(
            img.starts_with("src=\"https://") || img.starts_with("src=\"http://"),
            "{img}"
        );
    }
    assert!(mail.text.contains("North Korea talks"), "{}", mail.text);
}
