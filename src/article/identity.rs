//! Which item of a document is which: the identity rule applied within the
//! whole document, so that distinct items never share an id.
//!
//! An item is named by its guid, else its link, else its title and date. A
//! guid or link that repeats across the items of one document names none of
//! them on its own: such items are told apart by more of what they carry
//! (the link with its fragment, then the title, then the date), the way
//! Miniflux and feedparser-based readers fall back to content. Only items
//! that agree on all of it are one item listed twice.
//!
//! A rule that looks at the document makes an id depend on the other items,
//! so each item also carries the forms it may have been recorded under
//! before: by an earlier poll whose document did not make it ambiguous, or
//! by an earlier version of feed-digest (which dropped the fragment and did
//! not look across items). [`Identity::alternates`] name this item alone and
//! are trusted as they are; [`Identity::shared`] may name a sibling too, and
//! the caller confirms it (by the stored title) before trusting it.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{ArticleId, Item, links_of};

/// How one item of a document is identified.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Readable: `guid:…`, `link:…`, `link+title:…`, … (shown by `fetch`).
    pub text: String,
    pub id: ArticleId,
    /// Other forms that name this item and no other in this document.
    pub alternates: Vec<ArticleId>,
    /// Coarser forms it may have had in an earlier document, finest first,
    /// that other items of this document share: known under one, the item
    /// may be this one or a sibling.
    pub shared: Vec<ArticleId>,
    /// Its id is one an earlier version gave a sibling too: a hit must be
    /// confirmed like a shared form.
    pub confirm: bool,
    /// Its finest form (the date in it) when finer than its id: what the
    /// item is recorded under too when its id must be confirmed, so that
    /// it is known once the body that confirms it has gone.
    pub finest: Option<ArticleId>,
    /// The link that finds this item's copies in other feeds and its own
    /// regenerated guids: `None` when that link repeats in the document.
    pub link_key: Option<String>,
    /// Why the guid or link alone did not do, when it did not.
    pub told_apart: Option<Ambiguity>,
    /// The same guid, link, title and date as an earlier item of the
    /// document: one item listed twice.
    pub duplicate: bool,
}

/// Why an item needed more than its guid or link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ambiguity {
    /// Its guid repeats in the document.
    SharedGuid,
    /// It has no guid and its link repeats in the document.
    SharedLink,
    /// No guid, no link, and its title and date repeat.
    SharedTitle,
}

impl Ambiguity {
    pub fn describe(self) -> &'static str {
        match self {
            Ambiguity::SharedGuid => "guid shared with other items",
            Ambiguity::SharedLink => "link shared with other items",
            Ambiguity::SharedTitle => "title and date shared with other items",
        }
    }
}

/// The candidate identities of one item, coarsest first; each refines the one
/// before, so an item unique at one level is unique at every later one.
struct Forms {
    levels: Vec<String>,
    /// What feed-digest before 0.2 used (fragment dropped, no look across items).
    legacy: String,
    ambiguity: Ambiguity,
}

/// `bare` and `full`: the item's link as [`super::canonical_link`] and
/// [`super::identity_link`] give it.
fn forms(item: &Item, bare: Option<&String>, full: Option<&String>, guid_repeats_legacy: bool) -> Forms {
    let title = &item.title;
    let date = item.published.map(|d| d.to_rfc3339()).unwrap_or_default();
    match (&item.guid, full, bare) {
        (Some(guid), Some(full), Some(bare)) => Forms {
            levels: vec![
                format!("guid:{guid}"),
                format!("guid+link:{guid}\n{bare}"),
                format!("guid+link+title:{guid}\n{full}\n{title}"),
                format!("guid+link+title+date:{guid}\n{full}\n{title}\n{date}"),
            ],
            legacy: if guid_repeats_legacy {
                format!("guid+link:{guid}\n{bare}")
            } else {
                format!("guid:{guid}")
            },
            ambiguity: Ambiguity::SharedGuid,
        },
        (Some(guid), _, _) => Forms {
            levels: vec![
                format!("guid:{guid}"),
                format!("guid+title:{guid}\n{title}"),
                format!("guid+title+date:{guid}\n{title}\n{date}"),
            ],
            legacy: format!("guid:{guid}"),
            ambiguity: Ambiguity::SharedGuid,
        },
        (None, Some(full), Some(bare)) => Forms {
            // A fragment is kept: pages that list several items (a daily
            // page, `26.html#a080605`) name each item by its anchor.
            levels: vec![
                format!("link:{full}"),
                format!("link+title:{full}\n{title}"),
                format!("link+title+date:{full}\n{title}\n{date}"),
            ],
            legacy: format!("link:{bare}"),
            ambiguity: Ambiguity::SharedLink,
        },
        _ => Forms {
            levels: vec![
                format!("title+date:{title}\n{date}"),
                format!("title+date+text:{title}\n{date}\n{}", text_hash(&item.text)),
            ],
            legacy: format!("title+date:{title}\n{date}"),
            ambiguity: Ambiguity::SharedTitle,
        },
    }
}

