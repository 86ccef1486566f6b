//! Feed dialects that feed-rs reads as nothing, rewritten into ones it reads.
//!
//! feed-rs knows Atom 1.0, RSS 0.91/0.92/2.0 without a namespace, RSS 1.0 and
//! JSON Feed. Real feeds also come as Atom 0.3 (old Blogger, LiveJournal,
//! Japanese and Chinese blog hosts), RSS whose elements sit in a default
//! namespace (`http://backend.userland.com/rss2`), RSS 0.90 (Netscape's
//! namespace), items outside
//! `<channel>`, RSS 1.0 items without `<link>`, and Atom text constructs with
//! a MIME type in `type` (base64 bodies, `application/xhtml+xml`). Each of
//! these yields no items at all, silently, or rejects the whole document. The
//! rewrite maps them onto the model feed-rs reads, the way feedparser and
//! gofeed read them, and says what it changed. Pure: no I/O.

use std::borrow::Cow;

use base64::Engine as _;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";
const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10: &str = "http://purl.org/rss/1.0/";

/// The link given to an RSS 1.0 item that has neither `<link>` nor
/// `rdf:about`, so that feed-rs keeps it; [`super::item_of`] drops it again.
pub(crate) const NO_LINK: &str = "urn:feed-digest:no-link";

/// What a document is, from its root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// `feed`, `rss`, `RDF`, …: the root's local name.
    pub name: String,
    /// Its default namespace (`xmlns="…"`), if it declares one.
    pub namespace: Option<String>,
    /// Its prefix (`r` of `<r:rss>`) and the namespace bound to it.
    pub prefix: Option<(String, String)>,
    pub version: Option<String>,
}

impl Root {
    /// "Atom 1.0", "Atom 0.3", "RSS 2.0", "RSS 1.0", "RSS 0.90", … for `fetch`.
    pub fn format(&self) -> String {
        match (self.name.as_str(), self.namespace.as_deref()) {
            ("feed", Some(ATOM_03)) => "Atom 0.3".to_owned(),
            ("feed", _) if self.version.as_deref() == Some("0.3") => "Atom 0.3".to_owned(),
            ("feed" | "entry", _) => "Atom 1.0".to_owned(),
            ("RDF", Some(RSS_090)) => "RSS 0.90".to_owned(),
            ("RDF", _) => "RSS 1.0".to_owned(),
            ("rss", _) => format!("RSS {}", self.version.as_deref().unwrap_or("(no version)")),
            (other, _) => format!("XML <{other}>"),
        }
    }
}

/// Reads the root element of an XML document, if it has one.
pub fn root(text: &str) -> Option<Root> {
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) | Event::Empty(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let prefix = start
                    .name()
                    .prefix()
                    .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
                let (mut namespace, mut version, mut bound) = (None, None, None);
                for attribute in start.attributes().flatten() {
                    let value = || String::from_utf8_lossy(&attribute.value).trim().to_owned();
                    let key = attribute.key.as_ref();
                    match key {
                        b"xmlns" => namespace = Some(value()),
                        b"version" => version = Some(value()),
                        _ if prefix
                            .as_ref()
                            .is_some_and(|p| key == format!("xmlns:{p}").as_bytes()) =>
                        {
                            bound = Some(value());
                        }
                        _ => {}
                    }
                }
                return Some(Root {
                    name,
                    namespace,
                    prefix: prefix.zip(bound),
                    version,
                });
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// A document rewritten for feed-rs, and what was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub text: String,
    pub changes: Vec<String>,
}

/// Why a document cannot be read at all, named for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    #[error("an <rss> document without a <channel>: it holds no feed")]
    RssWithoutChannel,
}

/// What the rewrite does to one document.
#[derive(Debug, Clone, Default)]
struct Plan {
    atom03: bool,
    /// Atom text constructs with a MIME type (or an Atom 0.3 `mode`).
    atom_types: bool,
    /// The root's default namespace to drop (namespaced RSS).
    drop_namespace: bool,
    /// The prefix RSS elements carry (`<r:channel>`), to drop.
    drop_prefix: Option<String>,
    /// Items straight under `<rss>`: a `<channel>` around them.
    wrap_channel: bool,
    rss_090: bool,
    /// RSS 1.0 items without `<link>` get their `rdf:about`.
    rdf_links: bool,
    /// Items after `</channel>` go inside it.
    items_into_channel: bool,
}

