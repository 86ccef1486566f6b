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

/// Folds all whitespace (including newlines) to single spaces and removes
/// control characters, so the result is safe in a header or a single line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// At most `max` characters, no ellipsis (for storage).
pub fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
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
    fn html_becomes_text() {
        let html = "<!--1693975022000--><p>Hello&nbsp;<b>world</b> &amp; more</p><p>Next</p><script>alert(1)</script>";
        assert_eq!(html_to_text(html), "Hello world & more Next");
    }

    #[test]
    fn one_line_strips_control_and_newlines() {
        assert_eq!(one_line("a\r\nBcc: x\u{7}\ty"), "a Bcc: x y");
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