fn text_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The identity of every item of one document of the feed `feed_key`, in order.
pub fn identify(feed_key: &str, items: &[Item]) -> Vec<Identity> {
    let mut guid_counts: HashMap<&str, usize> = HashMap::new();
    for guid in items.iter().filter_map(|i| i.guid.as_deref()) {
        *guid_counts.entry(guid).or_default() += 1;
    }
    // Each link parsed once, for both its forms.
    let (bare, full): (Vec<Option<String>>, Vec<Option<String>>) = items
        .iter()
        .map(|i| match i.link.as_deref().map(links_of) {
            Some((bare, full)) => (Some(bare), Some(full)),
            None => (None, None),
        })
        .unzip();
    let all: Vec<Forms> = items
        .iter()
        .zip(bare.iter().zip(&full))
        .map(|(item, (bare, full))| {
            let repeats = item
                .guid
                .as_deref()
                .is_some_and(|g| guid_counts.get(g).is_some_and(|&n| n > 1));
            forms(item, bare.as_ref(), full.as_ref(), repeats)
        })
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for forms in &all {
        for level in &forms.levels {
            *counts.entry(level.as_str()).or_default() += 1;
        }
    }
    let mut legacy_counts: HashMap<&str, usize> = HashMap::new();
    for forms in &all {
        *legacy_counts.entry(forms.legacy.as_str()).or_default() += 1;
    }
    let link_keys = link_keys(items, bare, full, &guid_counts);
    let mut seen_final: HashSet<&str> = HashSet::new();
    all.iter()
        .zip(link_keys)
        .map(|(forms, link_key)| {
            let last = forms.levels.len() - 1;
            let chosen = (0..=last)
                .find(|&level| counts.get(forms.levels[level].as_str()) == Some(&1))
                .unwrap_or(last);
            let text = forms.levels[chosen].clone();
            let duplicate = chosen == last
                && counts.get(text.as_str()).is_some_and(|&n| n > 1)
                && !seen_final.insert(forms.levels[last].as_str());
            let hash = |form: &str| ArticleId::hash(feed_key, form);
            // Finer forms, and the old form where it names this item alone.
            let mut alternates: Vec<ArticleId> = forms.levels[chosen + 1..].iter().map(|f| hash(f)).collect();
            let legacy_alone = legacy_counts.get(forms.legacy.as_str()) == Some(&1);
            // Not when the old form is one of this item's coarser forms: a
            // sibling may have it now (a form they share), and a shared
            // form counts only once the stored title confirms it (below).
            if legacy_alone && !forms.levels.contains(&forms.legacy) {
                alternates.push(hash(&forms.legacy));
            }
            // Coarser forms, finest first: each may be this item's from an
            // earlier document, or a sibling's; the old form when siblings share it.
            let mut shared: Vec<ArticleId> = forms.levels[..chosen].iter().rev().map(|f| hash(f)).collect();
            if !legacy_alone && forms.legacy != text && !forms.levels[..chosen].contains(&forms.legacy) {
                shared.push(hash(&forms.legacy));
            }
            Identity {
                id: hash(&text),
                // The old form, shared with a sibling, is this item's id: an
                // old store may hold it for the sibling (`day.html#p1` and
                // `day.html` were one id).
                confirm: !legacy_alone && forms.legacy == text,
                finest: (chosen < last).then(|| hash(&forms.levels[last])),
                text,
                alternates,
                shared,
                link_key,
                told_apart: (chosen > 0).then_some(forms.ambiguity),
                duplicate,
            }
        })
        .collect()
}