/// Rewrites `text` when it is a dialect feed-rs reads badly; `None` when it
/// is read as it is. `strict_atom` is false after feed-rs refused an Atom 1.0
/// document: then its text constructs' types are normalised too.
pub fn normalise(text: &str, strict_atom: bool) -> Result<Option<Rewritten>, DialectError> {
    let Some(root) = root(text) else { return Ok(None) };
    let mut plan = Plan::default();
    let mut changes = Vec::new();
    match root.name.as_str() {
        "feed" if root.format() == "Atom 0.3" => {
            plan.atom03 = true;
            plan.atom_types = true;
            changes.push("Atom 0.3 read as Atom 1.0".to_owned());
        }
        "feed" | "entry" if !strict_atom => plan.atom_types = true,
        "rss" => {
            if let Some(ns) = &root.namespace {
                plan.drop_namespace = true;
                changes.push(format!("RSS elements in the namespace {ns} read as plain RSS"));
            }
            // (Versions feed-rs refuses, 0.93 or 2.01, are `repair`'s.)
            let mut channel = "<channel".to_owned();
            if let Some((prefix, ns)) = &root.prefix {
                plan.drop_prefix = Some(prefix.clone());
                changes.push(format!("RSS elements in the namespace {ns} read as plain RSS"));
                channel = format!("<{prefix}:channel");
            }
            if !text.contains(&channel) {
                if !text.contains("<item") {
                    return Err(DialectError::RssWithoutChannel);
                }
                plan.wrap_channel = true;
                changes.push("items outside a <channel> read as the channel's".to_owned());
            }
            // RSS 0.91 as some wrote it: items after the channel closed.
            plan.items_into_channel = text
                .rfind("</channel>")
                .and_then(|end| text.get(end..))
                .is_some_and(|rest| rest.contains("<item"));
        }
        "RDF" => {
            if root.namespace.as_deref() == Some(RSS_090) {
                plan.rss_090 = true;
                changes.push("RSS 0.90 read as RSS 1.0".to_owned());
            }
            // Only when some item may lack a link (the channel has one too).
            plan.rdf_links = text.matches("<link").count() <= super::start_tags(text, "item");
        }
        _ => return Ok(None),
    }
    let nothing_to_do = !(plan.atom03
        || plan.atom_types
        || plan.drop_namespace
        || plan.drop_prefix.is_some()
        || plan.wrap_channel
        || plan.rss_090
        || plan.rdf_links
        || plan.items_into_channel);
    if nothing_to_do {
        return Ok(None);
    }
    let Some((text, more)) = rewrite(text, &plan) else {
        return Ok(None);
    };
    changes.extend(more);
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(Rewritten { text, changes }))
}

/// An entity reference as text: a predefined or numeric one decoded, any
/// other kept as written (an HTML `&nbsp;` in escaped content must not cost
/// the rewrite of the whole document).
fn entity_text(reference: &[u8]) -> String {
    let entity = format!("&{};", String::from_utf8_lossy(reference));
    quick_xml::escape::unescape(&entity).map_or(entity.clone(), |text| text.into_owned())
}

