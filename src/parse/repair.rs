//! Repairs for classically sloppy XML feeds: bare `&`, HTML entities, control characters,
//! junk after the root element, truncation, `<rss>` without a version, unbalanced HTML in
//! text elements.
//!
//! Each repair only touches what is not well-formed XML (or what feed-rs cannot read), so
//! a well-formed feed comes back as `None`. CDATA sections, comments, processing
//! instructions and the DOCTYPE are copied as they are, except for control characters,
//! which XML allows nowhere. Pure: no I/O.

use std::fmt;

/// The repaired text, and what was done to it (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub text: String,
    pub fixes: Vec<Fix>,
}

/// One kind of repair, with how often it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Content after the root element's end tag (PHP warnings, HTML footers) was dropped.
    TrailingContent { bytes: usize },
    /// C0 control characters (and references to them) were removed.
    ControlCharacters(usize),
    /// `&` that starts no valid reference became `&amp;`.
    BareAmpersands(usize),
    /// `&#X41;` (XML wants a lowercase `x`) became `&#65;`.
    CharacterReferences(usize),
    /// HTML named entities XML does not define became numeric references.
    HtmlEntities { count: usize, names: Vec<&'static str> },
    /// `<` that starts no markup became `&lt;`.
    BareLessThan(usize),
    /// Text elements whose HTML does not nest (`<br>`, unclosed `<i>`) were escaped as a whole.
    EscapedMarkup { count: usize, elements: Vec<String> },
    /// The `<rss>` root had no version (`was: None`) or one feed-rs does not know.
    RssVersion { was: Option<String> },
    /// The document stopped before its root element's end: a partial last tag was dropped
    /// and the elements still open were closed.
    Truncated { closed: usize },
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        match self {
            Fix::TrailingContent { bytes } => {
                write!(f, "dropped {bytes} byte{} after the root element", s(*bytes))
            }
            Fix::ControlCharacters(n) => write!(f, "removed {n} control character{}", s(*n)),
            Fix::BareAmpersands(n) => write!(f, "escaped {n} bare '&'"),
            Fix::CharacterReferences(n) => {
                write!(f, "rewrote {n} character reference{} with '&#X'", s(*n))
            }
            Fix::HtmlEntities { count, names } => {
                let entities = if *count == 1 { "entity" } else { "entities" };
                write!(f, "replaced {count} HTML {entities} (")?;
                for (i, name) in names.iter().take(MAX_NAMES_SHOWN).enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}&{name};")?;
                }
                let more = if names.len() > MAX_NAMES_SHOWN { " …" } else { "" };
                write!(f, "{more})")
            }
            Fix::BareLessThan(n) => write!(f, "escaped {n} bare '<'"),
            Fix::EscapedMarkup { count, elements } => {
                let names: Vec<String> = elements.iter().map(|e| format!("<{e}>")).collect();
                write!(
                    f,
                    "escaped HTML inside {count} element{} ({})",
                    s(*count),
                    names.join(", ")
                )
            }
            Fix::RssVersion { was: None } => write!(f, "added version=\"2.0\" to <rss>"),
            Fix::RssVersion { was: Some(was) } => {
                write!(f, "changed <rss version=\"{was}\"> to version=\"2.0\"")
            }
            Fix::Truncated { closed: 0 } => {
                write!(f, "dropped an unfinished tag at the end of a truncated document")
            }
            Fix::Truncated { closed } => {
                write!(
                    f,
                    "closed {closed} element{} left open by a truncated document",
                    s(*closed)
                )
            }
        }
    }
}

