//! Seeded SIGKILL chaos against the binary: hundreds of `poll` and `send`
//! processes killed at random moments, some aborted right after the SMTP
//! server's 250, while the feeds keep growing; then a clean recovery. Every
//! (subscriber, article) must be in exactly one accepted digest; the only
//! allowed repeat is the in-flight message, resent with the same Message-ID and
//! the same bytes.
//!
//! The same chaos runs on PostgreSQL with three instances at once (each
//! its own config and state_dir, one database): up to three processes run
//! concurrently in a round, the SMTP server refuses some rounds' mail, and
//! the feed server counts how many instances fetch one feed at a time.
//!
//! A failure prints its seed: `FEED_DIGEST_CRASH_SEED=<seed> cargo test --test
//! integration crash` replays the same decisions (the timing of each kill
//! within a process's run still varies). `FEED_DIGEST_CRASH_KILLS` sets how
//! many processes must die by SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use crate::support::http::{Extra, FeedServer};
use crate::support::postgres::Cluster;
use crate::support::smtp::{Received, SmtpServer};
use crate::support::{atom, decode, rss};

const BIN: &str = env!("CARGO_BIN_EXE_feed-digest");
const SEED_ENV: &str = "FEED_DIGEST_CRASH_SEED";
const KILLS_ENV: &str = "FEED_DIGEST_CRASH_KILLS";
const DEFAULT_SEED: u64 = 0x5EED_D16E_57C0_FFEE;
const DEFAULT_KILLS: usize = 200;
const SIGKILL: i32 = 9;
const SIGABRT: i32 = 6;
/// The shortest kill window, even for a command whose probes ran faster.
const MIN_WINDOW_MS: u64 = 40;
const ALL: &str = "all@example.org";
const KOREA: &str = "korea@example.org";

/// splitmix64: tiny, good enough for test decisions, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (the modulo bias is irrelevant for n this small).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

#[track_caller]
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={text:?}: {e}"))
        }
    }
}

struct Item {
    guid: String,
    title: String,
    text: String,
    published: DateTime<Utc>,
}

/// A published item as the digests must show it (keyed by its link).
struct Expected {
    title: String,
    korea: bool,
}

/// The two feeds on the HTTP server and every item they ever carried.
struct Feeds {
    server: FeedServer,
    a: Vec<Item>,
    b: Vec<Item>,
    /// By link, which the digest's text part shows under each title.
    expected: BTreeMap<String, Expected>,
    /// Where A and B are served (two hosts when instances share a store).
    paths: [String; 2],
    /// Held this long before answering, so that overlapping fetches overlap.
    delay: Option<Duration>,
}

impl Feeds {
    /// Adds `n` items to feed A (RSS) or B (Atom), keeping the old ones.
    fn publish(&mut self, rng: &mut Rng, to_b: bool, n: u64) {
        for _ in 0..n {
            let k = self.expected.len() + 1;
            let korea = rng.percent(40);
            // Titles are unique by `k`; "Korea" sits in the title or only in
            // the text, in any case; "Koreana" must not match the keyword.
            let (title, text) = match (korea, rng.below(3)) {
                (true, 0) => (format!("Item {k} talks on Korea resume"), format!("Summary {k}.")),
                (true, 1) => (
                    format!("Item {k} exports"),
                    format!("KOREA exports grew, report {k}."),
                ),
                (true, _) => (format!("Item {k} north korea's launch"), format!("Summary {k}.")),
                (false, 0) => (format!("Item {k} Koreana bakery opens"), format!("Summary {k}.")),
                (false, _) => (format!("Item {k} weather"), format!("Rain expected, report {k}.")),
            };
            let (guid, link) = if to_b {
                (format!("b{k}"), format!("https://example.org/b{k}"))
            } else {
                (format!("a{k}"), format!("https://example.cn/a{k}"))
            };
            let published = Utc
                .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .single()
                .expect("valid date")
                + chrono::Duration::minutes(k as i64);
            let item = Item {
                guid,
                title: title.clone(),
                text,
                published,
            };
            if to_b {
                self.b.push(item);
            } else {
                self.a.push(item);
            }
            self.expected.insert(link, Expected { title, korea });
        }
        self.serve(to_b);
    }

