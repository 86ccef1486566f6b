//! Text from hostile HTML: tags and scripts gone, entities decoded, whitespace
//! folded, cut by grapheme without splitting a word. Pure.

use unicode_segmentation::UnicodeSegmentation;

mod extract;

/// HTML → plain text: tags, comments, scripts and metadata (bylines,
/// figures, footers) dropped, entities decoded, whitespace folded.
pub fn html_to_text(html: &str) -> String {
    html_to_blocks(html).join(" ")
}

/// HTML → its text blocks (paragraphs, list items, divs, lines), each one
/// line. Bylines, datelines, figures and footers are metadata, not the story:
/// a news-mirror item starts with them, and an excerpt should start with text.
pub fn html_to_blocks(html: &str) -> Vec<String> {
    extract::blocks(html)
        .iter()
        .map(|block| one_line(block))
        .filter(|block| !block.is_empty())
        .collect()
}

/// Whether `c` is written without spaces between words and sentences: Han,
/// kana, and their punctuation and full-width forms (not Hangul: Korean
/// spaces its words).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60 | 0x20000..=0x3134F)
}

/// Folds all whitespace (including newlines) to single spaces and removes
/// control characters, so the result is safe in a header or a single line.
/// Runs of ordinary text (words with single spaces) are copied whole: this
/// runs on every block of every item.
pub fn one_line(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // Start of the text not yet copied, when inside a run of kept text.
    let mut kept: Option<usize> = None;
    let mut at = 0;
    while at < bytes.len() {
        if !MAY_SEPARATE[usize::from(bytes[at])] {
            // Skip ahead to the next byte that may start a separator.
            kept.get_or_insert(at);
            at += bytes[at..]
                .iter()
                .position(|b| MAY_SEPARATE[usize::from(*b)])
                .unwrap_or(bytes.len() - at);
            continue;
        }
        let plain_space =
            bytes[at] == b' ' && bytes.get(at + 1).is_some_and(|b| !MAY_SEPARATE[usize::from(*b)]);
        if plain_space && kept.is_some() {
            at += 1; // one space between words: part of the run
            continue;
        }
        if separator_len(text, at) == 0 {
            kept.get_or_insert(at);
            at += 1;
            continue;
        }
        let run = at;
        while at < bytes.len() {
            match separator_len(text, at) {
                0 => break,
                len => at += len,
            }
        }
        let Some(start) = kept else { continue };
        if at - run == 1 && bytes[run] == b' ' && at < bytes.len() {
            continue; // one plain space between words stays in the run
        }
        push_word(&mut out, text.get(start..run).unwrap_or_default());
        kept = None;
    }
    if let Some(start) = kept {
        push_word(&mut out, text.get(start..).unwrap_or_default());
    }
    out
}

fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

/// Bytes that may start a whitespace or control character (see `separator_len`).
static MAY_SEPARATE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte <= 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[0x7f] = true;
    table[0xc2] = true;
    table[0xe1] = true;
    table[0xe2] = true;
    table[0xe3] = true;
    table
};

/// The length of the whitespace or control character at byte `at`, or 0.
/// Only these lead bytes can start one: ASCII, U+0080–U+00BF (C2), U+1680
/// (E1), U+2000–U+205F (E2) and U+3000 (E3); CJK text skips the decoding.
fn separator_len(text: &str, at: usize) -> usize {
    let Some(&byte) = text.as_bytes().get(at) else {
        return 0;
    };
    if byte < 0x80 {
        return usize::from(byte <= b' ' || byte == 0x7f);
    }
    if !matches!(byte, 0xc2 | 0xe1 | 0xe2 | 0xe3) {
        return 0;
    }
    match text.get(at..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_whitespace() || c.is_control() => c.len_utf8(),
        _ => 0,
    }
}