impl Fix {
    /// The log line for this fix, e.g. "escaped 3 bare '&'".
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

const MAX_NAMES_SHOWN: usize = 3;

/// Elements whose content feeds mean as text, and where sloppy feeds put raw HTML.
const TEXT_ELEMENTS: [&str; 6] = [
    "title",
    "description",
    "summary",
    "subtitle",
    "encoded",
    "content",
];

/// RSS versions feed-rs reads; others (0.93, 0.94, "2.01") are close enough to 2.0.
const RSS_VERSIONS: [&str; 3] = ["2.0", "0.91", "0.92"];

/// Repairs `xml` (already decoded), or `None` when none of the repairs applies.
/// JSON is left alone.
pub fn repair(xml: &str) -> Option<Repaired> {
    let start = xml.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if start.starts_with('{') || start.starts_with('[') {
        return None;
    }
    // Control characters first, so that `<\u{0}rss` is still a tag.
    // Bytes suffice: every control character is ASCII (see `is_control`).
    let controls = xml
        .bytes()
        .filter(|b| *b < b' ' && !matches!(b, b'\t' | b'\n' | b'\r'))
        .count();
    let cleaned: String;
    let xml = if controls > 0 {
        cleaned = xml.chars().filter(|c| !is_control(*c)).collect();
        cleaned.as_str()
    } else {
        xml
    };
    let (body, trailing, root_closed) = split_trailing(xml);
    let mut repairer = Repairer {
        out: String::with_capacity(xml.len() + 64),
        truncated: !root_closed,
        ..Repairer::default()
    };
    repairer.document(body);
    let closed = repairer.close_truncated();
    let Repairer {
        out,
        amps,
        char_refs,
        ref_controls,
        entities,
        entity_names,
        lts,
        escaped,
        escaped_names,
        rss_version,
        ..
    } = repairer;
    let mut fixes = Vec::new();
    if !trailing.is_empty() {
        fixes.push(Fix::TrailingContent {
            bytes: trailing.len(),
        });
    }
    if controls + ref_controls > 0 {
        fixes.push(Fix::ControlCharacters(controls + ref_controls));
    }
    if amps > 0 {
        fixes.push(Fix::BareAmpersands(amps));
    }
    if char_refs > 0 {
        fixes.push(Fix::CharacterReferences(char_refs));
    }
    if entities > 0 {
        fixes.push(Fix::HtmlEntities {
            count: entities,
            names: entity_names,
        });
    }
    if lts > 0 {
        fixes.push(Fix::BareLessThan(lts));
    }
    if escaped > 0 {
        fixes.push(Fix::EscapedMarkup {
            count: escaped,
            elements: escaped_names,
        });
    }
    if let Some(was) = rss_version {
        fixes.push(Fix::RssVersion { was });
    }
    if let Some(closed) = closed {
        fixes.push(Fix::Truncated { closed });
    }
    (!fixes.is_empty()).then_some(Repaired { text: out, fixes })
}

/// Scanner state and counters; `out` receives the repaired text.
#[derive(Default)]
struct Repairer {
    out: String,
    /// Text elements found to have no end tag after some point: none after
    /// any later point either, so the search is not repeated (it would make
    /// a document of unclosed `<title>`s quadratic).
    no_end_tag: Vec<String>,
    root_seen: bool,
    /// The root element is not closed: a partial tag at the end is dropped, and open
    /// elements are closed at the end.
    truncated: bool,
    /// Elements open at this point, for closing a truncated document.
    open: Vec<String>,
    /// A comment, CDATA section or processing instruction the end cut off: its terminator.
    unterminated: Option<&'static str>,
    /// A partial tag at the very end was dropped.
    dropped_tag: bool,
    ref_controls: usize,
    amps: usize,
    char_refs: usize,
    entities: usize,
    entity_names: Vec<&'static str>,
    lts: usize,
    escaped: usize,
    escaped_names: Vec<String>,
    rss_version: Option<Option<String>>,
}

impl Repairer {
    fn document(&mut self, src: &str) {
        let mut rest = src;
        while !rest.is_empty() {
            let used = match rest.find('<') {
                Some(0) => self.markup(rest),
                Some(i) => {
                    self.text(rest.get(..i).unwrap_or_default(), false);
                    i
                }
                None => {
                    self.text(rest, false);
                    rest.len()
                }
            };
            rest = rest.get(used..).unwrap_or_default();
        }
    }

