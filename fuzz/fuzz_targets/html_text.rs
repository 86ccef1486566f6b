//! Hostile HTML → text: the extractor, one-line folding and excerpts must
//! never panic, and no markup may survive as a tag.
#![no_main]

use libfuzzer_sys::fuzz_target;

use feed_digest::text;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    for block in text::html_to_blocks(&html) {
        assert!(!block.contains('\n'), "a block is one line");
        let _ = text::excerpt(&block, 50);
        let _ = text::truncate_chars(&block, 7);
    }
    let _ = text::html_to_text(&html);
});