    fn serve(&self, b: bool) {
        let items = if b { &self.b } else { &self.a };
        let tuples: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.guid.as_str(),
                    i.title.as_str(),
                    i.text.as_str(),
                    Some(i.published),
                )
            })
            .collect();
        let body = if b {
            atom("Feed B", &tuples)
        } else {
            rss("Feed A", &tuples)
        };
        let path = &self.paths[usize::from(b)];
        match self.delay {
            Some(delay) => self.server.set_with(
                path,
                body,
                Extra {
                    delay: Some(delay),
                    ..Extra::default()
                },
            ),
            None => self.server.set(path, body),
        }
    }
}

fn write_config(dir: &Path, smtp_port: u16, urls: &[String; 2], top: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        r#"{top}
state_dir = "state"
first_poll_window = "all"
max_new_per_poll = 1000
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Digest <digest@example.org>"
[digest]
max_items = 1000
[[feeds]]
url = "{a}"
name = "Feed A"
[[feeds]]
url = "{b}"
name = "Feed B"
[[topics]]
name = "Korea"
keywords = ["korea"]
[[subscribers]]
email = "{ALL}"
[[subscribers]]
email = "{KOREA}"
topics = ["Korea"]
"#,
        a = urls[0],
        b = urls[1],
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn command(config: &Path, args: &[&str], fault: bool) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The binary reads every FEED_DIGEST_* variable as a config override (an
    // unknown one is an error): this test's knobs and a stray fault must not leak.
    command.env_remove("FEED_DIGEST_FAULT");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FEED_DIGEST_") {
            command.env_remove(name);
        }
    }
    if fault {
        command.env("FEED_DIGEST_FAULT", "after-send");
    }
    command
}

/// Runs the binary to its end, or with `kill_after` SIGKILLs it then if it is
/// still running; only that makes a run end by SIGKILL.
fn run(config: &Path, args: &[&str], fault: bool, kill_after: Option<Duration>) -> (Output, Duration) {
    run_pid(config, args, fault, kill_after).0
}

/// [`run`], and the process id it ran as (a lease's holder names it).
fn run_pid(
    config: &Path,
    args: &[&str],
    fault: bool,
    kill_after: Option<Duration>,
) -> ((Output, Duration), u32) {
    let started = Instant::now();
    let mut child = command(config, args, fault).spawn().expect("start feed-digest");
    let pid = child.id();
    if let Some(delay) = kill_after {
        // The fault-injection moment, not synchronisation: how far the process
        // got is up to chance.
        std::thread::sleep(delay);
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("SIGKILL");
        }
    }
    let output = child.wait_with_output().expect("wait for feed-digest");
    ((output, started.elapsed()), pid)
}

/// Every round's command, outcome and output, for the failure report.
struct Journal {
    seed: u64,
    rounds: Vec<String>,
    /// Config and store; kept on failure for a post-mortem.
    dir: tempfile::TempDir,
}