    /// Handles the markup `rest` starts with (`rest` starts with `<`); returns its length.
    fn markup(&mut self, rest: &str) -> usize {
        for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")] {
            if rest.starts_with(open) {
                let len = section_len(rest, open, close);
                let section = rest.get(..len).unwrap_or_default();
                if !section.get(open.len()..).is_some_and(|s| s.ends_with(close)) {
                    self.unterminated = Some(close);
                }
                self.out.push_str(section);
                return len;
            }
        }
        if rest.starts_with("<!") {
            let len = declaration_len(rest);
            let declaration = rest.get(..len).unwrap_or_default();
            if self.truncated && !declaration.ends_with('>') {
                // `<![CD` at the very end.
                self.dropped_tag = true;
            } else {
                self.out.push_str(declaration);
            }
            return len;
        }
        let tag_len = match (starts_tag(rest), tag_len(rest)) {
            (true, Some(len)) => len,
            // The last tag of a truncated document, cut off in its middle.
            (true, None) if self.truncated && !rest.get(1..).unwrap_or_default().contains(['<', '>']) => 0,
            _ => {
                self.out.push_str("&lt;");
                self.lts += 1;
                return 1;
            }
        };
        if tag_len == 0 {
            self.dropped_tag = true;
            return rest.len();
        }
        let tag = rest.get(..tag_len).unwrap_or_default();
        if tag.starts_with("</") {
            self.out.push_str(tag);
            self.close(tag_name(tag));
            return tag_len;
        }
        let name = tag_name(tag);
        if !self.root_seen {
            self.root_seen = true;
            if name == "rss" {
                self.rss_tag(tag);
                return tag_len;
            }
        }
        self.tag(tag);
        if tag.ends_with("/>") {
            return tag_len;
        }
        self.open.push(name.to_owned());
        if !TEXT_ELEMENTS.contains(&local_name(name)) {
            return tag_len;
        }
        // Raw HTML in a text element: escape it all if it does not nest, so it stays text.
        let after = rest.get(tag_len..).unwrap_or_default();
        if self.no_end_tag.iter().any(|n| n == name) {
            return tag_len;
        }
        let (content_len, end_len) = match find_end_tag(after, name) {
            EndTag::At(content_len, end_len) => (content_len, end_len),
            // Another start tag of its kind comes first: it nests, leave it.
            EndTag::OpenedAgain => return tag_len,
            EndTag::Missing => {
                self.no_end_tag.push(name.to_owned());
                return tag_len;
            }
        };
        let content = after.get(..content_len).unwrap_or_default();
        if balanced(content) || contains_start_tag(content, name) {
            return tag_len;
        }
        self.escape_markup(content);
        self.out
            .push_str(after.get(content_len..content_len + end_len).unwrap_or_default());
        self.open.pop();
        self.escaped += 1;
        if !self.escaped_names.iter().any(|n| n == name) {
            self.escaped_names.push(name.to_owned());
        }
        tag_len + content_len + end_len
    }

    /// The root `<rss>`, given the version feed-rs needs to recognise it.
    fn rss_tag(&mut self, tag: &str) {
        let version = attributes(tag).into_iter().find(|(name, _)| *name == "version");
        let fixed = match version {
            None => {
                self.rss_version = Some(None);
                format!("<rss version=\"2.0\"{}", tag.get(4..).unwrap_or_default())
            }
            Some((_, (start, end))) => {
                let value = tag.get(start..end).unwrap_or_default();
                if RSS_VERSIONS.contains(&value) {
                    tag.to_owned()
                } else {
                    self.rss_version = Some(Some(value.to_owned()));
                    let (before, after) = (tag.get(..start), tag.get(end..));
                    format!("{}2.0{}", before.unwrap_or_default(), after.unwrap_or_default())
                }
            }
        };
        self.tag(&fixed);
        if !tag.ends_with("/>") {
            self.open.push("rss".to_owned());
        }
    }

    /// An end tag: closes its element and any left open inside it; a stray one closes nothing.
    fn close(&mut self, name: &str) {
        if let Some(i) = self.open.iter().rposition(|open| open == name) {
            self.open.truncate(i);
        }
    }

    /// For a truncated document: terminates a cut-off section and closes the open elements.
    fn close_truncated(&mut self) -> Option<usize> {
        if !self.truncated {
            return None;
        }
        if let Some(close) = self.unterminated.take() {
            self.out.push_str(close);
        }
        let closed = self.open.len();
        for name in self.open.iter().rev() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self.open.clear();
        (closed > 0 || self.dropped_tag).then_some(closed)
    }

    /// A start tag: attribute values get the text repairs.
    fn tag(&mut self, tag: &str) {
        let mut quote = None;
        let mut from = 0;
        for (i, c) in tag.char_indices() {
            match quote {
                None if c == '"' || c == '\'' => {
                    self.out.push_str(tag.get(from..=i).unwrap_or_default());
                    (quote, from) = (Some(c), i + 1);
                }
                Some(q) if c == q => {
                    self.text(tag.get(from..i).unwrap_or_default(), false);
                    self.out.push(c);
                    (quote, from) = (None, i + 1);
                }
                _ => {}
            }
        }
        self.out.push_str(tag.get(from..).unwrap_or_default());
    }

    /// Character data: references checked, and with `escape_markup` `<` and `>` escaped.
    fn text(&mut self, text: &str, escape_markup: bool) {
        let special = |c: char| c == '&' || (escape_markup && (c == '<' || c == '>'));
        let mut rest = text;
        while let Some(i) = rest.find(special) {
            self.out.push_str(rest.get(..i).unwrap_or_default());
            let at = rest.get(i..).unwrap_or_default();
            let used = match at.chars().next() {
                Some('&') => self.reference(at),
                Some('<') => {
                    self.out.push_str("&lt;");
                    1
                }
                Some('>') => {
                    self.out.push_str("&gt;");
                    1
                }
                Some(c) => {
                    self.out.push(c);
                    c.len_utf8()
                }
                None => at.len(),
            };
            rest = at.get(used..).unwrap_or_default();
        }
        self.out.push_str(rest);
    }

