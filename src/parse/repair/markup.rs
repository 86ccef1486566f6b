//! Reading XML markup by hand for the repairs: tags and their names, sections,
//! the root element and its end. Pure.

/// Splits off what follows the root element's end tag, unless it is only whitespace,
/// comments and processing instructions; and tells whether there is such an end tag.
/// The last end tag counts: stray end tags inside the document cannot cut it short.
pub(super) fn split_trailing(xml: &str) -> (&str, &str, bool) {
    let Some(root) = root_name(xml) else {
        return (xml, "", true);
    };
    let closing = format!("</{root}");
    let mut search_end = xml.len();
    while let Some(i) = xml.get(..search_end).and_then(|s| s.rfind(&closing)) {
        let after = xml.get(i + closing.len()..).unwrap_or_default();
        let spaces = after.len() - after.trim_start().len();
        if after.get(spaces..).is_some_and(|a| a.starts_with('>')) {
            let end = i + closing.len() + spaces + 1;
            let tail = xml.get(end..).unwrap_or_default();
            if is_misc(tail) {
                return (xml, "", true);
            }
            return (xml.get(..end).unwrap_or(xml), tail, true);
        }
        search_end = i;
    }
    (xml, "", false)
}

/// The root element's name, after the prolog, comments and DOCTYPE.
fn root_name(xml: &str) -> Option<&str> {
    let mut rest = xml.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        let skip = if rest.starts_with("<?") {
            section_len(rest, "<?", "?>")
        } else if rest.starts_with("<!--") {
            section_len(rest, "<!--", "-->")
        } else if rest.starts_with("<!") {
            declaration_len(rest)
        } else if starts_tag(rest) && !rest.starts_with("</") {
            return Some(tag_name(rest)).filter(|n| !n.is_empty());
        } else {
            return None;
        };
        rest = rest.get(skip..)?;
    }
}

/// Only whitespace, comments and processing instructions: allowed after the root.
fn is_misc(tail: &str) -> bool {
    let mut rest = tail;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return true;
        }
        let section = [("<!--", "-->"), ("<?", "?>")]
            .into_iter()
            .find(|(open, _)| rest.starts_with(open));
        let Some((open, close)) = section else {
            return false;
        };
        let len = section_len(rest, open, close);
        rest = rest.get(len..).unwrap_or_default();
    }
}

/// Length of `<!--…-->`-like sections at the start of `s`, or all of `s` if unclosed.
pub(super) fn section_len(s: &str, open: &str, close: &str) -> usize {
    // memmem: CDATA sections hold whole articles, and are measured often.
    s.get(open.len()..)
        .and_then(|inner| memchr::memmem::find(inner.as_bytes(), close.as_bytes()))
        .map_or(s.len(), |i| open.len() + i + close.len())
}

/// Length of a `<!DOCTYPE …>` (with an internal subset in brackets) at the start of `s`.
pub(super) fn declaration_len(s: &str) -> usize {
    let (mut depth, mut quote) = (0usize, None);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '>') if depth == 0 => return i + 1,
            _ => {}
        }
    }
    s.len()
}

/// `s` starts with `<` or `</` and then a name: a tag, not a bare `<`.
pub(super) fn starts_tag(s: &str) -> bool {
    let after = s.strip_prefix('<').unwrap_or_default();
    let name = after.strip_prefix('/').unwrap_or(after);
    name.starts_with(is_name_start)
}

