//! A small hand-written HTML and CSS scanner, enough for the digest
//! template's own output (it is not a general parser).
//!
//! It collects what a rendered digest uses: the doctype and comments,
//! elements, attributes and link kinds (`#anchor`, `mailto:`), and from the
//! `style` attributes and the `<style>` block the CSS properties, values
//! (`display`, units, functions, `!important`), selectors, at-rules and
//! `@media` features. Each is kept with the places it is used, so the
//! templates can be checked against caniemail's support data for Gmail and
//! Outlook (see [`super::caniemail`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// One start tag: lower-cased name, attributes as written, and its source text.
#[derive(Debug)]
pub struct Tag {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub source: String,
}

/// What [`scan_html`] finds in a document.
#[derive(Debug, Default)]
pub struct Document {
    pub doctype: bool,
    pub comments: usize,
    pub tags: Vec<Tag>,
    /// The contents of each `<style>` element.
    pub stylesheets: Vec<String>,
}

/// The doctype, comments, start tags and `<style>` contents of `html`.
pub fn scan_html(html: &str) -> Document {
    let mut document = Document::default();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            document.comments += 1;
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
        } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (tag, length) = read_tag(rest);
            rest = &rest[length..];
            if tag.name == "style" {
                let end = rest.to_ascii_lowercase().find("</style").unwrap_or(rest.len());
                document.stylesheets.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
            document.tags.push(tag);
        } else if rest[1..].starts_with(['/', '!', '?']) {
            let end = rest.find('>').map_or(rest.len(), |end| end + 1);
            document.doctype |= rest[..end].to_ascii_lowercase().starts_with("<!doctype");
            rest = &rest[end..];
        } else {
            rest = &rest[1..];
        }
    }
    document
}

/// Reads the start tag at the front of `source` (which starts with `<` and a letter).
fn read_tag(source: &str) -> (Tag, usize) {
    let bytes = source.as_bytes();
    let mut i = 1;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    let name = source[1..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            break;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let attribute = source[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let start = i + 1;
                let end = source[start..]
                    .find(char::from(bytes[i]))
                    .map_or(bytes.len(), |end| start + end);
                value = &source[start..end];
                i = (end + 1).min(bytes.len());
            } else {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = &source[start..i];
            }
        }
        attributes.push((attribute, value.to_owned()));
    }
    let end = (i + 1).min(bytes.len());
    let tag = Tag {
        name,
        attributes,
        source: source[..end].to_owned(),
    };
    (tag, end)
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static MEDIA_FEATURE: LazyLock<Regex> = LazyLock::new(|| regex(r"\(\s*([a-zA-Z-]+)\s*[:)]"));
static PSEUDO: LazyLock<Regex> = LazyLock::new(|| regex(r"(::?)([a-zA-Z-]+)"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| regex(r"^-?(?:\d+\.?\d*|\.\d+)([a-z%]+)$"));
static FUNCTION: LazyLock<Regex> = LazyLock::new(|| regex(r"([a-z-]+)\("));

/// A feature of HTML or CSS the digest uses, named as a reader would look it up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    Doctype,
    Comment,
    CssComment,
    Element(String),
    Attribute(String),
    AnchorLink,
    MailtoLink,
    MetaColorScheme,
    Property(String),
    Display(String),
    Important,
    Unit(String),
    Function(String),
    SystemFont,
    AtRule(String),
    /// A media feature in an `@media` prelude, such as `prefers-color-scheme`.
    Media(String),
    /// A caniemail slug suffix such as `selector-class` or `pseudo-class-hover`.
    Selector(String),
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Doctype => write!(f, "<!DOCTYPE>"),
            Feature::Comment => write!(f, "<!-- -->"),
            Feature::CssComment => write!(f, "/* */"),
            Feature::Element(name) => write!(f, "<{name}>"),
            Feature::Attribute(name) => write!(f, "{name}=\"\""),
            Feature::AnchorLink => write!(f, "href=\"#…\""),
            Feature::MailtoLink => write!(f, "href=\"mailto:…\""),
            Feature::MetaColorScheme => write!(f, "<meta name=color-scheme>"),
            Feature::Property(name) => write!(f, "{name}:"),
            Feature::Display(value) => write!(f, "display:{value}"),
            Feature::Important => write!(f, "!important"),
            Feature::Unit(unit) => write!(f, "1{unit}"),
            Feature::Function(name) => write!(f, "{name}()"),
            Feature::SystemFont => write!(f, "system-ui"),
            Feature::AtRule(name) => write!(f, "@{name}"),
            Feature::Media(name) => write!(f, "({name})"),
            Feature::Selector(kind) => write!(f, "{kind}"),
        }
    }
}

/// Every feature used, with the places (tag or CSS rule) it is used in.
#[derive(Default)]
pub struct Found(pub BTreeMap<Feature, BTreeSet<String>>);

impl Found {
    fn add(&mut self, feature: Feature, context: &str) {
        let context: String = context.chars().take(160).collect();
        self.0.entry(feature).or_default().insert(context);
    }

