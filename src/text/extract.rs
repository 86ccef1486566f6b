//! HTML → text blocks in one pass, without building a document tree: polls
//! read thousands of item bodies, and only their text is kept. The output is
//! plain text (escaped again wherever it is shown), so no markup survives:
//! every tag is dropped, comments and declarations too, and the contents of
//! scripts, styles and metadata elements (bylines, figures, footers).

/// Elements whose whole content is dropped.
const SKIPPED: [&str; 11] = [
    "script",
    "style",
    "address",
    "time",
    "figure",
    "figcaption",
    "footer",
    "nav",
    "aside",
    "template",
    "noscript",
];

/// Elements that end a block of text (a paragraph, a line).
const BLOCKS: [&str; 27] = [
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "hr",
    "blockquote",
    "section",
    "article",
    "header",
    "pre",
    "dd",
    "dt",
    "dl",
    "table",
    "main",
    "center",
];

/// The blocks of text in `html`, each with entities decoded (not yet folded to one line).
pub(super) fn blocks(html: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut unclosed: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        push_text(&mut current, &rest[..open]);
        let after = &rest[open + 1..];
        let Some(first) = after.chars().next() else {
            rest = after;
            current.push('<');
            break;
        };
        if after.starts_with("!--") {
            // A comment runs to "-->", or to the end when unterminated.
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if !(first.is_ascii_alphabetic() || matches!(first, '/' | '!' | '?')) {
            // "a < b": not a tag.
            current.push('<');
            rest = after;
            continue;
        }
        let end = tag_end(after);
        let tag = &after[..end];
        rest = after.get(end + 1..).unwrap_or("");
        let closing = tag.starts_with('/');
        let name = tag_name(tag);
        let raw = is_raw_text(&name);
        // Browsers ignore the "/" of `<script/>`: its content follows all the same.
        let skipped_element = SKIPPED.contains(&name.as_str()) || is_caption(tag);
        if !closing && (raw || !tag.ends_with('/')) && skipped_element {
            let skipped = if raw {
                // Script content is not markup: only its end tag ends it (or the end).
                Some(raw_text_end(rest, &name).unwrap_or(""))
            } else if unclosed.contains(&name) {
                None
            } else {
                let after = skip_element(rest, &name);
                if after.is_none() {
                    // Never closed from here: not from any later point either.
                    unclosed.push(name.clone());
                }
                after
            };
            // An unclosed byline or figure: only its tag goes, the text stays.
            if let Some(after) = skipped {
                rest = after;
                end_block(&mut blocks, &mut current);
                continue;
            }
        }
        if BLOCKS.contains(&name.as_str()) {
            end_block(&mut blocks, &mut current);
            // List items read as a list once the blocks are joined on one line.
            if name == "li" && !closing {
                current.push_str("• ");
            }
        }
    }
    push_text(&mut current, rest);
    end_block(&mut blocks, &mut current);
    blocks
}

fn push_text(current: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if text.contains('&') {
        current.push_str(&html_escape::decode_html_entities(text));
    } else {
        current.push_str(text);
    }
}

fn end_block(blocks: &mut Vec<String>, current: &mut String) {
    if !current.trim().trim_start_matches('•').trim().is_empty() {
        blocks.push(std::mem::take(current));
    } else {
        current.clear();
    }
}

/// An image caption by its class (`wp-caption-text`, `image-caption`): the
/// caption of a picture the digest does not show is not the article's text.
fn is_caption(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    let Some(at) = lower.find("class=") else {
        return false;
    };
    let value = &lower[at + "class=".len()..];
    let value = match value.chars().next() {
        Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default(),
        _ => value
            .split(|c: char| c.is_whitespace() || c == '>')
            .next()
            .unwrap_or_default(),
    };
    // `caption`, `wp-caption`, `wp-caption-text`, `image__caption`; not a
    // wrapper that merely has one (`has-caption`).
    value.split_whitespace().any(|class| {
        (class.ends_with("caption") || class.ends_with("caption-text"))
            && !class.starts_with("has-")
            && !class.starts_with("with-")
    })
}