/// How an Atom text construct's content is carried over.
enum Treatment {
    /// Kept, with this `type` (None: the attribute stays as it is).
    Keep(Option<&'static str>),
    /// Base64 in the document: decoded, then `html` or `text`.
    Base64(&'static str),
    /// Markup inline (Atom 0.3 `mode="xml"`, an XML MIME type): kept as escaped HTML.
    Markup,
}

const TEXT_CONSTRUCTS: [&[u8]; 8] = [
    b"title",
    b"subtitle",
    b"summary",
    b"content",
    b"rights",
    b"tagline",
    b"copyright",
    b"info",
];

fn treatment(start: &BytesStart<'_>, atom03: bool) -> Treatment {
    let (mut ty, mut mode, mut src) = (None, None, false);
    for attribute in start.attributes().flatten() {
        let value = String::from_utf8_lossy(&attribute.value)
            .trim()
            .to_ascii_lowercase();
        match attribute.key.as_ref() {
            b"type" => ty = Some(value),
            b"mode" => mode = Some(value),
            b"src" => src = true,
            _ => {}
        }
    }
    if src {
        return Treatment::Keep(None);
    }
    // Atom 0.3's defaults: `text/plain`, carried as XML.
    let ty = ty.unwrap_or_else(|| if atom03 { "text/plain" } else { "text" }.to_owned());
    let mode = mode.as_deref().unwrap_or(if atom03 { "xml" } else { "" });
    let keyword = matches!(ty.as_str(), "text" | "html" | "xhtml");
    let kind = match ty.as_str() {
        "xhtml" | "application/xhtml+xml" => "xhtml",
        t if t.contains("html") => "html",
        "text" => "text",
        t if t.starts_with("text/") => "text",
        t if t.ends_with("+xml") || t.ends_with("/xml") => "xhtml",
        _ => "binary",
    };
    match (mode, kind) {
        ("base64", "text") => Treatment::Base64("text"),
        ("base64", _) | (_, "binary") => Treatment::Base64("html"),
        ("escaped", "xhtml" | "html") => Treatment::Keep(Some("html")),
        ("escaped", _) => Treatment::Keep(Some("text")),
        (_, "xhtml") if keyword && !atom03 => Treatment::Keep(None),
        (_, "xhtml") => Treatment::Markup,
        ("xml", "html") => Treatment::Markup,
        _ if keyword => Treatment::Keep(None),
        (_, "html") => Treatment::Keep(Some("html")),
        _ => Treatment::Keep(Some("text")),
    }
}

/// The Atom 1.0 name of an Atom 0.3 element, where it has another.
fn atom03_name(name: &[u8], in_person: bool) -> Option<&'static str> {
    Some(match name {
        b"modified" => "updated",
        b"issued" => "published",
        b"tagline" => "subtitle",
        b"copyright" => "rights",
        // Atom 0.3's `created` has no Atom 1.0 element; kept out of the way.
        b"created" => "fd-created",
        b"url" | b"homepage" if in_person => "uri",
        _ => return None,
    })
}

/// The rewrite, one event at a time; `None` when the document does not read
/// as XML (feed-rs then reports it).
fn rewrite(text: &str, plan: &Plan) -> Option<(String, Vec<String>)> {
    let mut reader = Reader::from_str(text);
    let mut writer = Writer::new(Vec::with_capacity(text.len() + 64));
    let mut changes = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut deferred_channel_end = false;
    let (mut decoded, mut inlined, mut retyped, mut moved, mut linked) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    loop {
        let event = reader.read_event().ok()?;
        match event {
            Event::Eof => break,
            Event::Start(start) => {
                let depth = stack.len();
                let local = start.local_name().as_ref().to_vec();
                let unprefixed = start.name().prefix().is_none();
                let mut start = start.into_owned();
                if depth > 0 && has_prefix(&start, plan) {
                    start = renamed(&start, &String::from_utf8_lossy(&local));
                }
                if depth == 0 {
                    start = root_start(&start, plan);
                    stack.push(start.name().as_ref().to_vec());
                    writer.write_event(Event::Start(start)).ok()?;
                    if plan.wrap_channel {
                        writer
                            .write_event(Event::Start(BytesStart::new("channel")))
                            .ok()?;
                    }
                    continue;
                } else if plan.atom03 && unprefixed {
                    let in_person = stack
                        .last()
                        .is_some_and(|p| matches!(p.as_slice(), b"author" | b"contributor"));
                    if let Some(name) = atom03_name(&local, in_person) {
                        start = renamed(&start, name);
                    }
                }
                if plan.atom_types && unprefixed && depth > 0 && TEXT_CONSTRUCTS.contains(&local.as_slice()) {
                    let name = start.name().as_ref().to_vec();
                    match treatment(&start, plan.atom03) {
                        Treatment::Keep(None) => {}
                        Treatment::Keep(Some(ty)) => {
                            // Atom 0.3's implicit `text/plain` is no degradation.
                            let explicit = start
                                .attributes()
                                .flatten()
                                .any(|a| matches!(a.key.as_ref(), b"type" | b"mode"));
                            retyped += usize::from(explicit);
                            start = with_type(&start, ty);
                        }
                        Treatment::Base64(ty) => {
                            let inner = inner_text(&mut reader, &name)?;
                            let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
                            let text = base64::engine::general_purpose::STANDARD
                                .decode(compact)
                                .ok()
                                .and_then(|bytes| String::from_utf8(bytes).ok());
                            // Not base64 of text after all (an unknown type on a
                            // plain title): kept as the text it is.
                            let (body, ty) = match text {
                                Some(text) => {
                                    decoded += 1;
                                    (text, ty)
                                }
                                None => {
                                    retyped += 1;
                                    (inner, "text")
                                }
                            };
                            write_text_element(&mut writer, &with_type(&start, ty), &body).ok()?;
                            continue;
                        }
                        Treatment::Markup => {
                            let markup = inner_markup(&mut reader, &name)?;
                            inlined += 1;
                            write_text_element(&mut writer, &with_type(&start, "html"), &markup).ok()?;
                            continue;
                        }
                    }
                }
                if plan.rdf_links && depth == 1 && local == b"item" {
                    let (events, has_link) = item_events(&mut reader, &start)?;
                    let about = attribute(&start, b"about");
                    writer.write_event(Event::Start(start.borrow())).ok()?;
                    if !has_link {
                        // feed-rs drops an RSS 1.0 item without a link; the
                        // marker keeps it and is removed again after.
                        linked += 1;
                        let link = about.unwrap_or_else(|| NO_LINK.to_owned());
                        write_text_element(&mut writer, &BytesStart::new("link"), &link).ok()?;
                    }
                    for event in events {
                        writer.write_event(event).ok()?;
                    }
                    continue;
                }
                if plan.items_into_channel && depth == 1 && local == b"item" && deferred_channel_end {
                    moved += 1;
                }
                stack.push(start.name().as_ref().to_vec());
                writer.write_event(Event::Start(start)).ok()?;
            }
            Event::Empty(start) => {
                let mut start = start.into_owned();
                if !stack.is_empty() && has_prefix(&start, plan) {
                    let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    start = renamed(&start, &local);
                }
                if stack.is_empty() {
                    start = root_start(&start, plan);
                } else if plan.atom03 && start.name().prefix().is_none() {
                    let in_person = stack
                        .last()
                        .is_some_and(|p| matches!(p.as_slice(), b"author" | b"contributor"));
                    if let Some(name) = atom03_name(start.local_name().as_ref(), in_person) {
                        start = renamed(&start, name);
                    }
                }
                writer.write_event(Event::Empty(start)).ok()?;
            }
            Event::End(end) => {
                let name = stack.pop().unwrap_or_else(|| end.name().as_ref().to_vec());
                if plan.items_into_channel && stack.len() == 1 && end.local_name().as_ref() == b"channel" {
                    deferred_channel_end = true;
                    continue;
                }
                if stack.is_empty() && (plan.wrap_channel || plan.items_into_channel && deferred_channel_end)
                {
                    writer.write_event(Event::End(BytesEnd::new("channel"))).ok()?;
                }
                // The name as opened: a renamed element closes under its new name.
                let name = String::from_utf8_lossy(&name).into_owned();
                writer.write_event(Event::End(BytesEnd::new(name))).ok()?;
            }
            other => writer.write_event(other).ok()?,
        }
    }
    for (n, one, many, what) in [
        (decoded, "text", "texts", "decoded from base64"),
        (inlined, "text", "texts", "of inline XML read as HTML"),
        (
            retyped,
            "text",
            "texts",
            "with a media type or mode read as plain text or HTML",
        ),
        (moved, "item", "items", "after </channel> read as the channel's"),
        (
            linked,
            "item",
            "items",
            "without <link> kept (linked by rdf:about where it has one)",
        ),
    ] {
        if n > 0 {
            changes.push(format!("{} {what}", crate::text::count(n, one, many)));
        }
    }
    let text = String::from_utf8(writer.into_inner()).ok()?;
    Some((text, changes))
}

/// The root element with its namespace and version as feed-rs reads them.
fn root_start(start: &BytesStart<'_>, plan: &Plan) -> BytesStart<'static> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let name = match (&plan.drop_prefix, name.split_once(':')) {
        (Some(prefix), Some((p, local))) if p == prefix => local.to_owned(),
        _ => name,
    };
    let mut out = BytesStart::new(name);
    for attribute in start.attributes().flatten() {
        let key = attribute.key.as_ref();
        let value = String::from_utf8_lossy(&attribute.value).into_owned();
        let replaced: Option<Cow<'_, str>> = match key {
            b"xmlns" if plan.drop_namespace => continue,
            b"xmlns" if plan.atom03 => Some(ATOM_10.into()),
            b"xmlns" if plan.rss_090 => Some(RSS_10.into()),
            b"version" if plan.atom03 => continue,
            _ => None,
        };
        let key = String::from_utf8_lossy(key).into_owned();
        match replaced {
            Some(value) => out.push_attribute((key.as_str(), value.as_ref())),
            // Raw, as it was escaped in the document.
            None => out.push_attribute(quick_xml::events::attributes::Attribute {
                key: quick_xml::name::QName(key.as_bytes()),
                value: Cow::Borrowed(value.as_bytes()),
            }),
        }
    }
    out
}

