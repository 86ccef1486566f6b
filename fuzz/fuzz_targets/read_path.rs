//! The whole read path on arbitrary bytes: decode (BOM, labels, detection),
//! repair, dialect rewrite, feed-rs, items, text, identity. It must never
//! panic, whatever the bytes; a refusal is an error value.
#![no_main]

use libfuzzer_sys::fuzz_target;

use feed_digest::article::identify;
use feed_digest::boilerplate::StripRules;
use feed_digest::parse::parse_response;
use feed_digest::text;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a Content-Type charset, so labels get fuzzed too.
    let (charset, bytes) = match data.split_first() {
        Some((b, rest)) => (
            [
                "",
                "; charset=utf-8",
                "; charset=gb2312",
                "; charset=ibm855",
                "; charset=shift_jis",
            ][usize::from(*b) % 5],
            rest,
        ),
        None => ("", data),
    };
    let content_type = format!("application/xml{charset}");
    let Ok(parsed) = parse_response(
        bytes,
        Some(&content_type),
        Some("https://example.cn/feed.xml"),
        &StripRules::default(),
    ) else {
        return;
    };
    for item in &parsed.items {
        let _ = text::excerpt(&item.text, 200);
        let _ = text::one_line(&item.title);
    }
    let ids = identify("https://example.cn/feed.xml", &parsed.items);
    assert_eq!(ids.len(), parsed.items.len());
});
