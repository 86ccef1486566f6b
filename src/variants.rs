//! Traditional → simplified Chinese folding, one character at a time.
//!
//! Keyword matching and story similarity fold both sides with [`fold`], so
//! that 朝鮮 and 朝鲜 count as the same word. The folding is per character,
//! with no phrase context: a traditional character with several simplified
//! forms folds to its most common one (乾 → 干, 於 → 于), and some distinct
//! characters fold together (後 and 后, 髮 and 發). That is fine for
//! comparing, not for display. Simplified text, and anything that is not
//! Chinese, is left as it is.
//!
//! The table is OpenCC's `TSCharacters.txt` (Apache-2.0, see
//! `LICENSES/OpenCC-Apache-2.0.txt`), turned into Rust by
//! `scripts/gen-variants.py`.

use std::borrow::Cow;

mod table;

use table::TRAD_TO_SIMP;

/// Below this (the start of CJK Extension A) no character folds: ASCII,
/// Latin, Cyrillic, kana and CJK punctuation skip the search.
const FIRST_FOLDED: char = '\u{3400}';

/// The simplified form of a traditional Chinese character; any other
/// character unchanged.
pub fn fold_char(c: char) -> char {
    if c < FIRST_FOLDED {
        return c;
    }
    match TRAD_TO_SIMP.binary_search_by_key(&c, |&(trad, _)| trad) {
        Ok(i) => TRAD_TO_SIMP.get(i).map_or(c, |&(_, simp)| simp),
        Err(_) => c,
    }
}

/// `text` with `map` applied to every character, in one pass (`map` built
/// on [`fold_char`] folds traditional characters to simplified). Borrowed
/// when nothing changes, which is the common case: non-Chinese and
/// simplified text costs one scan and no allocation.
pub fn fold_with(text: &str, map: impl Fn(char) -> char) -> Cow<'_, str> {
    let Some(start) = text.find(|c: char| map(c) != c) else {
        return Cow::Borrowed(text);
    };
    let (unchanged, rest) = text.split_at(start);
    let mut folded = String::with_capacity(text.len());
    folded.push_str(unchanged);
    folded.extend(rest.chars().map(map));
    Cow::Owned(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every traditional character folded to simplified, nothing else.
    fn fold(text: &str) -> Cow<'_, str> {
        fold_with(text, fold_char)
    }

    fn owned(text: &str) -> String {
        match fold(text) {
            Cow::Owned(s) => s,
            Cow::Borrowed(s) => panic!("{text:?} came back borrowed as {s:?}"),
        }
    }

    fn assert_borrowed(text: &str) {
        match fold(text) {
            Cow::Borrowed(s) => assert_eq!(s, text),
            Cow::Owned(s) => panic!("{text:?} was copied as {s:?}"),
        }
    }

    #[test]
    fn folds_traditional_words() {
        assert_eq!(owned("朝鮮"), "朝鲜");
        // OpenCC gives 臺 → 台 (not a separate 台 variant).
        assert_eq!(owned("臺灣"), "台湾");
        assert_eq!(owned("經濟"), "经济");
        assert_eq!(owned("習近平"), "习近平");
    }

    #[test]
    fn both_sides_meet() {
        assert_eq!(fold("朝鮮"), fold("朝鲜"));
        assert_eq!(fold("北韓與朝鮮半島"), fold("北韩与朝鲜半岛"));
    }

    #[test]
    fn keeps_the_text_around_a_fold() {
        assert_eq!(owned("News: 朝鮮 (2024), café"), "News: 朝鲜 (2024), café");
        assert_eq!(owned("a朝b鮮c"), "a朝b鲜c");
    }

    #[test]
    fn unchanged_text_is_borrowed() {
        assert_borrowed("");
        assert_borrowed("Plain ASCII, with digits 123 and punctuation!");
        assert_borrowed("Ünïcödé Latin, Кириллица, Ελληνικά");
        assert_borrowed("朝鲜半岛局势紧张，习近平会见外国领导人。");
    }

    #[test]
    fn kana_unchanged() {
        assert_borrowed("ひらがな カタカナ ｶﾀｶﾅ ー・「」");
        // Kanji that are also traditional hanzi do fold; the kana around them stay.
        assert_eq!(owned("東京で會った"), "东京で会った");
    }

    #[test]
    fn one_to_many_folds_to_the_first_form() {
        assert_eq!(fold_char('乾'), '干');
        assert_eq!(fold_char('於'), '于');
        assert_eq!(fold_char('髮'), '发');
        assert_eq!(fold_char('發'), '发');
        assert_eq!(fold_char('後'), '后');
    }

    #[test]
    fn outside_the_basic_plane() {
        assert_eq!(fold_char('𨧀'), '𬭊');
        assert_eq!(fold_char('𠀀'), '𠀀');
    }

    #[test]
    fn common_characters() {
        let expected = [
            ('國', '国'),
            ('東', '东'),
            ('車', '车'),
            ('門', '门'),
            ('說', '说'),
            ('們', '们'),
            ('個', '个'),
            ('這', '这'),
            ('來', '来'),
            ('時', '时'),
            ('會', '会'),
            ('學', '学'),
            ('對', '对'),
            ('為', '为'),
            ('電', '电'),
            ('長', '长'),
            ('開', '开'),
            ('問', '问'),
            ('從', '从'),
            ('體', '体'),
        ];
        for (trad, simp) in expected {
            assert_eq!(fold_char(trad), simp, "{trad}");
            assert_eq!(fold_char(simp), simp, "{simp}");
        }
    }

    #[test]
    fn table_sorted_without_duplicates() {
        assert!(TRAD_TO_SIMP.len() > 3000, "{} entries", TRAD_TO_SIMP.len());
        for pair in TRAD_TO_SIMP.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} then {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn table_is_consistent() {
        for &(trad, simp) in TRAD_TO_SIMP {
            assert_ne!(trad, simp, "identity entry");
            assert!(trad >= FIRST_FOLDED, "{trad} is below the fast path's cut");
            // Idempotent: a simplified form is never itself folded further.
            assert_eq!(fold_char(simp), simp, "{trad} → {simp} → {}", fold_char(simp));
            assert_eq!(fold_char(trad), simp);
        }
    }
}
