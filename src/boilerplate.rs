//! Blocks a feed repeats in its items — a mirror's promotional footer, "read
//! the English version" lines, share prompts — found by comparing the items of
//! one fetch, and removed. Pure.
//!
//! A block counts as boilerplate only when it stands at the same end (first or
//! last blocks) of most of the feed's items: a closing sentence that two
//! articles happen to share is the articles' own text and stays.

use regex::Regex;

/// The share of items a block must end (or start) to be boilerplate.
const MIN_SHARE: f64 = 0.8;
/// Fewer items than this and nothing can be told apart from the articles.
const MIN_ITEMS: usize = 3;

/// Removes the leading and trailing blocks most items share.
pub fn strip_common(items: &mut [Vec<String>]) {
    let with_text = items.iter().filter(|blocks| !blocks.is_empty()).count();
    if with_text < MIN_ITEMS {
        return;
    }
    let needed = (with_text as f64 * MIN_SHARE).ceil() as usize;
    let trailing = repeated(items, needed, |blocks, k| {
        blocks.len().checked_sub(k + 1).and_then(|i| blocks.get(i))
    });
    let leading = repeated(items, needed, |blocks, k| blocks.get(k));
    for blocks in items.iter_mut() {
        // Only from the ends, only while the end matches: a repeated block in
        // the middle of an article is the article's.
        while blocks.last().is_some_and(|last| trailing.contains(last)) {
            blocks.pop();
        }
        let skip = blocks.iter().take_while(|b| leading.contains(b)).count();
        blocks.drain(..skip);
    }
}

/// Blocks that stand at position `k` from one end (via `at`) in at least
/// `needed` items, for k = 0, 1, … while such a block exists.
fn repeated(
    items: &[Vec<String>],
    needed: usize,
    at: impl Fn(&Vec<String>, usize) -> Option<&String>,
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for k in 0..8 {
        let mut counts: Vec<(&String, usize)> = Vec::new();
        for blocks in items {
            if let Some(block) = at(blocks, k) {
                match counts.iter_mut().find(|(b, _)| *b == block) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((block, 1)),
                }
            }
        }
        match counts
            .into_iter()
            .filter(|(_, n)| *n >= needed)
            .max_by_key(|(_, n)| *n)
        {
            Some((block, _)) => found.push(block.clone()),
            None => break,
        }
    }
    found
}

/// Removes what the feed's own `strip` patterns match, block by block.
/// A feed's own `strip` rules from the config.
#[derive(Debug, Clone, Default)]
pub struct StripRules {
    /// Removed from each text block (paragraph).
    pub patterns: Vec<Regex>,
    /// Elements removed from the item's HTML before its text is taken.
    pub selectors: Vec<scraper::Selector>,
}

/// Removes the elements `selectors` match (share buttons, promo boxes).
pub fn strip_selected<'a>(html: &'a str, selectors: &[scraper::Selector]) -> std::borrow::Cow<'a, str> {
    if selectors.is_empty() || html.is_empty() {
        return std::borrow::Cow::Borrowed(html);
    }
    let mut document = scraper::Html::parse_fragment(html);
    let doomed: Vec<_> = selectors
        .iter()
        .flat_map(|selector| {
            document
                .select(selector)
                .map(|element| element.id())
                .collect::<Vec<_>>()
        })
        .collect();
    if doomed.is_empty() {
        return std::borrow::Cow::Borrowed(html);
    }
    for id in doomed {
        if let Some(mut node) = document.tree.get_mut(id) {
            node.detach();
        }
    }
    std::borrow::Cow::Owned(document.root_element().inner_html())
}

pub fn strip_patterns(blocks: &mut Vec<String>, patterns: &[Regex]) {
    if patterns.is_empty() {
        return;
    }
    for block in blocks.iter_mut() {
        for pattern in patterns {
            if pattern.is_match(block) {
                *block = pattern.replace_all(block, "").trim().to_owned();
            }
        }
    }
    blocks.retain(|b| !b.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_remove_elements_and_keep_the_rest() {
        let selectors: Vec<scraper::Selector> = ["div.share", "aside", "p[data-promo]"]
            .iter()
            .filter_map(|s| scraper::Selector::parse(s).ok())
            .collect();
        let html = "<p>正文第一段。</p><div class=\"share\"><a href=\"#\">分享到微博</a></div>\
                    <aside>广告</aside><p data-promo=\"1\">获取更多RSS</p><p>正文第二段。</p>";
        let kept = strip_selected(html, &selectors);
        assert_eq!(kept, "<p>正文第一段。</p><p>正文第二段。</p>");
        assert!(matches!(
            strip_selected("<p>x</p>", &selectors),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    fn item(blocks: &[&str]) -> Vec<String> {
        blocks.iter().map(|b| (*b).to_owned()).collect()
    }

    #[test]
    fn a_mirror_footer_on_every_item_goes() {
        let mut items = vec![
            item(&[
                "第一篇正文。",
                "翻译：示例新闻中文网",
                "获取更多RSS： https://mirror.example.net",
            ]),
            item(&[
                "第二篇正文。",
                "第二段。",
                "翻译：示例新闻中文网",
                "获取更多RSS： https://mirror.example.net",
            ]),
            item(&["第三篇正文。", "获取更多RSS： https://mirror.example.net"]),
            item(&[
                "第四篇正文。",
                "翻译：示例新闻中文网",
                "获取更多RSS： https://mirror.example.net",
            ]),
        ];
        strip_common(&mut items);
        assert_eq!(items[0], item(&["第一篇正文。", "翻译：示例新闻中文网"]));
        assert_eq!(items[2], item(&["第三篇正文。"]));
    }

    #[test]
    fn a_closing_sentence_two_articles_share_stays() {
        let shared = "The talks will resume next week.";
        let mut items = vec![
            item(&["Story one.", shared]),
            item(&["Story two.", shared]),
            item(&["Story three.", "Its own ending."]),
            item(&["Story four.", "Another ending."]),
            item(&["Story five.", "A last ending."]),
        ];
        let before = items.clone();
        strip_common(&mut items);
        assert_eq!(items, before);
    }

    #[test]
    fn leading_blocks_every_item_repeats_go_but_never_the_middle() {
        let mut items = vec![
            item(&[
                "Click here for the English version",
                "Text A",
                "Share this",
                "More A",
                "Share this",
            ]),
            item(&["Click here for the English version", "Text B", "Share this"]),
            item(&["Click here for the English version", "Text C", "Share this"]),
        ];
        strip_common(&mut items);
        assert_eq!(
            items[0],
            item(&["Text A", "Share this", "More A"]),
            "the middle one stays"
        );
        assert_eq!(items[1], item(&["Text B"]));
    }

    #[test]
    fn too_few_items_are_left_alone() {
        let mut items = vec![item(&["A", "footer"]), item(&["B", "footer"])];
        let before = items.clone();
        strip_common(&mut items);
        assert_eq!(items, before);
    }

    #[test]
    fn patterns_strip_inside_blocks() {
        let mut blocks = item(&[
            "正文。",
            "点击查看本文英文版。",
            "Share on Twitter | Share on Facebook",
        ]);
        let patterns = [
            Regex::new("点击查看本文英文版。?").ok(),
            Regex::new(r"(?i)share on \w+ ?\|? ?").ok(),
        ];
        let patterns: Vec<Regex> = patterns.into_iter().flatten().collect();
        strip_patterns(&mut blocks, &patterns);
        assert_eq!(blocks, item(&["正文。"]));
    }
}
