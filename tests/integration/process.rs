//! One-shot commands as a user runs them: exit codes, a crash between the
//! server's 2xx and the commit, status, check, completions, OPML.

use std::path::Path;
use std::process::Command;

use crate::support::cli::{BIN, feed_digest, stdout, write_config};
use crate::support::decode;
use crate::support::smtp::SmtpServer;

#[test]
fn invalid_config_exits_78_and_names_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), 25, "07:00");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("07:00", "25:99");
    std::fs::write(&path, text).expect("write");
    for command in ["check", "poll", "run"] {
        let output = feed_digest(&path, &[command], &[]);
        assert_eq!(output.status.code(), Some(78), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("subscribers[0] (alice@example.org).schedule"),
            "{stderr}"
        );
        assert!(stderr.contains("config.toml"), "{stderr}");
    }
}

#[test]
fn the_log_filter_variable_is_not_a_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), 25, "07:00");
    let output = feed_digest(&path, &["check"], &[("FEED_DIGEST_LOG", "debug")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_crash_after_smtp_acceptance_resends_the_same_message_and_nothing_else() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());

    let crashed = feed_digest(&config, &["send"], &[("FEED_DIGEST_FAULT", "after-send")]);
    assert!(!crashed.status.success(), "the fault point must kill the process");
    let first = smtp.messages();
    assert_eq!(first.len(), 1, "the server accepted the message before the crash");

    let status = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(status.contains("a digest awaits resending"), "{status}");

    let resent = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(resent.contains("alice@example.org: resent"), "{resent}");
    let again = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(again.contains("nothing pending"), "{again}");

    let all = smtp.messages();
    assert_eq!(all.len(), 2, "exactly one resend, nothing else");
    assert_eq!(all[0].data, all[1].data, "the resend is the very same message");
    let mail = decode(&all[1].data);
    assert!(mail.message_id.starts_with("digest."), "{}", mail.message_id);
    assert!(mail.text.contains("朝鲜"), "Chinese survives: {}", mail.text);
}

#[test]
fn status_shows_a_table_and_json_for_scripts() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    assert!(feed_digest(&config, &["send"], &[]).status.success());
    let table = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(
        table.starts_with("FEED") && table.contains("NEXT POLL (UTC)"),
        "{table}"
    );
    assert!(
        table.contains("SUBSCRIBER") && table.contains("alice@example.org"),
        "{table}"
    );
    let json = stdout(&feed_digest(&config, &["status", "--json"], &[]));
    let report: serde_json::Value = serde_json::from_str(&json).expect("status --json is JSON");
    assert_eq!(report["feeds"][0]["state"], "ok", "{json}");
    assert!(
        report["feeds"][0]["items_known"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
    assert_eq!(report["subscribers"][0]["email"], "alice@example.org");
    assert_eq!(report["subscribers"][0]["pending"], 0);
    assert!(report["subscribers"][0]["last_sent"].is_string(), "{json}");
}

#[test]
fn check_connect_reports_what_works() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let output = feed_digest(&config, &["check", "--connect"], &[]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("delivery: OK") && out.contains("OK, 4 items") && out.contains("OK, 3 items"),
        "{out}"
    );
    // An unnamed feed goes by its title, as in poll and status.
    assert!(out.contains("  Example Tech Weekly: OK, 3 items"), "{out}");

    // Nothing listens on the relay's port any more: exit 75, and the feeds still checked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = write_config(dir.path(), closed, "07:00");
    let output = feed_digest(&config, &["check", "--connect"], &[]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(75), "{out}");
    assert!(
        out.contains("delivery: FAILED") && out.contains("OK, 4 items"),
        "{out}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let run = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(run(&["completions", "bash"]).contains("feed-digest"));
    assert!(run(&["completions", "zsh"]).contains("#compdef feed-digest"));
    let man = run(&["man"]);
    assert!(
        man.contains(".TH feed-digest") && man.contains("preview"),
        "{man}"
    );
    assert!(run(&["--version"]).starts_with("feed-digest "));
}

#[test]
fn opml_from_other_readers_round_trips_through_the_config() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opml");
    for name in [
        "feedly-style.opml",
        "netnewswire-style.opml",
        "inoreader-style.opml",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let original_text = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
        let original = feed_digest::opml::parse(&original_text).expect("fixture parses");
        assert!(original.len() >= 2, "{name}");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "state_dir = \"state\"\n[delivery]\ntransport = \"file\"\ndir = \"mail\"\n\n[[feeds]]\nurl = \"https://already.example.org/rss\"\n",
        )
        .expect("write config");
        let opml = fixtures.join(name);
        let opml = opml.to_str().expect("utf-8 path");
        let into = config.to_str().expect("utf-8 path");
        let imported = Command::new(BIN)
            .args(["opml", "import", opml, "--into", into])
            .output()
            .expect("run");
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        // A second import adds nothing.
        let again = stdout(
            &Command::new(BIN)
                .args(["opml", "import", opml, "--into", into])
                .output()
                .expect("run"),
        );
        assert!(again.starts_with("0 feeds added"), "{again}");
        assert!(
            feed_digest(&config, &["check"], &[]).status.success(),
            "the imported config is valid"
        );
        let exported = stdout(&feed_digest(&config, &["opml", "export"], &[]));
        let back = feed_digest::opml::parse(&exported).expect("our export parses");
        for feed in &original {
            assert!(back.contains(feed), "{name}: {feed:?} lost in\n{exported}");
        }
        assert_eq!(
            back.len(),
            original.len() + 1,
            "{name}: the feed already configured is exported too"
        );
    }
}

