//! caniemail's support data (the npm package's `data/caniemail.json`, under
//! [`super::test_data`]): loading it, mapping the features
//! [`super::html_scan`] finds to caniemail slugs, the latest tested support in
//! each checked Gmail and Outlook client, and the support table the template
//! test prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::html_scan::Feature;

/// A JSON object kept in document order: caniemail lists versions oldest
/// first, and version names ("2019", "16.80", "2024-01") do not sort.
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

impl<V> Ordered<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// caniemail's `caniemail.json`.
#[derive(Deserialize)]
pub struct CanIEmail {
    data: Vec<CaniFeature>,
}

/// One feature's page: its slug, title, notes and support by client.
#[derive(Deserialize)]
pub struct CaniFeature {
    slug: String,
    /// "<table> element", "width attribute", "max-width", …
    title: String,
    keywords: Option<String>,
    notes_by_num: Option<BTreeMap<String, String>>,
    /// client → platform → version → "y" | "n" | "a #1 #2" | "u".
    stats: Ordered<Ordered<Ordered<String>>>,
}

impl CanIEmail {
    /// Reads `caniemail.json` at `path`, panicking when it cannot.
    pub fn load(path: &Path) -> CanIEmail {
        let bytes = std::fs::read(path).expect("read caniemail.json");
        serde_json::from_slice(&bytes).expect("caniemail.json has the documented shape")
    }

    /// The feature page for `slug`.
    pub fn feature(&self, slug: &str) -> Option<&CaniFeature> {
        self.data.iter().find(|f| f.slug == slug)
    }

    /// The caniemail slug that covers `feature`, if caniemail has one.
    pub fn slug_of(&self, feature: &Feature) -> Option<String> {
        let known = |slug: String| self.feature(&slug).is_some().then_some(slug);
        // `html-style` is the element, not the attribute: titles tell them apart.
        let attribute = |slug: String| {
            self.feature(&slug)
                .is_some_and(|f| f.title.contains("attribute"))
                .then_some(slug)
        };
        let element = |slug: String| {
            self.feature(&slug)
                .is_some_and(|f| !f.title.contains("attribute"))
                .then_some(slug)
        };
        match feature {
            Feature::Doctype => known("html-doctype".to_owned()),
            Feature::Comment => known("html-comments".to_owned()),
            Feature::CssComment => known("css-comments".to_owned()),
            Feature::Element(name) => match name.as_str() {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => known("html-h1-h6".to_owned()),
                "tr" | "td" | "th" | "tbody" | "thead" | "tfoot" => known("html-table".to_owned()),
                "ul" | "ol" | "li" | "dl" | "dt" | "dd" => known("html-lists".to_owned()),
                _ => element(format!("html-{name}")),
            },
            Feature::Attribute(name) => {
                attribute(format!("html-{name}")).or_else(|| attribute(format!("html-{name}-attribute")))
            }
            Feature::AnchorLink => known("html-anchor-links".to_owned()),
            Feature::MailtoLink => known("html-mailto-links".to_owned()),
            Feature::MetaColorScheme => known("html-meta-color-scheme".to_owned()),
            // `border-bottom` is in css-border's keywords; `padding-left` is
            // covered by css-padding, whose description names the sides.
            // Keywords are search words too (`css-accent-color` lists "color"),
            // so only a keyword that extends the slug's own property counts.
            Feature::Property(name) => known(format!("css-{name}"))
                .or_else(|| {
                    self.data
                        .iter()
                        .find(|f| {
                            let own = f.slug.strip_prefix("css-").unwrap_or_default();
                            f.keywords.as_deref().is_some_and(|k| {
                                k.split(',').any(|k| k.trim() == name && name.starts_with(own))
                            })
                        })
                        .map(|f| f.slug.clone())
                })
                .or_else(|| {
                    ["-top", "-right", "-bottom", "-left"]
                        .iter()
                        .find_map(|side| name.strip_suffix(side))
                        .and_then(|base| known(format!("css-{base}")))
                }),
            Feature::Display(value) => match value.as_str() {
                "none" => known("css-display-none".to_owned()),
                "flex" | "inline-flex" => known("css-display-flex".to_owned()),
                "grid" | "inline-grid" => known("css-display-grid".to_owned()),
                _ => known("css-display".to_owned()),
            },
            Feature::Important => known("css-important".to_owned()),
            Feature::Unit(unit) if unit == "%" => known("css-unit-percent".to_owned()),
            Feature::Unit(unit) => known(format!("css-unit-{unit}")),
            Feature::Function(name) if name == "var" => known("css-variables".to_owned()),
            Feature::Function(name) => known(format!("css-{name}"))
                .or_else(|| known(format!("css-function-{name}")))
                .or_else(|| known(format!("css-unit-{name}"))),
            Feature::SystemFont => known("css-sytem-ui".to_owned()),
            Feature::AtRule(name) => known(format!("css-at-{name}")),
            // Width queries are what `css-at-media` itself is tested with.
            Feature::Media(name) if matches!(name.as_str(), "min-width" | "max-width") => {
                known("css-at-media".to_owned())
            }
            Feature::Media(name) => known(format!("css-at-media-{name}")),
            Feature::Selector(kind) => known(format!("css-{kind}")),
        }
    }
}

