//! The parse floor for the polling benchmark (`scripts/bench-poll.py`): how long
//! feed-rs alone takes to parse a directory of feeds, single-threaded.
//!
//! ```sh
//! cargo run --release --example parse_floor -- DIR [--runs N] [--feed-digest] [--json]
//! ```
//!
//! Reads every file of DIR into memory first, then times parsing all of them
//! with `feed_rs::parser::parse`, best of `--runs` (default 3). Prints the
//! total time, throughput and number of items. `--feed-digest` also times
//! feed-digest's own parse stage on the same bytes (`feed_digest::parse::parse_feed`:
//! feed-rs plus HTML → text, thumbnails and boilerplate removal), for
//! comparison; it is not part of the floor. `--json` prints one JSON object.

use std::time::{Duration, Instant};

fn best_of<F: FnMut() -> (usize, usize)>(runs: usize, mut parse_all: F) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let mut result = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        result = std::hint::black_box(parse_all());
        best = best.min(start.elapsed());
    }
    (best, result.0, result.1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.iter().find(|a| !a.starts_with("--")).cloned() else {
        eprintln!("usage: parse_floor DIR [--runs N] [--feed-digest] [--json]");
        std::process::exit(2);
    };
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    let with_feed_digest = args.iter().any(|a| a == "--feed-digest");
    let json = args.iter().any(|a| a == "--json");

    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| {
            eprintln!("cannot read {dir}: {err}");
            std::process::exit(1);
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    paths.sort();
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| {
            std::fs::read(p).unwrap_or_else(|err| {
                eprintln!("cannot read {}: {err}", p.display());
                std::process::exit(1);
            })
        })
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let mb = bytes as f64 / 1e6;

    let (floor, items, errors) = best_of(runs, || {
        let mut items = 0;
        let mut errors = 0;
        for file in &files {
            match feed_rs::parser::parse(file.as_slice()) {
                Ok(feed) => items += feed.entries.len(),
                Err(_) => errors += 1,
            }
        }
        (items, errors)
    });
    let ms = floor.as_secs_f64() * 1e3;
    let mut out = serde_json::json!({
        "files": files.len(),
        "bytes": bytes,
        "runs": runs,
        "feed_rs": {
            "ms": ms,
            "mb_per_s": mb / floor.as_secs_f64(),
            "items": items,
            "errors": errors,
        },
    });
    if !json {
        println!(
            "feed-rs floor: {} files, {:.1} MB, {items} items, {errors} errors: {ms:.1} ms ({:.1} MB/s), best of {runs}",
            files.len(),
            mb,
            mb / floor.as_secs_f64()
        );
    }
    if with_feed_digest {
        let (took, items, errors) = best_of(runs, || {
            let mut items = 0;
            let mut errors = 0;
            for file in &files {
                match feed_digest::parse::parse_feed(file, None) {
                    Ok(feed) => items += feed.items.len(),
                    Err(_) => errors += 1,
                }
            }
            (items, errors)
        });
        let ms = took.as_secs_f64() * 1e3;
        out["feed_digest_parse"] = serde_json::json!({
            "ms": ms,
            "mb_per_s": mb / took.as_secs_f64(),
            "items": items,
            "errors": errors,
        });
        if !json {
            println!(
                "feed-digest parse stage: {items} items, {errors} errors: {ms:.1} ms ({:.1} MB/s), best of {runs}",
                mb / took.as_secs_f64()
            );
        }
    }
    if json {
        println!("{out}");
    }
}