    /// `at` starts with `&`: keeps a valid reference, rewrites an HTML entity as a numeric
    /// one, drops a reference to a control character, escapes anything else.
    fn reference(&mut self, at: &str) -> usize {
        let after = at.get(1..).unwrap_or_default();
        if let Some(number) = after.strip_prefix('#') {
            let upper_x = number.starts_with('X');
            let (digits, radix, prefix) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16, 3),
                None => (number, 10, 2),
            };
            let n = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
            if n > 0 && digits.get(n..).is_some_and(|r| r.starts_with(';')) {
                let len = prefix + n + 1;
                let code = digits.get(..n).and_then(|d| u32::from_str_radix(d, radix).ok());
                match code.and_then(char::from_u32) {
                    Some(c) if is_xml_char(c) && upper_x => {
                        self.out.push_str(&format!("&#{};", u32::from(c)));
                        self.char_refs += 1;
                        return len;
                    }
                    Some(c) if is_xml_char(c) => {
                        self.out.push_str(at.get(..len).unwrap_or_default());
                        return len;
                    }
                    Some(c) if is_control(c) || c == '\0' => {
                        self.ref_controls += 1;
                        return len;
                    }
                    _ => {}
                }
            }
        } else if after.starts_with(is_name_start) {
            let n = after
                .find(|c: char| !is_entity_name_char(c))
                .unwrap_or(after.len());
            if after.get(n..).is_some_and(|r| r.starts_with(';')) {
                let name = after.get(..n).unwrap_or_default();
                let len = n + 2;
                match html_entity(name) {
                    Some((name, code)) if !XML_ENTITIES.contains(&name) => {
                        self.out.push_str(&format!("&#{code};"));
                        self.entities += 1;
                        if !self.entity_names.contains(&name) {
                            self.entity_names.push(name);
                        }
                    }
                    // XML's own, or unknown: maybe declared in a DTD; feed-rs keeps those as text.
                    _ => self.out.push_str(at.get(..len).unwrap_or_default()),
                }
                return len;
            }
        }
        self.out.push_str("&amp;");
        self.amps += 1;
        1
    }

    /// Unbalanced HTML in a text element, as escaped text; CDATA and comments stay.
    fn escape_markup(&mut self, content: &str) {
        let mut rest = content;
        while !rest.is_empty() {
            let used = match rest.find('<') {
                Some(0) => {
                    let section = [("<![CDATA[", "]]>"), ("<!--", "-->")]
                        .into_iter()
                        .find(|(open, _)| rest.starts_with(open));
                    match section {
                        Some((open, close)) => {
                            let len = section_len(rest, open, close);
                            self.out.push_str(rest.get(..len).unwrap_or_default());
                            len
                        }
                        None => {
                            self.out.push_str("&lt;");
                            1
                        }
                    }
                }
                Some(i) => {
                    self.text(rest.get(..i).unwrap_or_default(), true);
                    i
                }
                None => {
                    self.text(rest, true);
                    rest.len()
                }
            };
            rest = rest.get(used..).unwrap_or_default();
        }
    }
}