impl CaniFeature {
    /// The most recently tested version's support, e.g. `("2019", "a #1 #2")`.
    pub fn latest(&self, client: &str, platform: &str) -> Option<(&str, &str)> {
        let versions = self.stats.get(client)?.get(platform)?;
        versions.0.last().map(|(v, s)| (v.as_str(), s.as_str()))
    }

    fn note(&self, number: &str) -> &str {
        self.notes_by_num
            .as_ref()
            .and_then(|notes| notes.get(number))
            .map_or("(no text)", String::as_str)
    }
}

/// The clients the digest must work in: (client, platform, column label).
pub const CHECKED: [(&str, &str, &str); 8] = [
    ("gmail", "desktop-webmail", "G web"),
    ("gmail", "ios", "G iOS"),
    ("gmail", "android", "G And"),
    ("outlook", "windows", "O Win"),
    ("outlook", "outlook-com", "O .com"),
    ("outlook", "macos", "O mac"),
    ("outlook", "ios", "O iOS"),
    ("outlook", "android", "O And"),
];

/// Used features without a caniemail page that every client has always handled.
const BASIC_ELEMENTS: [&str; 5] = ["html", "head", "meta", "title", "a"];
const BASIC_ATTRIBUTES: [&str; 12] = [
    "href", "src", "alt", "class", "id", "style", "name", "content", "charset", "border", "bgcolor", "rel",
];
const BASIC_PROPERTIES: [&str; 2] = ["color", "font-family"];

/// Whether `feature` is one of the basics above.
pub fn is_basic(feature: &Feature) -> bool {
    match feature {
        Feature::Element(name) => BASIC_ELEMENTS.contains(&name.as_str()),
        Feature::Attribute(name) => BASIC_ATTRIBUTES.contains(&name.as_str()),
        Feature::Property(name) => BASIC_PROPERTIES.contains(&name.as_str()),
        _ => false,
    }
}

/// The support table the template test prints: a row per slug, a column per
/// [`CHECKED`] client, then the caniemail notes its cells cite.
pub struct Table<'a> {
    caniemail: &'a CanIEmail,
    /// (slug, note number) → the labels of the columns citing it.
    notes: BTreeMap<(String, String), BTreeSet<&'static str>>,
}

impl<'a> Table<'a> {
    /// Prints the header row.
    pub fn start(caniemail: &'a CanIEmail) -> Table<'a> {
        let header: Vec<String> = CHECKED
            .iter()
            .map(|(_, _, label)| format!("{label:<10}"))
            .collect();
        println!("{:<36} {:<34} {}", "caniemail slug", "used as", header.join(""));
        Table {
            caniemail,
            notes: BTreeMap::new(),
        }
    }

    /// The cell for a client caniemail has no data for.
    pub fn no_data() -> String {
        format!("{:<10}", "-")
    }

    /// The cell showing `support` ("y", "a #1 #2", …) for `slug` in the column
    /// `label`, followed by `mark`; the notes it cites are printed at the end.
    pub fn cell(&mut self, slug: &str, label: &'static str, support: &str, mark: Option<char>) -> String {
        for number in support.split_whitespace().filter_map(|t| t.strip_prefix('#')) {
            self.notes
                .entry((slug.to_owned(), number.to_owned()))
                .or_default()
                .insert(label);
        }
        let mut cell = support.replace(' ', "");
        if let Some(mark) = mark {
            cell.push(mark);
        }
        format!("{cell:<10}")
    }

    /// Prints the row of `slug`, which the digest uses as `features`.
    pub fn row(&self, slug: &str, features: &[&Feature], cells: &[String]) {
        let used_as: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        let used_as: String = used_as.join(" ").chars().take(34).collect();
        println!("{slug:<36} {used_as:<34} {}", cells.join(""));
    }

    /// Prints the notes the cells cite, with their text.
    pub fn notes(&self) {
        println!("notes:");
        for ((slug, number), labels) in &self.notes {
            let data = self.caniemail.feature(slug).expect("known slug");
            let labels: Vec<&str> = labels.iter().copied().collect();
            println!(
                "  {slug} #{number} [{}]: {}",
                labels.join(", "),
                data.note(number)
            );
        }
    }
}