/// Where a tag that starts `text` ends (the index of its '>'), past quoted
/// attribute values; the end of `text` when unterminated.
fn tag_end(text: &str) -> usize {
    let mut quote: Option<char> = None;
    for (at, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return at,
            (None, _) => {}
        }
    }
    text.len()
}

/// The lower-case name of the tag `tag` starts (after '<'): "p" for "/P class=x".
fn tag_name(tag: &str) -> String {
    tag.trim_start_matches(['/', '!', '?'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_raw_text(name: &str) -> bool {
    matches!(name, "script" | "style" | "noscript")
}

/// The text after `</name` (any case) and its '>', for elements whose content
/// is not markup.
fn raw_text_end<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    for (at, _) in text.match_indices("</") {
        let after = &text[at + 2..];
        // Not this one (too short, or a multibyte character where the name would end).
        let Some(candidate) = after.get(..name.len()) else {
            continue;
        };
        let ends_name = after[name.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == '>' || c == '/' || c.is_whitespace());
        if candidate.eq_ignore_ascii_case(name) && ends_name {
            let close = &after[name.len()..];
            return Some(close.find('>').map_or("", |end| &close[end + 1..]));
        }
    }
    None
}

/// The text after the element `name` whose start tag was just read, nested
/// elements of the same name included; `None` when it never closes.
fn skip_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut depth = 1usize;
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let closing = after.starts_with('/');
        let tag_name = tag_name(after);
        let end = tag_end(after);
        let self_closing = after[..end].ends_with('/');
        rest = after.get(end + 1..).unwrap_or("");
        if tag_name != name {
            continue;
        }
        if closing {
            depth -= 1;
            if depth == 0 {
                return Some(rest);
            }
        } else if !self_closing {
            depth += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tags_entities_and_skipped_elements() {
        let cases: &[(&str, &[&str])] = &[
            ("<p>a &amp; b</p><p>c</p>", &["a & b", "c"]),
            ("x<br>y<br/>z", &["x", "y", "z"]),
            ("<p>1 < 2 and 3 > 2</p>", &["1 < 2 and 3 > 2"]),
            ("<!--1693975022000--><p>正文</p>", &["正文"]),
            ("<script>var a = '<p>no</p>';</script><p>yes</p>", &["yes"]),
            (
                "<figure><img src=x><figcaption>说明</figcaption></figure><p>正文</p>",
                &["正文"],
            ),
            ("<a href=\"x>y\" title='a>b'>link</a> text", &["link text"]),
            (
                "<div><aside><aside>ad</aside>still ad</aside>kept</div>",
                &["kept"],
            ),
            ("<p>unclosed <script>alert(1)", &["unclosed "]),
            // Script content is not markup, whatever it looks like.
            ("<script>if(a<b){c=\"y\"}</script><p>Story</p>", &["Story"]),
            ("<SCRIPT>x='</p>'</SCRIPT >kept", &["kept"]),
            ("<script>a='</é'</script>kept", &["kept"]),
            ("<script src=x />alert(1)</script>after", &["after"]),
            // An unclosed byline drops its tag, not the article.
            ("<time>2023<p>The story</p>", &["2023", "The story"]),
            // As a browser reads it: a tag "scr<script", then text.
            ("<scr<script>ipt>alert(1)</script>", &["ipt>alert(1)"]),
            ("<p>no end <!-- comment", &["no end "]),
            ("trailing <", &["trailing <"]),
            ("<P CLASS=x>Upper</P><TIME>2023</TIME>", &["Upper"]),
            ("<ul><li>Apples</li><li>Pears</li></ul>", &["• Apples", "• Pears"]),
            (
                "<div class=\"wp-caption\"><img src=x><p class=\"wp-caption-text\">A harbour at dawn</p></div><p>Story</p>",
                &["Story"],
            ),
            (
                "<p class='lead'>Lead</p><span class=caption>Photo</span>",
                &["Lead"],
            ),
            ("<div class=\"post has-caption\"><p>Kept</p></div>", &["Kept"]),
            ("<ul><li><p>Nested</p></li></ul>", &["Nested"]),
        ];
        for (html, expected) in cases {
            assert_eq!(blocks(html), *expected, "{html}");
        }
    }
}