impl Journal {
    fn record(&mut self, what: &str, output: &Output, outcome: &str, smtp: (usize, usize)) {
        let mail = if smtp.1 > smtp.0 {
            format!(", smtp #{}..#{}", smtp.0, smtp.1 - 1)
        } else {
            String::new()
        };
        self.rounds.push(format!(
            "== {} {what}: {outcome}{mail}\n{}{}",
            self.rounds.len() + 1,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    /// Panics with `message`, the rounds whose output mentions one of
    /// `needles` (or the last few), and where the whole journal was written.
    #[track_caller]
    fn fail(&mut self, message: &str, needles: &[String]) -> ! {
        self.dir.disable_cleanup(true);
        let mut files = Vec::new();
        list_files(&self.dir.path().join("state"), &mut files);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}.log", self.seed));
        let written = match std::fs::write(&path, self.rounds.join("\n")) {
            Ok(()) => format!("every round's output: {}", path.display()),
            Err(e) => format!("cannot write {}: {e}", path.display()),
        };
        let mut relevant: Vec<&String> = self
            .rounds
            .iter()
            .filter(|r| needles.iter().any(|n| r.contains(n.as_str())))
            .collect();
        if relevant.is_empty() {
            relevant = self.rounds.iter().rev().take(5).rev().collect();
        }
        let shown: Vec<&str> = relevant.iter().take(30).map(|r| r.as_str()).collect();
        panic!(
            "{message}\n\nseed {seed} ({SEED_ENV}={seed} to replay); {written}\n\
             config and store kept in {}:\n{}\n\nrelevant rounds:\n{}",
            self.dir.path().display(),
            files.join("\n"),
            shown.join("\n"),
            seed = self.seed,
        );
    }
}

/// Message-IDs that a `send` reported and then exited 0 for: committed, so
/// no process may ever send them again (not even byte for byte).
#[derive(Default)]
struct Ledger {
    committed: BTreeMap<String, usize>,
    problems: Vec<String>,
    needles: BTreeSet<String>,
}

impl Ledger {
    /// Reads `EMAIL: sent|resent N articles (<id>)` lines of round `round`.
    fn note(&mut self, round: usize, stdout: &str, clean: bool) {
        for line in stdout.lines() {
            let reported = line.contains(": sent ") || line.contains(": resent ");
            let id = line.rsplit_once('(').and_then(|(_, rest)| rest.strip_suffix(')'));
            let (true, Some(id)) = (reported, id) else {
                continue;
            };
            let id = id.trim_matches(['<', '>']).to_owned();
            if let Some(first) = self.committed.get(&id) {
                self.problems.push(format!(
                    "SENT AFTER COMMIT: round {round} reports {line:?}, but round {first} had sent \
                     <{id}> and exited 0"
                ));
                self.needles.insert(id.clone());
            }
            if clean {
                self.committed.entry(id).or_insert(round);
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    rounds: usize,
    killed_polls: usize,
    killed_sends: usize,
    after_send: usize,
    /// Killed too late: the process had finished.
    finished: usize,
    /// Rounds left to finish, to size the kill windows.
    probes: usize,
    /// Sends that failed because the relay refused their round's mail.
    refused: usize,
}

impl Tally {
    fn kills(&self) -> usize {
        self.killed_polls + self.killed_sends
    }
}

fn list_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => list_files(&path, out),
            Ok(meta) => out.push(format!("  {} ({} bytes)", path.display(), meta.len())),
            Err(_) => out.push(format!("  {}", path.display())),
        }
    }
}

/// Article links in a digest's text part: the line under each `* TITLE`.
/// Article links in a digest's text part: an entry's own link, and the links
/// of the same story from other feeds folded into it ("Feed B: https://…").
fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("https://example.cn/") || w.starts_with("https://example.org/"))
        .map(str::to_owned)
        .collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// True when no feed line of a `poll` reports a new article.
fn poll_brought_nothing(out: &str) -> bool {
    out.lines()
        .filter(|l| l.contains(" new of "))
        .all(|l| l.contains(": 0 new of "))
}

#[test]
fn random_sigkills_never_lose_or_duplicate_an_article() {
    chaos(None);
}

#[test]
fn three_instances_on_postgres_killed_at_random_never_lose_duplicate_or_overlap() {
    let Some(cluster) = Cluster::start() else { return };
    chaos(Some(&cluster));
}

/// One process that a round runs: which instance, what, and its kill.
struct Pick {
    instance: usize,
    send: bool,
    fault: bool,
    probe: bool,
    delay: u64,
}

/// The chaos on sled (one process at a time, as the store's lock allows),
/// or on the database `pg` with three instances.
fn chaos(pg: Option<&Cluster>) {
    let started = Instant::now();
    let seed = env_number(SEED_ENV, DEFAULT_SEED);
    let target = env_number(KILLS_ENV, DEFAULT_KILLS as u64) as usize;
    let instances = if pg.is_some() { 3 } else { 1 };
    println!(
        "crash test: seed {seed} (replay with {SEED_ENV}={seed}), kill target {target}, {instances} instance(s){}",
        if pg.is_some() {
            " on PostgreSQL"
        } else {
            " on sled"
        }
    );
    let mut rng = Rng(seed);

    // The feed server is async; this runtime's workers serve it all along.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // Shared, the feeds are on two hosts: the server counts fetches in
    // flight per host, that is per feed.
    let server = runtime.block_on(FeedServer::start_hosts(if pg.is_some() { 2 } else { 1 }));
    let paths = ["/a.xml".to_owned(), "/b.atom".to_owned()];
    let urls = match pg {
        Some(_) => [server.url_on(1, &paths[0]), server.url_on(2, &paths[1])],
        None => [server.url(&paths[0]), server.url(&paths[1])],
    };
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let configs: Vec<PathBuf> = match pg {
        None => vec![write_config(dir.path(), smtp.port, &urls, "")],
        Some(cluster) => {
            let password = dir.path().join("db-password");
            std::fs::write(&password, &cluster.password).expect("write the password file");
            (0..instances)
                .map(|i| {
                    let home = dir.path().join(format!("instance-{i}"));
                    std::fs::create_dir_all(&home).expect("instance dir");
                    // A short lease: a killed instance's work goes on soon.
                    let top = format!(
                        "store = \"{}\"\nstore_password_file = \"{}\"\nstore_lease = \"3s\"",
                        cluster.url("postgres"),
                        password.display()
                    );
                    write_config(&home, smtp.port, &urls, &top)
                })
                .collect()
        }
    };
    let mut journal = Journal {
        seed,
        rounds: Vec::new(),
        dir,
    };
    let mut feeds = Feeds {
        server,
        a: Vec::new(),
        b: Vec::new(),
        expected: BTreeMap::new(),
        paths,
        delay: pg.map(|_| Duration::from_millis(15)),
    };
    feeds.publish(&mut rng, false, 2);
    feeds.publish(&mut rng, true, 2);

    // Kill moments are drawn over a command's whole run (at least 0-40 ms), so
    // they land in startup, fetch, ingest, outbox flush, SMTP dialogue and
    // commit alike. Runs grow with the backlog, so the first round of each
    // command and about 1 in 10 after it are probes, left to finish, and the
    // command's window follows their duration.
    let mut window = [MIN_WINDOW_MS; 2];
    let mut probed = [false; 2];
    let mut tally = Tally::default();
    let mut ledger = Ledger::default();
    while tally.kills() < target {
        if tally.rounds >= target * 10 {
            journal.fail(
                &format!(
                    "only {} of {target} processes were killed while running in {} rounds",
                    tally.kills(),
                    tally.rounds
                ),
                &[],
            );
        }
        tally.rounds += 1;
        if rng.percent(35) {
            let to_b = rng.percent(50);
            let n = 1 + rng.below(3);
            feeds.publish(&mut rng, to_b, n);
        }
        // Up to one process per instance at once; on a shared store the
        // relay refuses a round's mail now and then.
        let mut free: Vec<usize> = (0..instances).collect();
        let count = 1 + rng.below(instances as u64) as usize;
        let mut picks = Vec::new();
        for _ in 0..count {
            let instance = free.remove(rng.below(free.len() as u64) as usize);
            let send = rng.percent(50);
            let fault = send && rng.percent(30);
            let slot = usize::from(send);
            let probe = rng.percent(10) || !probed[slot];
            let delay = rng.below(window[slot] + 1);
            picks.push(Pick {
                instance,
                send,
                fault,
                probe,
                delay,
            });
        }
        let refusing = pg.is_some() && rng.percent(15);
        smtp.refuse(refusing);
        let before = smtp.messages().len();
        let outputs: Vec<((Output, Duration), u32)> = std::thread::scope(|scope| {
            let running: Vec<_> = picks
                .iter()
                .map(|pick| {
                    let config = &configs[pick.instance];
                    let args = [if pick.send { "send" } else { "poll" }];
                    let kill_after = (!pick.probe).then(|| Duration::from_millis(pick.delay));
                    scope.spawn(move || run_pid(config, &args, pick.fault, kill_after))
                })
                .collect();
            running
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| panic!("a run's thread panicked"))
                })
                .collect()
        });
        let after = smtp.messages().len();
        let mut dead = Vec::new();
        for (pick, ((output, elapsed), pid)) in picks.iter().zip(outputs) {
            if output.status.signal().is_some() {
                dead.push(pid.to_string());
            }
            let slot = usize::from(pick.send);
            if pick.probe {
                probed[slot] = true;
                let ms = elapsed.as_millis() as u64;
                window[slot] = (window[slot] * 3 / 4).max(ms * 5 / 4).max(MIN_WINDOW_MS);
                tally.probes += 1;
            }
            let outcome = match output.status.signal() {
                Some(SIGKILL) => {
                    if pick.send {
                        tally.killed_sends += 1;
                    } else {
                        tally.killed_polls += 1;
                    }
                    "SIGKILL"
                }
                Some(SIGABRT) if pick.fault => {
                    tally.after_send += 1;
                    "aborted after the server's 250"
                }
                None if output.status.success() => {
                    if !pick.probe {
                        tally.finished += 1;
                    }
                    "exit 0"
                }
                None if refusing && pick.send => {
                    tally.refused += 1;
                    "refused by the relay"
                }
                _ => "UNEXPECTED",
            };
            // A killed or overtaken run's wall time is just the wait: not shown.
            let what = format!(
                "instance {} {}{}{}, {}",
                pick.instance,
                if pick.send { "send" } else { "poll" },
                if pick.fault { " (fault after-send)" } else { "" },
                if refusing { " (relay refusing)" } else { "" },
                if pick.probe {
                    format!("probe, not killed, ran {} ms", elapsed.as_millis())
                } else {
                    format!("kill at {} ms", pick.delay)
                },
            );
            journal.record(&what, &output, outcome, (before, after));
            ledger.note(journal.rounds.len(), &stdout(&output), outcome == "exit 0");
            if outcome == "UNEXPECTED" {
                let round = journal.rounds.len();
                journal.fail(
                    &format!("round {round}: {what} ended with {}", output.status),
                    &[],
                );
            }
        }
        // A killed instance's leases lapse after store_lease; the test does
        // not wait so long between rounds: it ends them now, as if lapsed
        // (only the dead's: a lease of a live instance is never touched).
        if let (Some(cluster), false) = (pg, dead.is_empty()) {
            lapse(&runtime, cluster, &dead);
        }
    }
    smtp.refuse(false);
    if let Some(cluster) = pg {
        // The killed instances' leases lapse by themselves after store_lease;
        // the recovery does not wait for that: they are ended here as if lapsed.
        runtime.block_on(async {
            let admin = cluster.client().await;
            for table in ["feeds", "subscribers"] {
                let sql = format!("UPDATE {table} SET lease_holder = NULL, lease_until = NULL");
                admin
                    .execute(&sql, &[])
                    .await
                    .unwrap_or_else(|err| panic!("{err}"));
            }
        });
    }

    // Recovery without faults: poll and send until nothing moves any more.
    let config = &configs[0];
    let mut quiet = false;
    for _ in 0..20 {
        let mut outputs = Vec::new();
        for args in [&["poll"][..], &["send"][..]] {
            let before = smtp.messages().len();
            let (output, _) = run(config, args, false, None);
            let ok = output.status.success();
            journal.record(
                &format!("recovery {}", args[0]),
                &output,
                &output.status.to_string(),
                (before, smtp.messages().len()),
            );
            ledger.note(journal.rounds.len(), &stdout(&output), ok);
            if !ok {
                journal.fail(&format!("recovery `{}` failed: {}", args[0], output.status), &[]);
            }
            outputs.push(stdout(&output));
        }
        let idle = [ALL, KOREA]
            .iter()
            .all(|s| outputs[1].contains(&format!("{s}: nothing pending")));
        if poll_brought_nothing(&outputs[0]) && idle {
            quiet = true;
            break;
        }
    }
    if !quiet {
        journal.fail("20 recovery rounds of poll + send never came to rest", &[]);
    }
    let (check, _) = run(config, &["store", "check"], false, None);
    journal.record("store check", &check, &check.status.to_string(), (0, 0));
    if !check.status.success() || !stdout(&check).contains("store OK") {
        journal.fail("the store is inconsistent after recovery", &[]);
    }
    // One instance at a time per feed, counted where the feeds are served
    // (shared, each feed has a host of its own; alone, one process fetches
    // both feeds of its one host at once).
    let (peaks, _) = feeds.server.peak_concurrency();
    if let Some((host, peak)) = peaks.iter().find(|(_, peak)| pg.is_some() && **peak > 1) {
        journal.fail(
            &format!("{peak} fetches of the feed on {host} were in flight at once"),
            &[],
        );
    }

    let messages = smtp.messages();
    let (mut problems, mut needles, resends) = verify(&messages, &feeds.expected);
    problems.append(&mut ledger.problems);
    needles.extend(ledger.needles);
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
        journal.fail(
            &format!(
                "{} violations of exactly-once delivery ({} messages received):\n{}",
                problems.len(),
                messages.len(),
                shown.join("\n")
            ),
            &needles,
        );
    }
    println!(
        "crash test: seed {seed}: {} rounds, {} SIGKILLs ({} poll, {} send), {} after-send crashes, \
         {} refused sends, {} finished before the kill, {} probes, final windows {} / {} ms; {} messages \
         ({resends} resends) for {} articles; peak fetches in flight per host {:?}; {:.1} s",
        tally.rounds,
        tally.kills(),
        tally.killed_polls,
        tally.killed_sends,
        tally.after_send,
        tally.refused,
        tally.finished,
        tally.probes,
        window[0],
        window[1],
        messages.len(),
        feeds.expected.len(),
        peaks.values().collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );
    drop(runtime);
}