#[test]
fn topics_explain_says_which_rule_put_an_article_where() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    let text = std::fs::read_to_string(&config).expect("read");
    let with_topics = format!(
        "{text}\n[[topics]]\nname = \"Korea\"\nkeywords = [\"朝鲜\", \"Pyongyang\"]\n\n[[topics]]\nname = \"Security\"\nkeywords = [\"导弹\"]\npriority = 5\n\n[[topics]]\nname = \"Travel\"\nkeywords = [\"airport\"]\n"
    );
    std::fs::write(&config, with_topics).expect("write");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let by_title = stdout(&feed_digest(
        &config,
        &["topics", "explain", "Pyongyang airport"],
        &[],
    ));
    // A keyword written with a capital is case-sensitive, and explain says so.
    assert!(
        by_title.contains("→ Korea: keyword \"Pyongyang\" (case-sensitive)"),
        "{by_title}"
    );
    assert!(
        by_title.contains("  Travel: keyword \"airport\" (any case)"),
        "{by_title}"
    );
    assert!(by_title.contains("alice@example.org: in Korea"), "{by_title}");
    let by_link = stdout(&feed_digest(
        &config,
        &["topics", "explain", "https://tech.example.org/2026/11/23/ups#x"],
        &[],
    ));
    assert!(by_link.contains("no topic matched"), "{by_link}");
    let none = feed_digest(&config, &["topics", "explain", "no such article"], &[]);
    assert_eq!(none.status.code(), Some(1));
}

#[test]
fn preview_json_shows_the_grouping_without_consuming_anything() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        format!("{text}\n[[topics]]\nname = \"Korea\"\nkeywords = [\"朝鲜\", \"Pyongyang\"]\n"),
    )
    .expect("write");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let json = stdout(&feed_digest(
        &config,
        &["preview", "--subscriber", "alice@example.org", "--json"],
        &[],
    ));
    let digest: serde_json::Value = serde_json::from_str(&json).expect("preview --json is JSON");
    assert_eq!(digest["sections"][0]["title"], "Korea", "{json}");
    let first = &digest["sections"][0]["entries"][0];
    assert!(
        first["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("Korea: keyword")),
        "{json}"
    );
    assert!(
        first["link"].as_str().is_some_and(|l| l.starts_with("https://")),
        "{json}"
    );
    assert!(
        first["also_in"].is_array() && first["time_label"].is_string(),
        "{json}"
    );
    // Nothing consumed: the digest still goes out.
    assert!(stdout(&feed_digest(&config, &["send"], &[])).contains("alice@example.org: sent"));
    assert_eq!(smtp.messages().len(), 1);
}

/// Runs the binary with its standard output a pipe whose reading end is
/// already closed, as `feed-digest … | head -0` leaves it.
fn into_closed_pipe(config: &Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run feed-digest");
    child.wait_with_output().expect("feed-digest exits")
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let preview = ["preview", "--subscriber", "alice@example.org"];
    for args in [
        &["check"][..],
        &preview[..],
        &["status"][..],
        &["completions", "bash"][..],
    ] {
        let output = into_closed_pipe(&config, args);
        assert_eq!(
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).as_ref()
            ),
            (Some(0), ""),
            "{args:?}"
        );
    }
    // Nothing was consumed by the cut-off preview.
    let html = stdout(&feed_digest(&config, &preview, &[]));
    assert!(html.contains("<html"), "{html}");
}