/// Length of the tag at the start of `s`, up to its `>` outside quoted values;
/// `None` if another `<` or the end comes first (then the first `<` was bare).
pub(super) fn tag_len(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// The qualified name of the tag at the start of `s` (`<name …` or `</name>`).
pub(super) fn tag_name(s: &str) -> &str {
    let after = s.strip_prefix('<').unwrap_or(s);
    let after = after.strip_prefix('/').unwrap_or(after);
    let end = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
    after.get(..end).unwrap_or_default()
}

pub(super) fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// Attributes of a start tag: names and the byte ranges of their values within `tag`.
pub(super) fn attributes(tag: &str) -> Vec<(&str, (usize, usize))> {
    let mut attributes = Vec::new();
    let mut at = 1 + tag_name(tag).len();
    let byte = |i: usize| tag.as_bytes().get(i).copied();
    let skip_spaces = |mut i: usize| {
        while byte(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    loop {
        at = skip_spaces(at);
        let Some(name) = tag.get(at..).map(tag_name_at) else {
            break;
        };
        if name.is_empty() {
            break;
        }
        at = skip_spaces(at + name.len());
        if byte(at) != Some(b'=') {
            continue;
        }
        at = skip_spaces(at + 1);
        let (start, end) = match byte(at) {
            Some(q @ (b'"' | b'\'')) => {
                let start = at + 1;
                let len = tag.get(start..).and_then(|v| v.find(char::from(q)));
                let Some(len) = len else { break };
                (start, start + len)
            }
            _ => {
                let len = tag.get(at..).map_or(0, |v| {
                    v.find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                        .unwrap_or(v.len())
                });
                (at, at + len)
            }
        };
        attributes.push((name, (start, end)));
        at = end + 1;
    }
    attributes
}

/// The name at the start of `s`, without a leading `<`.
fn tag_name_at(s: &str) -> &str {
    let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    s.get(..end).unwrap_or_default()
}

/// Where a text element's content ends.
pub(super) enum EndTag {
    /// (length of the content, length of the end tag).
    At(usize, usize),
    /// A start tag of the same name comes before any end tag.
    OpenedAgain,
    Missing,
}

/// The end of `content` up to `</name>`, skipping CDATA and comments. The
/// search stops at the next `<name`, so repeated unclosed elements stay linear.
pub(super) fn find_end_tag(content: &str, name: &str) -> EndTag {
    let mut at = 0;
    while let Some(i) = content.get(at..).and_then(|r| r.find('<')) {
        let i = at + i;
        let Some(rest) = content.get(i..) else {
            return EndTag::Missing;
        };
        if rest.starts_with("<![CDATA[") || rest.starts_with("<!--") {
            let (open, close) = if rest.starts_with("<!--") {
                ("<!--", "-->")
            } else {
                ("<![CDATA[", "]]>")
            };
            at = i + section_len(rest, open, close);
            continue;
        }
        if let Some(after) = rest.strip_prefix("</").and_then(|r| r.strip_prefix(name)) {
            let spaces = after.len() - after.trim_start().len();
            if after.get(spaces..).is_some_and(|a| a.starts_with('>')) {
                return EndTag::At(i, 2 + name.len() + spaces + 1);
            }
        }
        if let Some(after) = rest.strip_prefix('<').and_then(|r| r.strip_prefix(name))
            && after.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace())
        {
            return EndTag::OpenedAgain;
        }
        at = i + 1;
    }
    EndTag::Missing
}

/// Whether the tags in `content` nest (HTML void elements like `<br>` do not).
pub(super) fn balanced(content: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    let mut at = 0;
    while let Some(i) = content.get(at..).and_then(|r| r.find('<')) {
        let i = at + i;
        let rest = content.get(i..).unwrap_or_default();
        let section = [("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>")]
            .into_iter()
            .find(|(o, _)| rest.starts_with(o));
        if let Some((o, c)) = section {
            if rest.get(o.len()..).is_none_or(|r| !r.contains(c)) {
                return false;
            }
            at = i + section_len(rest, o, c);
            continue;
        }
        match (starts_tag(rest), tag_len(rest)) {
            (true, Some(len)) => {
                let tag = rest.get(..len).unwrap_or_default();
                if tag.starts_with("</") {
                    if open.pop() != Some(tag_name(tag)) {
                        return false;
                    }
                } else if !tag.ends_with("/>") {
                    open.push(tag_name(tag));
                }
                at = i + len;
            }
            // A bare `<`: escaped by the text repairs, no matter for nesting.
            _ => at = i + 1,
        }
    }
    open.is_empty()
}

/// `content` has another `<name …>`: the end tag we found is likely someone else's.
pub(super) fn contains_start_tag(content: &str, name: &str) -> bool {
    let open = format!("<{name}");
    content.match_indices(&open).any(|(i, _)| {
        let next = content.get(i + open.len()..).and_then(|r| r.chars().next());
        next.is_none_or(|c| !is_name_char(c))
    })
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')
}

pub(super) fn is_entity_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')
}

/// C0 controls XML 1.0 forbids (all but tab, LF and CR).
pub(super) fn is_control(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// XML 1.0 `Char`.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}