/// Whether `start` carries the prefix the plan drops.
fn has_prefix(start: &BytesStart<'_>, plan: &Plan) -> bool {
    match (&plan.drop_prefix, start.name().prefix()) {
        (Some(drop), Some(prefix)) => prefix.as_ref() == drop.as_bytes(),
        _ => false,
    }
}

fn renamed(start: &BytesStart<'_>, name: &str) -> BytesStart<'static> {
    let mut out = BytesStart::new(name.to_owned());
    out.extend_attributes(start.attributes().flatten());
    out.into_owned()
}

/// `start` with `type` set to `ty` and Atom 0.3's `mode` dropped.
fn with_type(start: &BytesStart<'_>, ty: &str) -> BytesStart<'static> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut out = BytesStart::new(name);
    out.extend_attributes(
        start
            .attributes()
            .flatten()
            .filter(|a| !matches!(a.key.as_ref(), b"type" | b"mode")),
    );
    out.push_attribute(("type", ty));
    out.into_owned()
}

fn attribute(start: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, start.decoder())
                .ok()
                .map(|v| v.trim().to_owned())
        })
        .filter(|v| !v.is_empty())
}

fn write_text_element(
    writer: &mut Writer<Vec<u8>>,
    start: &BytesStart<'_>,
    text: &str,
) -> std::io::Result<()> {
    writer.write_event(Event::Start(start.borrow()))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    writer.write_event(Event::End(BytesEnd::new(name)))
}

