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

/// "Continue reading →", "Read more", "继续阅读", "阅读全文" and the like at the
/// end of an item, and a known sign-off block ("The post … appeared first on
/// …", "更多精彩内容请关注我们的公众号"): on every item of a feed, and in feeds
/// too short for [`strip_common`] to see them repeat.
static READ_MORE: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    Regex::new(concat!(
        // At the start of the block, or after a sentence's end (kept).
        r"(?i)(?:^|(?P<end>[.!?。！？…])\s*)",
        r"(?:\[(?:…|\.\.\.)\]|…|\.\.\.)?\s*",
        r"(?:(?:continue reading|read more|read the full (?:story|article|post)|read the rest of this (?:entry|post)|keep reading)\b",
        r"|继续阅读|阅读全文|阅读更多|查看全文|点击阅读全文|繼續閱讀|閱讀全文|閱讀更多)",
        r"[^.!?。！？]{0,120}$"
    ))
    .ok()
});

static SIGN_OFF: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:The post .{1,300} appeared first on .{1,200}\.?",
        r"|(?:更多|更多精彩|更多内容|更多资讯|更多新闻).{0,20}(?:请|敬请)?(?:关注|订阅|下载).{0,30}(?:公众号|微信|客户端|App|APP|app|网站)[^。！]*[。！]?",
        r"|\[(?:…|\.\.\.)\])$"
    ))
    .ok()
});

/// Removes known "read more" tails and sign-off blocks from an item's blocks.
pub fn strip_read_more(blocks: &mut Vec<String>) {
    let (Some(read_more), Some(sign_off)) = (READ_MORE.as_ref(), SIGN_OFF.as_ref()) else {
        return;
    };
    while blocks.last().is_some_and(|b| sign_off.is_match(b)) {
        blocks.pop();
    }
    if let Some(last) = blocks.last_mut()
        && let Some(found) = read_more.captures(last)
    {
        // Keep the sentence end before the phrase; all of it at the start.
        let cut = found.name("end").map_or(0, |end| end.end());
        last.truncate(cut);
        let kept = last.trim_end().len();
        last.truncate(kept);
        if last.is_empty() {
            blocks.pop();
        }
    }
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
    fn read_more_tails_and_sign_offs_go_the_article_stays() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["Body text.", "Continue reading Hello world →"], &["Body text."]),
            (&["Body text. Continue reading →"], &["Body text."]),
            (
                &["正文第一段。", "正文第二段。… 继续阅读 →"],
                &["正文第一段。", "正文第二段。"],
            ),
            (&["正文。", "阅读全文"], &["正文。"]),
            (
                &[
                    "Body [&hellip;]",
                    "The post Hello appeared first on Example Blog.",
                ],
                &["Body [&hellip;]"],
            ),
            (&["Body", "[…]"], &["Body"]),
            (
                &["新闻正文。", "更多精彩内容请关注我们的公众号。"],
                &["新闻正文。"],
            ),
            // Mid-text the phrase is the article's.
            (
                &["Read more books, she said. Then she left."],
                &["Read more books, she said. Then she left."],
            ),
            (&["He told me to read more."], &["He told me to read more."]),
            (
                &["We will keep reading the logs and report back"],
                &["We will keep reading the logs and report back"],
            ),
            (
                &["It lets you thread more calls"],
                &["It lets you thread more calls"],
            ),
        ];
        for (input, expected) in cases {
            let mut blocks: Vec<String> = input.iter().map(|s| (*s).to_owned()).collect();
            strip_read_more(&mut blocks);
            assert_eq!(blocks, *expected, "{input:?}");
        }
    }

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