/// Columns a character takes on a terminal or in a monospaced mail view:
/// two for CJK ideographs, kana, hangul and full-width forms.
pub fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// Display columns of `text` (see [`is_wide`]).
pub fn columns(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// Plain text for a mail body, each line wrapped at `width` columns (RFC
/// 5322 recommends 78, mail readers quote at 72): at spaces, or between CJK
/// characters, which need none; never inside a word or a URL, and never
/// before CJK closing punctuation. A continued line keeps the line's indent
/// (and hangs under a "* " bullet).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if columns(line) <= width {
            out.push_str(line);
        } else {
            wrap_line(line, width, &mut out);
        }
    }
    out
}

fn wrap_line(line: &str, width: usize, out: &mut String) {
    let body = line.trim_start_matches(' ');
    let indent = " ".repeat(line.len() - body.len());
    let hanging = if body.starts_with("* ") || body.starts_with("- ") {
        format!("{indent}  ")
    } else {
        indent.clone()
    };
    let mut current = indent.clone();
    let mut used = columns(&indent);
    let mut empty = true;
    for (spaced, word) in break_units(body) {
        let gap = usize::from(spaced && !empty);
        let cost = columns(word);
        if !empty && used + gap + cost > width {
            out.push_str(&current);
            out.push('\n');
            current.clone_from(&hanging);
            used = columns(&hanging);
            empty = true;
        }
        if spaced && !empty {
            current.push(' ');
            used += 1;
        }
        current.push_str(word);
        used += cost;
        empty = false;
    }
    out.push_str(&current);
}

/// The pieces a line may break between, each with whether a space came
/// before it (dropped at a break). A wide character is a piece of its own;
/// closing punctuation stays with what it closes.
fn break_units(text: &str) -> Vec<(bool, &str)> {
    let closing = |c: char| "，。、；：！？）」』》〉】”’,.;:!?)".contains(c);
    let mut units: Vec<(bool, &str)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut spaced = false;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == ' ' {
            if let Some(from) = start.take() {
                units.push((spaced, text.get(from..at).unwrap_or_default()));
            }
            spaced = true;
            continue;
        }
        if start.is_none() {
            start = Some(at);
        }
        let next = chars.peek().map(|&(_, n)| n);
        // A break opportunity after a wide character, or before one (unless
        // what follows closes something).
        let breaks_here = next.is_some_and(|n| (is_wide(c) || is_wide(n)) && n != ' ' && !closing(n));
        if breaks_here && let Some(from) = start.take() {
            let end = at + c.len_utf8();
            units.push((spaced, text.get(from..end).unwrap_or_default()));
            spaced = false;
        }
    }
    if let Some(from) = start {
        units.push((spaced, text.get(from..).unwrap_or_default()));
    }
    units
}

/// A count with its noun in English messages: "1 item", "3 items".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most `max` characters, no ellipsis (for storage).
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text.get(..end).unwrap_or(text).to_owned(),
        None => text.to_owned(),
    }
}