/// Ends the leases that the processes `pids` held (a holder is `host:pid`).
fn lapse(runtime: &tokio::runtime::Runtime, cluster: &Cluster, pids: &[String]) {
    runtime.block_on(async {
        let admin = cluster.client().await;
        for table in ["feeds", "subscribers"] {
            let sql = format!(
                "UPDATE {table} SET lease_until = now() WHERE split_part(lease_holder, ':', 2) = ANY($1)"
            );
            admin
                .execute(&sql, &[&pids])
                .await
                .unwrap_or_else(|err| panic!("{err}"));
        }
    });
}

/// Checks exactly-once delivery. Returns the violations, the Message-IDs they
/// involve (to find the rounds that sent them) and how many resends there were.
fn verify(messages: &[Received], expected: &BTreeMap<String, Expected>) -> (Vec<String>, Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut needles = BTreeSet::new();
    let mut ids = Vec::new();
    // (subscriber, link) → indices of the messages carrying it.
    let mut carried: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, received) in messages.iter().enumerate() {
        let mail = decode(&received.data);
        ids.push(mail.message_id.clone());
        let to = match received.to.as_slice() {
            [to] => to.trim_matches(['<', '>']).to_lowercase(),
            other => {
                problems.push(format!(
                    "message #{i} <{}> has recipients {other:?}",
                    mail.message_id
                ));
                needles.insert(mail.message_id);
                continue;
            }
        };
        let links = links(&mail.text);
        if links.is_empty() {
            problems.push(format!(
                "message #{i} <{}> to {to} lists no article",
                mail.message_id
            ));
        }
        let mut unique = BTreeSet::new();
        for link in links {
            if !unique.insert(link.clone()) {
                problems.push(format!("message #{i} <{}> lists {link} twice", mail.message_id));
                needles.insert(mail.message_id.clone());
            }
            match expected.get(&link) {
                None => problems.push(format!("message #{i} <{}> has unknown {link}", mail.message_id)),
                Some(article) if to == KOREA && !article.korea => {
                    problems.push(format!(
                        "message #{i} <{}> gives {to} {link} {:?}, not about Korea",
                        mail.message_id, article.title
                    ));
                    needles.insert(mail.message_id.clone());
                }
                Some(_) if to != KOREA && to != ALL => {
                    problems.push(format!("message #{i} <{}> to unknown {to}", mail.message_id));
                }
                Some(_) => carried.entry((to.clone(), link)).or_default().push(i),
            }
        }
    }
    for (link, article) in expected {
        let subscribers: &[&str] = if article.korea { &[ALL, KOREA] } else { &[ALL] };
        for subscriber in subscribers {
            match carried.get(&(subscriber.to_string(), link.clone())) {
                None => problems.push(format!(
                    "LOST: {subscriber} never received {link} {:?}",
                    article.title
                )),
                Some(indices) => {
                    let first = indices[0];
                    for &i in &indices[1..] {
                        if ids[i] != ids[first] || messages[i].data != messages[first].data {
                            problems.push(format!(
                                "DUPLICATE: {subscriber} got {link} {:?} in message #{first} <{}> and #{i} <{}>{}",
                                article.title,
                                ids[first],
                                ids[i],
                                if ids[i] == ids[first] { " with different bytes" } else { "" }
                            ));
                            needles.insert(ids[first].clone());
                            needles.insert(ids[i].clone());
                        }
                    }
                }
            }
        }
    }
    // A Message-ID names one message: a resend must repeat it byte for byte.
    let mut resends = 0;
    for i in 0..messages.len() {
        if let Some(j) = (0..i).find(|&j| ids[j] == ids[i]) {
            if messages[j].data == messages[i].data {
                resends += 1;
            } else {
                problems.push(format!(
                    "messages #{j} and #{i} share <{}> but differ in bytes",
                    ids[i]
                ));
                needles.insert(ids[i].clone());
            }
        }
    }
    (problems, needles.into_iter().collect(), resends)
}