    /// Adds every feature `document` uses.
    pub fn collect(&mut self, document: &Document) {
        if document.doctype {
            self.add(Feature::Doctype, "<!DOCTYPE html>");
        }
        if document.comments > 0 {
            self.add(Feature::Comment, "<!-- -->");
        }
        for stylesheet in &document.stylesheets {
            self.stylesheet(stylesheet, "<style>");
        }
        for tag in &document.tags {
            self.add(Feature::Element(tag.name.clone()), &tag.source);
            for (attribute, value) in &tag.attributes {
                self.add(Feature::Attribute(attribute.clone()), &tag.source);
                match attribute.as_str() {
                    "style" => self.declarations(value, &tag.source),
                    "href" if value.starts_with('#') => self.add(Feature::AnchorLink, &tag.source),
                    "href" if value.starts_with("mailto:") => self.add(Feature::MailtoLink, &tag.source),
                    "name" if tag.name == "meta" && value.contains("color-scheme") => {
                        self.add(Feature::MetaColorScheme, &tag.source);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Rules and at-rules, recursively; `context` names the enclosing rules.
    fn stylesheet(&mut self, css: &str, context: &str) {
        let mut rest = css;
        if rest.contains("/*") {
            self.add(Feature::CssComment, context);
        }
        while let Some(open) = rest.find('{') {
            let prelude = rest[..open].trim();
            let mut depth = 0;
            let close = rest[open..]
                .char_indices()
                .find_map(|(i, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(open + i)
                })
                .unwrap_or(rest.len());
            let block = rest.get(open + 1..close).unwrap_or_default();
            let here = format!("{context} {prelude} {{");
            if let Some(at_rule) = prelude.strip_prefix('@') {
                let name = at_rule
                    .split(|c: char| c.is_whitespace() || c == '(')
                    .next()
                    .unwrap_or_default();
                self.add(Feature::AtRule(name.to_ascii_lowercase()), &here);
                for caps in MEDIA_FEATURE.captures_iter(prelude) {
                    self.add(Feature::Media(caps[1].to_ascii_lowercase()), &here);
                }
                self.stylesheet(block, &here);
            } else {
                self.selectors(prelude, &here);
                self.declarations(block, &here);
            }
            rest = rest.get(close + 1..).unwrap_or_default();
        }
    }

    fn selectors(&mut self, prelude: &str, context: &str) {
        let list: Vec<&str> = prelude.split(',').map(str::trim).collect();
        if list.len() > 1 {
            self.add(Feature::Selector("selector-grouping".to_owned()), context);
        }
        for selector in list {
            let mut kinds = Vec::new();
            for (symbol, kind) in [
                ('.', "selector-class"),
                ('#', "selector-id"),
                ('[', "selector-attribute"),
                ('>', "selector-child"),
                ('+', "selector-adjacent-sibling"),
                ('~', "selector-general-sibling"),
                ('*', "selector-universal"),
            ] {
                if selector.contains(symbol) {
                    kinds.push(kind.to_owned());
                }
            }
            if selector.starts_with(|c: char| c.is_ascii_alphabetic()) {
                kinds.push("selector-type".to_owned());
            }
            let compounds: Vec<&str> = selector.split_whitespace().collect();
            if compounds.len() > 1 && !selector.contains(['>', '+', '~']) {
                kinds.push("selector-descendant".to_owned());
            }
            let chained = compounds.iter().any(|compound| {
                let simple = compound.matches(['.', '#', '[', ':']).count()
                    + usize::from(compound.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*'));
                simple > 1
            });
            if chained {
                kinds.push("selector-chaining".to_owned());
            }
            for caps in PSEUDO.captures_iter(selector) {
                let family = if &caps[1] == "::" {
                    "pseudo-element"
                } else {
                    "pseudo-class"
                };
                kinds.push(format!("{family}-{}", caps[2].to_ascii_lowercase()));
            }
            for kind in kinds {
                self.add(Feature::Selector(kind), context);
            }
        }
    }

    fn declarations(&mut self, block: &str, context: &str) {
        for declaration in block.split(';') {
            let Some((property, value)) = declaration.split_once(':') else {
                continue;
            };
            let property = property.trim().to_ascii_lowercase();
            let mut value = value.trim().to_ascii_lowercase();
            if let Some(at) = value.find("!important") {
                self.add(Feature::Important, context);
                value.truncate(at);
            }
            if property == "display" {
                self.add(Feature::Display(value.trim().to_owned()), context);
            } else {
                self.add(Feature::Property(property.clone()), context);
            }
            if property.starts_with("font")
                && [
                    "system-ui",
                    "ui-serif",
                    "ui-sans-serif",
                    "ui-rounded",
                    "ui-monospace",
                ]
                .iter()
                .any(|keyword| value.contains(keyword))
            {
                self.add(Feature::SystemFont, context);
            }
            for caps in FUNCTION.captures_iter(&value) {
                self.add(Feature::Function(caps[1].to_owned()), context);
            }
            let tokens = value.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '/'));
            for token in tokens.filter(|t| !t.starts_with(['#', '\'', '"'])) {
                if let Some(caps) = NUMBER.captures(token) {
                    self.add(Feature::Unit(caps[1].to_owned()), context);
                }
            }
        }
    }
}