#[test]
fn a_missing_config_file_says_where_the_config_is_looked_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nowhere.toml");
    let by_flag = feed_digest(&missing, &["check"], &[]);
    let by_variable = Command::new(BIN)
        .arg("check")
        .env("FEED_DIGEST_CONFIG", &missing)
        .output()
        .expect("run feed-digest");
    for (output, origin) in [
        (by_flag, "from --config"),
        (by_variable, "from $FEED_DIGEST_CONFIG"),
    ] {
        assert_eq!(output.status.code(), Some(78));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no config file at {} ({origin})", missing.display())),
            "{stderr}"
        );
        for part in [
            "--config PATH",
            "$FEED_DIGEST_CONFIG",
            "/etc/feed-digest/config.toml",
            "feed-digest demo",
        ] {
            assert!(stderr.contains(part), "{part:?} missing from {stderr}");
        }
        assert!(!stderr.contains("invalid configuration"), "{stderr}");
    }
}

#[test]
fn a_refused_smtp_connection_names_the_relay_and_says_nothing_was_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = write_config(dir.path(), closed, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let output = feed_digest(&config, &["send"], &[]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(75), "{out}");
    assert!(
        out.contains(&format!("cannot connect to the SMTP relay 127.0.0.1:{closed}"))
            && out.contains("nothing was sent")
            && out.contains("[smtp] host and port"),
        "{out}"
    );
    assert!(!out.contains("outcome unknown"), "{out}");
    let status = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(status.contains("1 failure, retry after"), "{status}");
}

#[test]
fn feeds_skipped_while_failing_keep_the_exit_code_and_the_summary_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    std::fs::remove_file(dir.path().join("tech-en.atom")).expect("remove a feed file");
    let first = feed_digest(&config, &["poll"], &[]);
    assert_eq!(first.status.code(), Some(75));
    assert!(
        stdout(&first).contains("2 feeds polled, 1 failed"),
        "{}",
        stdout(&first)
    );
    // Now in backoff: skipped, and still not a success.
    let second = feed_digest(&config, &["poll"], &[]);
    let out = stdout(&second);
    assert_eq!(second.status.code(), Some(75), "{out}");
    assert!(
        out.contains("1 feed polled, 0 failed, 1 skipped (1 still failing)"),
        "{out}"
    );
    assert!(
        out.contains("new of 4 items") || out.contains("not modified"),
        "{out}"
    );
}

#[test]
fn check_says_plainly_how_mail_goes_and_how_feeds_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    let output = feed_digest(&config, &["check"], &[]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("delivery: SMTP 127.0.0.1:25 (no TLS)\n"), "{out}");
    assert!(!out.contains("None"), "{out}");
    assert!(
        out.contains("/world-zh.xml (no name: poll and status show its feed title)"),
        "{out}"
    );
}

/// The same config named by a relative path (from its directory) and by an
/// absolute one: a file feed is one feed with one key either way, so its
/// link-less item is not new again.
#[test]
fn a_config_named_relatively_or_absolutely_is_the_same_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("r.toml");
    std::fs::write(
        &config,
        "state_dir = \"state\"\nfirst_poll_window = \"all\"\n[delivery]\ntransport = \"file\"\ndir = \"out\"\n\
         [[subscribers]]\nemail = \"a@example.org\"\n[[feeds]]\nurl = \"nolink.xml\"\n",
    )
    .expect("config");
    std::fs::write(
        dir.path().join("nolink.xml"),
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
         <item><title>没有链接的新闻</title><description>正文</description></item></channel></rss>",
    )
    .expect("feed");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let absolute = feed_digest(&config, &["send"], &[]);
    assert!(
        absolute.status.success(),
        "{}",
        String::from_utf8_lossy(&absolute.stderr)
    );
    assert!(
        stdout(&absolute).contains("a@example.org: sent 1 article"),
        "{}",
        stdout(&absolute)
    );
    let relative = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--config", "r.toml", "poll"])
        .env_remove("FEED_DIGEST_FAULT")
        .output()
        .expect("run");
    assert!(
        relative.status.success(),
        "{}",
        String::from_utf8_lossy(&relative.stderr)
    );
    let again = feed_digest(&config, &["send"], &[]);
    assert!(
        stdout(&again).contains("a@example.org: nothing pending"),
        "{}",
        stdout(&again)
    );
}