/// Each item's link for the links index (its copies in other feeds, its
/// regenerated guids): its canonical link; with the fragment kept when
/// items of the document differ only by fragment; none when even that
/// repeats, or the item's guid does (a link that does not single out one
/// item is no key). `bare` and `full` are the items' links in both forms.
fn link_keys(
    items: &[Item],
    bare: Vec<Option<String>>,
    full: Vec<Option<String>>,
    guid_counts: &HashMap<&str, usize>,
) -> Vec<Option<String>> {
    let count = |keys: &[Option<String>]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for key in keys.iter().flatten() {
            *counts.entry(key.clone()).or_default() += 1;
        }
        counts
    };
    let (bare_counts, full_counts) = (count(&bare), count(&full));
    items
        .iter()
        .zip(bare.into_iter().zip(full))
        .map(|(item, (bare, full))| {
            if item
                .guid
                .as_deref()
                .is_some_and(|g| guid_counts.get(g).is_some_and(|&n| n > 1))
            {
                None
            } else if bare.as_ref().is_some_and(|k| bare_counts.get(k) == Some(&1)) {
                bare
            } else {
                full.filter(|k| full_counts.get(k) == Some(&1))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::tests::item;

    fn distinct(ids: &[Identity]) -> usize {
        ids.iter()
            .map(|i| &i.id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    #[test]
    fn items_sharing_one_link_and_no_guid_stay_apart() {
        let items: Vec<Item> = (0..99)
            .map(|n| item(None, Some("https://nixos.org/news.html"), &format!("NixOS {n}")))
            .collect();
        let ids = identify("f", &items);
        assert_eq!(distinct(&ids), 99);
        assert!(ids.iter().all(|i| i.told_apart == Some(Ambiguity::SharedLink)));
        assert!(
            ids.iter().all(|i| i.link_key.is_none()),
            "a shared link indexes nothing"
        );
        // Each may have been recorded under the bare link: confirmation needed.
        let bare = ArticleId::hash("f", "link:https://nixos.org/news.html");
        assert!(ids.iter().all(|i| i.shared == [bare.clone()]));
    }

    #[test]
    fn links_that_differ_by_fragment_are_distinct_and_stable() {
        let links = ["https://s.com/26.html#a080605", "https://s.com/26.html#a081212"];
        let items: Vec<Item> = links.iter().map(|l| item(None, Some(l), "")).collect();
        let ids = identify("f", &items);
        assert_eq!(distinct(&ids), 2);
        assert_eq!(ids[0].text, "link:https://s.com/26.html#a080605");
        // The same item alone in a later document keeps its id.
        let alone = identify("f", &items[1..]);
        assert_eq!(alone[0].id, ids[1].id);
        // Alone, the bare link (an earlier version's id) names only it.
        assert!(
            alone[0]
                .alternates
                .contains(&ArticleId::hash("f", "link:https://s.com/26.html"))
        );
        // Together, the bare link is shared: it needs confirming.
        assert_eq!(
            ids[0].shared,
            [ArticleId::hash("f", "link:https://s.com/26.html")]
        );
        assert_eq!(ids[0].link_key.as_deref(), Some("https://s.com/26.html#a080605"));
        // Alone on its page, it is found under the page's link, as copies in
        // other feeds (without the anchor) are.
        assert_eq!(alone[0].link_key.as_deref(), Some("https://s.com/26.html"));
    }

    #[test]
    fn an_item_unique_today_is_found_under_the_form_it_had_among_siblings() {
        let a = item(None, Some("https://x.org/news"), "A");
        let b = item(None, Some("https://x.org/news"), "B");
        let together = identify("f", &[a.clone(), b]);
        let alone = identify("f", &[a]);
        assert_eq!(alone[0].text, "link:https://x.org/news");
        assert!(alone[0].alternates.contains(&together[0].id));
    }

    #[test]
    fn a_unique_guid_is_the_identity_as_before() {
        let items_g1 = || item(Some("g1"), None, "");
        let ids = identify(
            "f",
            &[
                item(Some("g1"), Some("https://a/1"), "A"),
                item(Some("g2"), Some("https://a/1"), "B"),
            ],
        );
        assert_eq!(ids[0].text, "guid:g1");
        assert_eq!(ids[0].id, ArticleId::for_item("f", &items_g1(), false));
        assert!(ids[0].shared.is_empty(), "a unique guid names only its item");
        assert!(ids[0].link_key.is_none(), "the link repeats in the document");
    }

    #[test]
    fn a_repeated_guid_adds_the_link_then_the_title() {
        let items = [
            item(Some("g"), Some("https://a/1"), "A"),
            item(Some("g"), Some("https://a/2"), "B"),
            item(Some("g"), Some("https://a/2"), "C"),
        ];
        let ids = identify("f", &items);
        assert_eq!(ids[0].text, "guid+link:g\nhttps://a/1");
        // The old rule's id for the first one is unchanged.
        assert_eq!(ids[0].id, ArticleId::for_item("f", &items[0], true));
        assert_eq!(distinct(&ids), 3);
        assert!(!ids.iter().any(|i| i.duplicate));
    }

    #[test]
    fn the_same_item_listed_twice_is_one_item() {
        let a = item(None, Some("https://a/1"), "A");
        let ids = identify("f", &[a.clone(), a]);
        assert_eq!(ids[0].id, ids[1].id);
        assert!(!ids[0].duplicate);
        assert!(ids[1].duplicate);
    }

    #[test]
    fn untitled_undated_items_without_links_are_told_apart_by_text() {
        let mut a = item(None, None, "");
        let mut b = item(None, None, "");
        a.text = "one".into();
        b.text = "two".into();
        let ids = identify("f", &[a, b]);
        assert_eq!(distinct(&ids), 2);
        assert_eq!(ids[0].told_apart, Some(Ambiguity::SharedTitle));
    }
}