/// At most `max` graphemes, ending in "…" when cut. In text with spaces the cut
/// falls back to the last word boundary, unless that would lose more than a
/// fifth of the excerpt (CJK text has no spaces and is cut anywhere).
pub fn excerpt(text: &str, max: usize) -> String {
    let graphemes: Vec<&str> = text.graphemes(true).collect();
    if graphemes.len() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(1).max(1);
    let mut cut = keep;
    let next_is_space = graphemes.get(keep).is_some_and(|g| g.trim().is_empty());
    let in_latin_word = |g: &str| g.chars().all(|c| c.is_alphanumeric() && c.is_ascii());
    if !next_is_space
        && graphemes.get(keep).is_some_and(|g| in_latin_word(g))
        && let Some(space) = graphemes[..keep].iter().rposition(|g| g.trim().is_empty())
        && space >= keep - keep / 5
    {
        cut = space;
    }
    let mut out: String = graphemes[..cut].concat();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_text_wraps_at_spaces_and_between_cjk_characters() {
        let english = "  The quick brown fox jumps over the lazy dog and keeps running far away from here";
        let wrapped = wrap(english, 40);
        assert!(wrapped.lines().all(|l| columns(l) <= 40), "{wrapped}");
        assert!(wrapped.lines().all(|l| l.starts_with("  ")), "{wrapped}");
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            english.split_whitespace().collect::<Vec<_>>()
        );

        let chinese = "* 朝鲜半岛局势：韩国与朝鲜代表在板门店举行会谈，双方就离散家属团聚等议题交换意见。";
        let wrapped = wrap(chinese, 30);
        assert!(wrapped.lines().all(|l| columns(l) <= 30), "{wrapped}");
        assert_eq!(
            wrapped.replace("\n  ", ""),
            chinese,
            "nothing lost but the breaks"
        );
        assert!(
            wrapped
                .lines()
                .skip(1)
                .all(|l| l.starts_with("  ") && !l.starts_with("  ，") && !l.starts_with("  。")),
            "{wrapped}"
        );

        // A URL longer than the line stays whole; short lines are left alone.
        let url = format!("  https://example.org/{}", "a".repeat(80));
        assert_eq!(wrap(&url, 72), url);
        assert_eq!(wrap("short\n\nlines", 72), "short\n\nlines");
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "item", "items"), "1 item");
        assert_eq!(count(0, "item", "items"), "0 items");
        assert_eq!(count(2, "failure", "failures"), "2 failures");
    }

    #[test]
    fn html_becomes_text() {
        let html = "<!--1693975022000--><p>Hello&nbsp;<b>world</b> &amp; more</p><p>Next</p><script>alert(1)</script>";
        assert_eq!(html_to_text(html), "Hello world & more Next");
    }

    #[test]
    fn one_line_strips_control_and_newlines() {
        assert_eq!(one_line("a\r\nBcc: x\u{7}\ty"), "a Bcc: x y");
    }

    /// The definition `one_line` implements, word by word.
    fn one_line_by_words(text: &str) -> String {
        text.split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn one_line_matches_its_definition_on_mixed_text() {
        // Every kind of separator next to ASCII, Latin-1, CJK and emoji, in
        // generated combinations (a small deterministic generator).
        let pieces = [
            "a", "Bc", " ", "  ", "\n", "\t", "\r\n", "\u{0}", "\u{7f}", "\u{85}", "\u{a0}", "é", "ß",
            "\u{1680}", "\u{2002}", "\u{2028}", "\u{202f}", "\u{205f}", "\u{3000}", "中文", "，", "\u{2014}",
            "\u{20ac}", "😀", "\u{e1}", "\u{3001}", "©", "·", "ế", "\u{e100}",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut state = seed;
            for _ in 0..(state % 12) {
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
                state = state.rotate_right(7).wrapping_mul(0x2545_f491_4f6c_dd1d);
            }
            assert_eq!(one_line(&text), one_line_by_words(&text), "{text:?}");
        }
    }

    #[test]
    fn truncate_chars_counts_characters() {
        assert_eq!(truncate_chars("朝鲜领导人", 2), "朝鲜");
        assert_eq!(truncate_chars("ab", 5), "ab");
        assert_eq!(truncate_chars("ab", 0), "");
    }

    #[test]
    fn excerpt_cuts_chinese_by_character() {
        let text = "朝鲜领导人金正恩本月罕见地出访俄罗斯";
        let cut = excerpt(text, 6);
        assert_eq!(cut, "朝鲜领导人…");
        assert_eq!(excerpt(text, 100), text);
    }

    #[test]
    fn excerpt_never_cuts_an_english_word() {
        let cut = excerpt("The quick brown fox jumps over the lazy dog", 17);
        assert_eq!(cut, "The quick brown…");
    }

    #[test]
    fn excerpt_keeps_graphemes_whole() {
        let text = "e\u{301}e\u{301}e\u{301}e\u{301}";
        let cut = excerpt(text, 3);
        assert_eq!(cut, "e\u{301}e\u{301}…");
    }
}