/// The unescaped text up to the end of the element `name` just opened.
fn inner_text(reader: &mut Reader<&[u8]>, name: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut depth = 0usize;
    loop {
        match reader.read_event().ok()? {
            Event::Text(text) => out.push_str(&text.xml_content(quick_xml::XmlVersion::Implicit1_0).ok()?),
            Event::CData(data) => out.push_str(&String::from_utf8_lossy(&data)),
            Event::GeneralRef(reference) => out.push_str(&entity_text(&reference)),
            Event::Start(_) => depth += 1,
            Event::End(end) if depth == 0 && end.name().as_ref() == name => return Some(out),
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// What the element `name` just opened holds, as HTML: its child elements
/// as written, or, when it has none, its text.
fn inner_markup(reader: &mut Reader<&[u8]>, name: &[u8]) -> Option<String> {
    let mut writer = Writer::new(Vec::new());
    let mut text = String::new();
    let (mut depth, mut elements) = (0usize, false);
    loop {
        let event = reader.read_event().ok()?;
        match &event {
            Event::Start(_) => {
                depth += 1;
                elements = true;
            }
            Event::Empty(_) => elements = true,
            Event::End(end) if depth == 0 && end.name().as_ref() == name => break,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0).ok()?),
            Event::CData(data) => text.push_str(&String::from_utf8_lossy(data)),
            Event::GeneralRef(reference) => text.push_str(&entity_text(reference)),
            Event::Eof => return None,
            _ => {}
        }
        writer.write_event(event).ok()?;
    }
    if elements {
        String::from_utf8(writer.into_inner()).ok()
    } else {
        Some(text)
    }
}

/// The events of an RSS 1.0 `<item>` just opened, through its end, and
/// whether it has a `<link>`.
fn item_events(reader: &mut Reader<&[u8]>, start: &BytesStart<'_>) -> Option<(Vec<Event<'static>>, bool)> {
    let name = start.name().as_ref().to_vec();
    let (mut events, mut depth, mut has_link) = (Vec::new(), 0usize, false);
    loop {
        let event = reader.read_event().ok()?.into_owned();
        match &event {
            Event::Start(child) | Event::Empty(child) => {
                if depth == 0 && child.name().as_ref() == b"link" {
                    has_link = true;
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(end) if depth == 0 && end.name().as_ref() == name.as_slice() => {
                events.push(event);
                return Some((events, has_link));
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => return None,
            _ => {}
        }
        events.push(event);
    }
}

#[cfg(test)]
mod tests;