/// Splits off what follows the root element's end tag, unless it is only whitespace,
/// comments and processing instructions; and tells whether there is such an end tag.
/// The last end tag counts: stray end tags inside the document cannot cut it short.
fn split_trailing(xml: &str) -> (&str, &str, bool) {
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
fn section_len(s: &str, open: &str, close: &str) -> usize {
    // memmem: CDATA sections hold whole articles, and are measured often.
    s.get(open.len()..)
        .and_then(|inner| memchr::memmem::find(inner.as_bytes(), close.as_bytes()))
        .map_or(s.len(), |i| open.len() + i + close.len())
}

/// Length of a `<!DOCTYPE …>` (with an internal subset in brackets) at the start of `s`.
fn declaration_len(s: &str) -> usize {
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
fn starts_tag(s: &str) -> bool {
    let after = s.strip_prefix('<').unwrap_or_default();
    let name = after.strip_prefix('/').unwrap_or(after);
    name.starts_with(is_name_start)
}

/// Length of the tag at the start of `s`, up to its `>` outside quoted values;
/// `None` if another `<` or the end comes first (then the first `<` was bare).
fn tag_len(s: &str) -> Option<usize> {
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
fn tag_name(s: &str) -> &str {
    let after = s.strip_prefix('<').unwrap_or(s);
    let after = after.strip_prefix('/').unwrap_or(after);
    let end = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
    after.get(..end).unwrap_or_default()
}

fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// Attributes of a start tag: names and the byte ranges of their values within `tag`.
fn attributes(tag: &str) -> Vec<(&str, (usize, usize))> {
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
enum EndTag {
    /// (length of the content, length of the end tag).
    At(usize, usize),
    /// A start tag of the same name comes before any end tag.
    OpenedAgain,
    Missing,
}

/// The end of `content` up to `</name>`, skipping CDATA and comments. The
/// search stops at the next `<name`, so repeated unclosed elements stay linear.
fn find_end_tag(content: &str, name: &str) -> EndTag {
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
fn balanced(content: &str) -> bool {
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
fn contains_start_tag(content: &str, name: &str) -> bool {
    let open = format!("<{name}");
    content.match_indices(&open).any(|(i, _)| {
        let next = content.get(i + open.len()..).and_then(|r| r.chars().next());
        next.is_none_or(|c| !is_name_char(c))
    })
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')
}

fn is_entity_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')
}

/// C0 controls XML 1.0 forbids (all but tab, LF and CR).
fn is_control(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// The entities XML predefines.
const XML_ENTITIES: [&str; 5] = ["amp", "lt", "gt", "quot", "apos"];

fn html_entity(name: &str) -> Option<(&'static str, u32)> {
    HTML_ENTITIES
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .and_then(|i| HTML_ENTITIES.get(i).copied())
}

/// The 252 named entities of HTML 4.01, sorted by name (byte order) for binary search.
#[rustfmt::skip]
const HTML_ENTITIES: [(&str, u32); 252] = [
    ("AElig", 198), ("Aacute", 193), ("Acirc", 194), ("Agrave", 192), ("Alpha", 913), ("Aring", 197),
    ("Atilde", 195), ("Auml", 196), ("Beta", 914), ("Ccedil", 199), ("Chi", 935), ("Dagger", 8225),
    ("Delta", 916), ("ETH", 208), ("Eacute", 201), ("Ecirc", 202), ("Egrave", 200), ("Epsilon", 917),
    ("Eta", 919), ("Euml", 203), ("Gamma", 915), ("Iacute", 205), ("Icirc", 206), ("Igrave", 204),
    ("Iota", 921), ("Iuml", 207), ("Kappa", 922), ("Lambda", 923), ("Mu", 924), ("Ntilde", 209),
    ("Nu", 925), ("OElig", 338), ("Oacute", 211), ("Ocirc", 212), ("Ograve", 210), ("Omega", 937),
    ("Omicron", 927), ("Oslash", 216), ("Otilde", 213), ("Ouml", 214), ("Phi", 934), ("Pi", 928),
    ("Prime", 8243), ("Psi", 936), ("Rho", 929), ("Scaron", 352), ("Sigma", 931), ("THORN", 222),
    ("Tau", 932), ("Theta", 920), ("Uacute", 218), ("Ucirc", 219), ("Ugrave", 217), ("Upsilon", 933),
    ("Uuml", 220), ("Xi", 926), ("Yacute", 221), ("Yuml", 376), ("Zeta", 918), ("aacute", 225),
    ("acirc", 226), ("acute", 180), ("aelig", 230), ("agrave", 224), ("alefsym", 8501), ("alpha", 945),
    ("amp", 38), ("and", 8743), ("ang", 8736), ("aring", 229), ("asymp", 8776), ("atilde", 227),
    ("auml", 228), ("bdquo", 8222), ("beta", 946), ("brvbar", 166), ("bull", 8226), ("cap", 8745),
    ("ccedil", 231), ("cedil", 184), ("cent", 162), ("chi", 967), ("circ", 710), ("clubs", 9827),
    ("cong", 8773), ("copy", 169), ("crarr", 8629), ("cup", 8746), ("curren", 164), ("dArr", 8659),
    ("dagger", 8224), ("darr", 8595), ("deg", 176), ("delta", 948), ("diams", 9830), ("divide", 247),
    ("eacute", 233), ("ecirc", 234), ("egrave", 232), ("empty", 8709), ("emsp", 8195), ("ensp", 8194),
    ("epsilon", 949), ("equiv", 8801), ("eta", 951), ("eth", 240), ("euml", 235), ("euro", 8364),
    ("exist", 8707), ("fnof", 402), ("forall", 8704), ("frac12", 189), ("frac14", 188), ("frac34", 190),
    ("frasl", 8260), ("gamma", 947), ("ge", 8805), ("gt", 62), ("hArr", 8660), ("harr", 8596),
    ("hearts", 9829), ("hellip", 8230), ("iacute", 237), ("icirc", 238), ("iexcl", 161), ("igrave", 236),
    ("image", 8465), ("infin", 8734), ("int", 8747), ("iota", 953), ("iquest", 191), ("isin", 8712),
    ("iuml", 239), ("kappa", 954), ("lArr", 8656), ("lambda", 955), ("lang", 9001), ("laquo", 171),
    ("larr", 8592), ("lceil", 8968), ("ldquo", 8220), ("le", 8804), ("lfloor", 8970), ("lowast", 8727),
    ("loz", 9674), ("lrm", 8206), ("lsaquo", 8249), ("lsquo", 8216), ("lt", 60), ("macr", 175),
    ("mdash", 8212), ("micro", 181), ("middot", 183), ("minus", 8722), ("mu", 956), ("nabla", 8711),
    ("nbsp", 160), ("ndash", 8211), ("ne", 8800), ("ni", 8715), ("not", 172), ("notin", 8713),
    ("nsub", 8836), ("ntilde", 241), ("nu", 957), ("oacute", 243), ("ocirc", 244), ("oelig", 339),
    ("ograve", 242), ("oline", 8254), ("omega", 969), ("omicron", 959), ("oplus", 8853), ("or", 8744),
    ("ordf", 170), ("ordm", 186), ("oslash", 248), ("otilde", 245), ("otimes", 8855), ("ouml", 246),
    ("para", 182), ("part", 8706), ("permil", 8240), ("perp", 8869), ("phi", 966), ("pi", 960),
    ("piv", 982), ("plusmn", 177), ("pound", 163), ("prime", 8242), ("prod", 8719), ("prop", 8733),
    ("psi", 968), ("quot", 34), ("rArr", 8658), ("radic", 8730), ("rang", 9002), ("raquo", 187),
    ("rarr", 8594), ("rceil", 8969), ("rdquo", 8221), ("real", 8476), ("reg", 174), ("rfloor", 8971),
    ("rho", 961), ("rlm", 8207), ("rsaquo", 8250), ("rsquo", 8217), ("sbquo", 8218), ("scaron", 353),
    ("sdot", 8901), ("sect", 167), ("shy", 173), ("sigma", 963), ("sigmaf", 962), ("sim", 8764),
    ("spades", 9824), ("sub", 8834), ("sube", 8838), ("sum", 8721), ("sup", 8835), ("sup1", 185),
    ("sup2", 178), ("sup3", 179), ("supe", 8839), ("szlig", 223), ("tau", 964), ("there4", 8756),
    ("theta", 952), ("thetasym", 977), ("thinsp", 8201), ("thorn", 254), ("tilde", 732), ("times", 215),
    ("trade", 8482), ("uArr", 8657), ("uacute", 250), ("uarr", 8593), ("ucirc", 251), ("ugrave", 249),
    ("uml", 168), ("upsih", 978), ("upsilon", 965), ("uuml", 252), ("weierp", 8472), ("xi", 958),
    ("yacute", 253), ("yen", 165), ("yuml", 255), ("zeta", 950), ("zwj", 8205), ("zwnj", 8204),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(items: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
             <title>Новости</title>{items}</channel></rss>\n"
        )
    }

    #[test]
    fn repairs() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "<item><title>Tom & Jerry</title><link>http://x/?a=1&b=2&amp;c=3</link></item>",
                "<item><title>Tom &amp; Jerry</title><link>http://x/?a=1&amp;b=2&amp;c=3</link></item>",
                &["escaped 2 bare '&'"],
            ),
            (
                "<item><title>Prix&nbsp;Nobel &mdash; 2026 &copy; &eacute;t&eacute;</title></item>",
                "<item><title>Prix&#160;Nobel &#8212; 2026 &#169; &#233;t&#233;</title></item>",
                &["replaced 5 HTML entities (&nbsp; &mdash; &copy; …)"],
            ),
            (
                "<item><title>&lt;b&gt; &quot;x&quot; &apos;y&apos; &#8212; &#x2014; &custom;</title></item>",
                "<item><title>&lt;b&gt; &quot;x&quot; &apos;y&apos; &#8212; &#x2014; &custom;</title></item>",
                &[],
            ),
            (
                "<item><title>Bad &#99999999; &#xD800; &#x;, ok &#1;&#x1F;</title></item>",
                "<item><title>Bad &amp;#99999999; &amp;#xD800; &amp;#x;, ok </title></item>",
                &["removed 2 control characters", "escaped 3 bare '&'"],
            ),
            (
                "<item><title>Zeile\u{1}eins\u{b}\u{0}</title>\
                 <description>a\tb\r\nc\u{1f}</description></item>",
                "<item><title>Zeileeins</title>\
                 <description>a\tb\r\nc</description></item>",
                &["removed 4 control characters"],
            ),
            (
                "<item><title>a < b, 3 <= 4 &lt; 5</title></item>",
                "<item><title>a &lt; b, 3 &lt;= 4 &lt; 5</title></item>",
                &["escaped 2 bare '<'"],
            ),
            (
                "<item><title>Markets <b>rally</b> again</title></item>\
                 <item><title>Storm<br> warning for <i>Kyūshū</title></item>",
                "<item><title>Markets <b>rally</b> again</title></item>\
                 <item><title>Storm&lt;br&gt; warning for &lt;i&gt;Kyūshū</title></item>",
                &["escaped HTML inside 1 element (<title>)"],
            ),
            (
                "<item><title>T</title>\
                 <description>Para<br>two &nbsp;<a href=\"/x?a&b\">l</a></description></item>",
                "<item><title>T</title>\
                 <description>Para&lt;br&gt;two &#160;&lt;a href=\"/x?a&amp;b\"&gt;l&lt;/a&gt;\
                 </description></item>",
                &[
                    "escaped 1 bare '&'",
                    "replaced 1 HTML entity (&nbsp;)",
                    "escaped HTML inside 1 element (<description>)",
                ],
            ),
            (
                "<item><title><![CDATA[Tom & Jerry &nbsp; <br> \u{2}]]></title></item>",
                "<item><title><![CDATA[Tom & Jerry &nbsp; <br> ]]></title></item>",
                &["removed 1 control character"],
            ),
            (
                "<item><title>ok</title>\
                 <enclosure url=\"http://x/a.mp3?x=1&y=2\" type='audio/mpeg' length=\"1\"/></item>",
                "<item><title>ok</title>\
                 <enclosure url=\"http://x/a.mp3?x=1&amp;y=2\" type='audio/mpeg' length=\"1\"/></item>",
                &["escaped 1 bare '&'"],
            ),
            (
                "<!-- R&D <b> --><item><title>T</title></item>",
                "<!-- R&D <b> --><item><title>T</title></item>",
                &[],
            ),
        ];
        for (items, expected, fixes) in cases {
            let repaired = repair(&rss(items));
            let described: Vec<String> = repaired
                .iter()
                .flat_map(|r| &r.fixes)
                .map(Fix::describe)
                .collect();
            assert_eq!(described, *fixes, "{items}");
            let text = repaired.map_or_else(|| rss(items), |r| r.text);
            assert_eq!(text, rss(expected), "{items}");
        }
    }

    #[test]
    fn whole_documents() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "<rss><channel><title>Café</title></channel></rss>",
                "<rss version=\"2.0\"><channel><title>Café</title></channel></rss>",
                &["added version=\"2.0\" to <rss>"],
            ),
            (
                "<rss\nxmlns:dc=\"http://purl.org/dc/elements/1.1/\" version='0.94'><channel/></rss>",
                "<rss\nxmlns:dc=\"http://purl.org/dc/elements/1.1/\" version='2.0'><channel/></rss>",
                &["changed <rss version=\"0.94\"> to version=\"2.0\""],
            ),
            (
                "<rss version=\"0.91\"><channel/></rss>",
                "<rss version=\"0.91\"><channel/></rss>",
                &[],
            ),
            (
                "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>\n\
                 <br />\n<b>Warning</b>:  mysql_close(): no link in <b>/var/www/rss.php</b>",
                "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>",
                &["dropped 74 bytes after the root element"],
            ),
            (
                "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed >\n\
                 <!-- cached -->\n<?pi?>\n",
                "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed >\n\
                 <!-- cached -->\n<?pi?>\n",
                &[],
            ),
            (
                // A stray end tag inside must not cut the feed short.
                "<rss version=\"2.0\"><channel><item><title>a</title></rss></item></channel>\
                 </rss>junk",
                "<rss version=\"2.0\"><channel><item><title>a</title></rss></item></channel>\
                 </rss>",
                &["dropped 4 bytes after the root element"],
            ),
            (
                "<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\">]><rss version=\"2.0\"><channel>\
                 <title>A&nbsp;B</title></channel></rss>",
                "<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\">]><rss version=\"2.0\"><channel>\
                 <title>A&#160;B</title></channel></rss>",
                &["replaced 1 HTML entity (&nbsp;)"],
            ),
            (
                "{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"A & B\"}",
                "{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"A & B\"}",
                &[],
            ),
            ("", "", &[]),
            ("<", "&lt;", &["escaped 1 bare '<'"]),
            (
                "<rss",
                "",
                &["dropped an unfinished tag at the end of a truncated document"],
            ),
            (
                "<p>a <b",
                "<p>a </p>",
                &["closed 1 element left open by a truncated document"],
            ),
            (
                "<p>a < b",
                "<p>a &lt; b</p>",
                &[
                    "escaped 1 bare '<'",
                    "closed 1 element left open by a truncated document",
                ],
            ),
            (
                "<rss version=\"2.0\"><channel><item><title>Foo <b>ba",
                "<rss version=\"2.0\"><channel><item><title>Foo <b>ba</b></title></item>\
                 </channel></rss>",
                &["closed 5 elements left open by a truncated document"],
            ),
            (
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<link href=\"x\"/><br>\n</feed",
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<link href=\"x\"/><br>\n</br></feed>",
                &["closed 2 elements left open by a truncated document"],
            ),
            (
                "<rss version=\"2.0\"><channel><description><![CDATA[<p>Grüße",
                "<rss version=\"2.0\"><channel><description><![CDATA[<p>Grüße]]></description>\
                 </channel></rss>",
                &["closed 3 elements left open by a truncated document"],
            ),
            (
                "<rss version=\"2.0\"><channel><title>x</title></item><link href=\"http://exa",
                "<rss version=\"2.0\"><channel><title>x</title></item></channel></rss>",
                &["closed 2 elements left open by a truncated document"],
            ),
            (
                "<rss/>",
                "<rss version=\"2.0\"/>",
                &["added version=\"2.0\" to <rss>"],
            ),
            (
                "<rss version=\"2.0\">\n<channel>\n<item><title><![CD",
                "<rss version=\"2.0\">\n<channel>\n<item><title></title></item></channel></rss>",
                &["closed 4 elements left open by a truncated document"],
            ),
            (
                "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>&#X41;&#x42;&#X1;</title></entry>",
                "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>&#65;&#x42;</title></entry>",
                &[
                    "removed 1 control character",
                    "rewrote 1 character reference with '&#X'",
                ],
            ),
            (
                "\u{0}<\u{0}r\u{0}s\u{0}s\u{0} version=\"2.0\"/>",
                "<rss version=\"2.0\"/>",
                &["removed 5 control characters"],
            ),
            ("&", "&amp;", &["escaped 1 bare '&'"]),
            (
                "<a>&#",
                "<a>&amp;#</a>",
                &[
                    "escaped 1 bare '&'",
                    "closed 1 element left open by a truncated document",
                ],
            ),
            ("<a>é&é;</a>", "<a>é&amp;é;</a>", &["escaped 1 bare '&'"]),
        ];
        for (input, expected, fixes) in cases {
            let repaired = repair(input);
            let described: Vec<String> = repaired
                .iter()
                .flat_map(|r| &r.fixes)
                .map(Fix::describe)
                .collect();
            assert_eq!(described, *fixes, "{input}");
            assert_eq!(
                repaired.map_or_else(|| input.to_string(), |r| r.text),
                *expected,
                "{input}"
            );
        }
    }

    #[test]
    fn well_formed_feeds_need_nothing() {
        let feeds = [
            rss(
                "<item><title>港口扩建工程启动</title><link>https://example.cn/?a=1&amp;b=2</link>\
                 <description><![CDATA[<p>Tom & Jerry<br>&nbsp;</p>]]></description></item>",
            ),
            rss(
                "<item><title>Markets <b>rally</b> &amp; <i>bonds</i> fall</title>\
                 <description>&lt;p&gt;Москва&lt;/p&gt;</description></item>",
            ),
            "<?xml version=\"1.0\"?>\n<!DOCTYPE feed>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
             xml:lang='ja'><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">東京<br/>\
             大阪</div></title><entry><title type=\"html\">&lt;b&gt;桜&lt;/b&gt;</title>\
             <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div></content>\
             <id>urn:x</id></entry></feed>\n"
                .to_string(),
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
             xmlns=\"http://purl.org/rss/1.0/\"><channel rdf:about=\"http://x/\"><title>Ελλάδα</title>\
             </channel><item rdf:about=\"http://x/1\"><title>Σήμερα</title></item></rdf:RDF>"
                .to_string(),
        ];
        for feed in feeds {
            assert_eq!(repair(&feed), None, "{feed}");
        }
    }

    #[test]
    fn entity_table_is_sorted_and_complete() {
        assert!(HTML_ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
        let lookups = [
            ("nbsp", 160),
            ("hellip", 8230),
            ("Eacute", 201),
            ("eacute", 233),
            ("euro", 8364),
        ];
        for (name, code) in lookups {
            assert_eq!(html_entity(name), Some((name, code)));
        }
        assert_eq!(html_entity("apos"), None);
        assert_eq!(html_entity("NBSP"), None);
    }
}
