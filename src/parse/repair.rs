//! Repairs for classically sloppy XML feeds: bare `&`, HTML entities, control characters,
//! junk after the root element, truncation, `<rss>` without a version, unbalanced HTML in
//! text elements.
//!
//! Each repair only touches what is not well-formed XML (or what feed-rs cannot read), so
//! a well-formed feed comes back as `None`. CDATA sections, comments, processing
//! instructions and the DOCTYPE are copied as they are, except for control characters,
//! which XML allows nowhere. Pure: no I/O.

use std::fmt;

mod entities;
mod markup;
#[cfg(test)]
mod tests;

use entities::{XML_ENTITIES, html_entity};
use markup::{
    EndTag, attributes, balanced, contains_start_tag, declaration_len, find_end_tag, is_control,
    is_entity_name_char, is_name_start, is_xml_char, local_name, section_len, split_trailing, starts_tag,
    tag_len, tag_name,
};

/// The repaired text, and what was done to it (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub text: String,
    pub fixes: Vec<Fix>,
}

/// One kind of repair, with how often it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Content before the document (PHP warnings) was dropped.
    LeadingContent { bytes: usize },
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
    /// The document's last end tag lacked only its '>' (`…</rss`).
    EndTagCompleted,
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        match self {
            Fix::LeadingContent { bytes } => {
                write!(f, "dropped {bytes} byte{} before the document", s(*bytes))
            }
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
            Fix::EndTagCompleted => write!(f, "completed the last end tag, which lacked its '>'"),
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
    repair_with(xml, true)
}

fn repair_with(xml: &str, complete_end_tag: bool) -> Option<Repaired> {
    let original = xml;
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
    // `…</rss` at the very end: only the '>' is missing, nothing of the
    // content. (When more is missing, the root stays open: refused below.)
    let completed: String;
    let end_tag_completed = complete_end_tag && unfinished_end_tag(xml);
    let xml = if end_tag_completed {
        completed = format!("{}>", xml.trim_end());
        completed.as_str()
    } else {
        xml
    };
    let leading = leading_junk(xml);
    let xml = xml.get(leading..).unwrap_or(xml);
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
    if leading > 0 {
        fixes.push(Fix::LeadingContent { bytes: leading });
    }
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
    if end_tag_completed {
        if closed.is_some() || repairer.implicitly_closed > 0 {
            // Elements were left open anyway: a document cut short, read as
            // one without the completion.
            return repair_with(original, false);
        }
        fixes.push(Fix::EndTagCompleted);
    }
    if let Some(closed) = closed {
        fixes.push(Fix::Truncated { closed });
    }
    (!fixes.is_empty()).then_some(Repaired { text: out, fixes })
}

/// How many bytes before the document are junk, not a prolog: what a PHP
/// warning prints before its template (`<br />\n<b>Warning</b>: …`). A
/// document whose first element (after a prolog of comments, processing
/// instructions and a DOCTYPE) is a feed root has none; otherwise the
/// document starts at a later XML declaration, else at the first feed root.
fn leading_junk(xml: &str) -> usize {
    let start = xml.len() - xml.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']).len();
    let rest = &xml[start..];
    let mut prolog = rest;
    loop {
        prolog = prolog.trim_start();
        let end = if prolog.starts_with("<!--") {
            prolog.find("-->").map(|at| at + 3)
        } else if prolog.starts_with("<?") {
            prolog.find("?>").map(|at| at + 2)
        } else if prolog.starts_with("<!") {
            // A DOCTYPE's internal subset holds '>' of its own.
            match (prolog.find('['), prolog.find('>')) {
                (Some(open), Some(close)) if open < close => prolog
                    .find(']')
                    .and_then(|at| prolog[at..].find('>').map(|gt| at + gt + 1)),
                (_, close) => close.map(|at| at + 1),
            }
        } else {
            break;
        };
        match end {
            Some(end) => prolog = &prolog[end..],
            None => return 0,
        }
    }
    if feed_root_at(prolog) || prolog.is_empty() {
        return 0;
    }
    // Junk: the document's own declaration, or its root, is further on.
    let declaration = rest.match_indices("<?xml").map(|(at, _)| at).find(|at| {
        rest[at + 5..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace() || c == '?')
    });
    let root = rest
        .match_indices('<')
        .map(|(at, _)| at)
        .find(|at| feed_root_at(&rest[*at..]));
    match (declaration, root) {
        (Some(declaration), Some(root)) if declaration < root => start + declaration,
        (_, Some(root)) => start + root,
        // At the start, it is the document's: no junk before it.
        (Some(0), None) | (None, None) => 0,
        (Some(declaration), None) => start + declaration,
    }
}

/// Whether `text` starts with a feed's root element: `<rss`, `<feed`,
/// `<RDF`, with or without a prefix (`<atom:feed`, `<rdf:RDF`), the name
/// ending there (not `<feedburner:…>`).
fn feed_root_at(text: &str) -> bool {
    let Some(tag) = text.strip_prefix('<') else {
        return false;
    };
    let name_end = tag
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(tag.len());
    let name = &tag[..name_end];
    let local = name.rsplit(':').next().unwrap_or(name);
    name_end < tag.len() && matches!(local, "rss" | "feed" | "RDF")
}

/// Whether `xml` ends in an end tag without its '>' (`</rss`, `</rdf:RDF`).
fn unfinished_end_tag(xml: &str) -> bool {
    let end = xml.trim_end();
    end.rfind("</").is_some_and(|at| {
        let name = &end[at + 2..];
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'))
    })
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
    /// Elements an end tag closed without their own end tag.
    implicitly_closed: usize,
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
            self.implicitly_closed += self.open.len() - 1 - i;
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
