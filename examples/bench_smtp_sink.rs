//! An SMTP server for benchmarks (scripts/bench-scale.py): accepts every
//! message on 127.0.0.1 (port 0; prints `port=N`), keeps nothing but counts,
//! and when its stdin closes prints one JSON line of them and exits:
//! messages, bytes, distinct recipients, the most messages any one recipient
//! got and how many of those reused a Message-ID (a resend), connections.
//!
//! A thread per connection and plain std: it must cost the machine as little
//! as possible beside the instances it measures. Not a test server: the tests
//! have their own (tests/integration/support/smtp.rs), with faults.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
    /// recipient -> (messages, Message-IDs seen)
    by_recipient: Mutex<HashMap<String, (u64, Vec<String>)>>,
}

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("port={}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let counts = Arc::new(Counts::default());
    let accepting = Arc::clone(&counts);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counts = Arc::clone(&accepting);
            accepting.connections.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let _ = serve(stream, &counts);
            });
        }
    });
    // Until stdin closes: the benchmark's way of saying "report now".
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let by = counts
        .by_recipient
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?;
    let most = by.values().map(|(n, _)| *n).max().unwrap_or(0);
    let repeated_ids: u64 = by
        .values()
        .map(|(n, ids)| {
            let mut distinct = ids.clone();
            distinct.sort();
            distinct.dedup();
            n - distinct.len() as u64
        })
        .sum();
    println!(
        "{{\"messages\": {}, \"bytes\": {}, \"recipients\": {}, \"most_per_recipient\": {}, \"resends_same_id\": {}, \"connections\": {}}}",
        counts.messages.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        by.len(),
        most,
        repeated_ids,
        counts.connections.load(Ordering::Relaxed),
    );
    Ok(())
}

fn serve(stream: TcpStream, counts: &Counts) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 bench-smtp-sink ESMTP\r\n")?;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                out.write_all(b"250-bench-smtp-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")?
            }
            "HELO" | "MAIL" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            "RSET" => {
                recipients.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                let address = line
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(address, _)| address.to_ascii_lowercase())
                    .unwrap_or_default();
                recipients.push(address);
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let (bytes, message_id) = read_message(&mut lines)?;
                counts.messages.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(bytes, Ordering::Relaxed);
                if let Ok(mut by) = counts.by_recipient.lock() {
                    for recipient in recipients.drain(..) {
                        let entry = by.entry(recipient).or_default();
                        entry.0 += 1;
                        entry.1.push(message_id.clone());
                    }
                }
                out.write_all(b"250 OK queued\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}

/// The message up to the lone dot: its size and its Message-ID header.
fn read_message(lines: &mut BufReader<TcpStream>) -> std::io::Result<(u64, String)> {
    let (mut bytes, mut message_id, mut in_headers) = (0u64, String::new(), true);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok((bytes, message_id));
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok((bytes, message_id));
        }
        bytes += line.len() as u64;
        if in_headers {
            if line.trim_end().is_empty() {
                in_headers = false;
            } else if line.to_ascii_lowercase().starts_with("message-id:") {
                message_id = line.get("message-id:".len()..).unwrap_or("").trim().to_string();
            }
        }
    }
}
