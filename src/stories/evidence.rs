//! What tells two reports of one event from two events of one kind: the
//! specifics. Two earthquakes in Japan, two heat warnings, two rulings
//! against one company share their words and their meaning; they differ in
//! the place, the name, the magnitude or the ordinal ("第十八次" / "第二十次").
//! Reports of one event name the same ones, or at least do not contradict
//! each other. Pure; no dictionary beyond the short gazetteer below.
//!
//! Counts are not specifics: a death toll rises between two reports of one
//! disaster. Identifiers are: a number with 级 / 号 / 次 / 届, an ordinal, a
//! "magnitude 6.3" or "Game 6".

/// An article's specifics: what its title names, and everything its title
/// and lead mention, to look the other side's up in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Specifics {
    title_ids: Vec<String>,
    ids: Vec<String>,
    /// Every number of the title, and of title and lead.
    title_numbers: Vec<String>,
    numbers: Vec<String>,
    /// Days of the month, months and weekdays the article names.
    dates: Dates,
    title_places: Vec<&'static str>,
    places: Vec<&'static str>,
    /// Latin-script names of the title, lower case.
    title_names: Vec<String>,
    /// The title's first word when capitalised: a name or just the start.
    title_first: Option<String>,
    /// Every word capitalised anywhere in title and lead, lower case.
    capitalised: Vec<String>,
    /// Title and lead, width-folded, simplified and lower case.
    text: String,
}

/// How two articles' specifics relate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Relation {
    /// Each title has an identifier number the other article lacks.
    pub ids_conflict: bool,
    /// Both titles have numbers and neither's is in the other article.
    pub numbers_conflict: bool,
    /// Both name a day, month or weekday, and not the same one.
    pub dates_conflict: bool,
    /// Each title names a place the other article does not mention.
    pub places_conflict: bool,
    /// Each title has a name the other article does not mention (same script
    /// only: across languages names are spelt differently).
    pub names_conflict: bool,
    /// Names of either title that both articles mention (at most 3).
    pub shared_names: u8,
}

impl Relation {
    /// Specifics that name differ (counts may differ in one story: a toll
    /// rises, so `numbers_conflict` is weighed, not decisive).
    pub fn conflict(&self) -> bool {
        self.ids_conflict || self.dates_conflict || self.places_conflict || self.names_conflict
    }
}

pub fn specifics(title: &str, lead: &str) -> Specifics {
    // Case kept: names are told by their capitals.
    let title = crate::topics::fold_forms(title);
    let lead = crate::topics::fold_forms(lead);
    let whole = format!("{title}\n{lead}");
    let mut title_numbers = numbers(&title);
    let mut numbers = numbers(&whole);
    let dates = Dates::of(&whole);
    let mut title_ids = identifiers(&title);
    let mut ids = identifiers(&whole);
    let mut title_places = places(&title);
    let mut places = places(&whole);
    let mut title_names = names(&title, &whole);
    let title_first = latin_words(&title)
        .first()
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(|w| w.to_lowercase())
        .filter(|w| COMMON.binary_search(&w.as_str()).is_err());
    let mut capitalised: Vec<String> = latin_words(&whole)
        .iter()
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(|w| w.to_lowercase())
        .collect();
    for list in [
        &mut title_ids,
        &mut ids,
        &mut title_numbers,
        &mut numbers,
        &mut title_names,
        &mut capitalised,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    for list in [&mut title_places, &mut places] {
        list.sort_unstable();
        list.dedup();
    }
    Specifics {
        title_ids,
        ids,
        title_numbers,
        numbers,
        dates,
        title_places,
        places,
        title_names,
        title_first,
        capitalised,
        text: whole.to_lowercase(),
    }
}

/// `same_script`: both sides mostly Chinese or both not (names are compared
/// within one script only).
pub fn relate(a: &Specifics, b: &Specifics, same_script: bool) -> Relation {
    let unshared = |mine: &[String], theirs: &[String]| mine.iter().any(|x| !theirs.contains(x));
    let ids_conflict = !a.title_ids.is_empty()
        && !b.title_ids.is_empty()
        && unshared(&a.title_ids, &b.ids)
        && unshared(&b.title_ids, &a.ids);
    let numbers_conflict = !a.title_numbers.is_empty()
        && !b.title_numbers.is_empty()
        && !a.title_numbers.iter().any(|x| b.numbers.contains(x))
        && !b.title_numbers.iter().any(|x| a.numbers.contains(x));
    let places_conflict = !a.title_places.is_empty()
        && !b.title_places.is_empty()
        && !a.title_places.iter().any(|p| b.places.contains(p))
        && !b.title_places.iter().any(|p| a.places.contains(p));
    let missing = |names: &[String], text: &str| names.iter().any(|n| !text.contains(n.as_str()));
    let names_conflict = same_script && missing(&a.title_names, &b.text) && missing(&b.title_names, &a.text);
    let mut candidates: Vec<&String> = [a, b]
        .iter()
        .flat_map(|s| s.title_names.iter().chain(&s.title_first))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let shared = candidates
        .iter()
        .filter(|n| a.capitalised.binary_search(n).is_ok() && b.capitalised.binary_search(n).is_ok())
        .count();
    Relation {
        ids_conflict,
        numbers_conflict,
        dates_conflict: a.dates.conflict(&b.dates),
        places_conflict,
        names_conflict,
        shared_names: shared.min(3) as u8,
    }
}

/// Every number: digits with their decimals (thousands separators dropped),
/// and Chinese numerals of two characters or more.
fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut end = i;
            let mut value = String::new();
            while end < chars.len() {
                let c = chars[end];
                let inside = matches!(c, '.' | ',') && chars.get(end + 1).is_some_and(char::is_ascii_digit);
                if c.is_ascii_digit() || (c == '.' && inside) {
                    value.push(c);
                } else if !(c == ',' && inside) {
                    break;
                }
                end += 1;
            }
            out.push(value);
            i = end;
        } else if let Some((value, end)) = chinese_number(&chars, i) {
            out.push(value.to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// The dates an article names: they tell two days' market reports apart.
#[derive(Debug, Clone, Default, PartialEq)]
struct Dates {
    days: Vec<u8>,
    months: Vec<u8>,
    weekdays: Vec<u8>,
}

impl Dates {
    fn of(text: &str) -> Dates {
        static CHINESE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
            // Every branch needs a character: an empty match at every position
            // would cost a search per character.
            regex::Regex::new(
                r"(\d{1,2})月(?:份)?(?:(\d{1,2})日)?|(\d{1,2})日|(?:周|星期)([一二三四五六日天])",
            )
            .ok()
        });
        static ENGLISH: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
            regex::Regex::new(
                // A month's full name alone counts; an abbreviation only with its
                // day ("Jan" is also a name).
                r"\b(?:(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|(January|February|March|April|May|June|July|August|September|October|November|December)\b(?: (\d{1,2})\b)?|(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.? (\d{1,2})\b)",
            )
            .ok()
        });
        let mut dates = Dates::default();
        let number = |m: Option<regex::Match<'_>>, max: u8| {
            m.and_then(|m| m.as_str().parse::<u8>().ok())
                .filter(|n| (1..=max).contains(n))
        };
        if let Some(re) = CHINESE.as_ref() {
            for c in re.captures_iter(text) {
                dates.months.extend(number(c.get(1), 12));
                dates.days.extend(number(c.get(2).or(c.get(3)), 31));
                if let Some(day) = c.get(4) {
                    let index = "一二三四五六"
                        .find(day.as_str())
                        .map_or(6, |b| b / '一'.len_utf8());
                    dates.weekdays.push(index as u8);
                }
            }
        }
        if let Some(re) = ENGLISH.as_ref() {
            const WEEKDAYS: [&str; 7] = [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            for c in re.captures_iter(text) {
                if let Some(day) = c.get(1) {
                    dates
                        .weekdays
                        .extend(WEEKDAYS.iter().position(|w| *w == day.as_str()).map(|i| i as u8));
                }
                for (month, day) in [(2, 3), (4, 5)] {
                    if let Some(name) = c.get(month) {
                        let name = name.as_str().get(..3).unwrap_or_default();
                        dates
                            .months
                            .extend(MONTHS.iter().position(|m| *m == name).map(|i| i as u8 + 1));
                        dates.days.extend(number(c.get(day), 31));
                    }
                }
            }
        }
        for list in [&mut dates.days, &mut dates.months, &mut dates.weekdays] {
            list.sort_unstable();
            list.dedup();
        }
        dates
    }

    /// The most precise kind both name (days, then weekdays, then months)
    /// has nothing in common: 5月8日 and 5月15日 are two days.
    fn conflict(&self, other: &Dates) -> bool {
        [
            (&self.days, &other.days),
            (&self.weekdays, &other.weekdays),
            (&self.months, &other.months),
        ]
        .iter()
        .find(|(a, b)| !a.is_empty() && !b.is_empty())
        .is_some_and(|(a, b)| !a.iter().any(|x| b.contains(x)))
    }
}

/// Numbers that name rather than count.
fn identifiers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let (value, end) = if chars[i].is_ascii_digit() {
            let mut end = i;
            while end < chars.len()
                && (chars[end].is_ascii_digit()
                    || (chars[end] == '.' && chars.get(end + 1).is_some_and(char::is_ascii_digit)))
            {
                end += 1;
            }
            (chars[i..end].iter().collect::<String>(), end)
        } else if let Some((value, end)) = chinese_number(&chars, i) {
            (value.to_string(), end)
        } else {
            i += 1;
            continue;
        };
        let before = word_before(&chars, start);
        let after = chars.get(end).copied();
        let after_word: String = chars[end..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
        let named = matches!(
            after,
            Some('级' | '号' | '次' | '届' | '期' | '代' | '组' | '批' | '轮')
        ) || (end > start && chars[start.saturating_sub(1)] == '第' && start > 0)
            || matches!(after_word.as_str(), "th" | "st" | "nd" | "rd")
            || matches!(
                before.as_str(),
                "magnitude" | "category" | "game" | "no" | "round" | "week" | "stage"
            );
        if named {
            out.push(value);
        }
        i = end.max(i + 1);
    }
    out
}

/// The ASCII word just before `at`, skipping spaces and a dot, lower case.
fn word_before(chars: &[char], at: usize) -> String {
    let mut end = at;
    while end > 0 && matches!(chars[end - 1], ' ' | '.') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && chars[start - 1].is_ascii_alphabetic() {
        start -= 1;
    }
    chars[start..end].iter().collect::<String>().to_ascii_lowercase()
}

/// A Chinese numeral (二十一, 十八, 两百) at `at`: its value and end.
fn chinese_number(chars: &[char], at: usize) -> Option<(u64, usize)> {
    let digit = |c: char| {
        "零一二三四五六七八九"
            .find(c)
            .map(|b| (b / '一'.len_utf8()) as u64)
    };
    let mut end = at;
    let (mut total, mut current) = (0u64, 0u64);
    while let Some(&c) = chars.get(end) {
        if c == '两' {
            current = 2;
        } else if let Some(d) = digit(c) {
            current = d;
        } else if let Some(unit) = match c {
            '十' => Some(10),
            '百' => Some(100),
            '千' => Some(1000),
            _ => None,
        } {
            total += current.max(1) * unit;
            current = 0;
        } else {
            break;
        }
        end += 1;
    }
    // A lone 一 or 十 is mostly a word ("一名", "十分"), not a number.
    let length = end - at;
    let ordinal = at > 0 && chars[at - 1] == '第';
    (length >= 2 || (length == 1 && ordinal)).then_some((total + current, end))
}

/// Latin-script names in `title`: capitalised words after its first, words
/// in capitals, and its first word when the article capitalises it again
/// later. Lower case.
fn names(title: &str, whole: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words = latin_words(title);
    let mut whole_words: Option<Vec<&str>> = None;
    for (index, word) in words.iter().enumerate() {
        let lower = word.to_lowercase();
        // Pure numbers are identifiers or counts; codes (H5N6, A320) are names.
        if COMMON.binary_search(&lower.as_str()).is_ok() || !word.chars().any(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let capitals = word.chars().filter(char::is_ascii_uppercase).count();
        let all_caps = capitals >= 2 && capitals == word.chars().filter(char::is_ascii_alphabetic).count();
        let capitalised = word.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let mut later = || {
            whole_words
                .get_or_insert_with(|| latin_words(whole))
                .iter()
                .skip(1)
                .any(|w| w == word && w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        };
        // A title in title case capitalises every word: then only words the
        // lead capitalises too count.
        if all_caps || (capitalised && (index > 0 || later()) && (!title_case(&words) || later())) {
            out.push(lower);
        }
    }
    out
}

fn title_case(words: &[&str]) -> bool {
    let long: Vec<&&str> = words.iter().filter(|w| w.len() > 3).collect();
    long.len() >= 3
        && long
            .iter()
            .all(|w| w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
}

/// Runs of ASCII letters, digits, inner hyphens and apostrophes; a final
/// possessive "'s" dropped.
fn latin_words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let bytes = text.as_bytes();
    for (at, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        let inner = matches!(c, '-' | '\'' | '’')
            && start.is_some()
            && bytes
                .get(at + c.len_utf8())
                .is_some_and(u8::is_ascii_alphanumeric);
        if c.is_ascii_alphanumeric() || inner {
            start.get_or_insert(at);
        } else if let Some(from) = start.take() {
            let word = &text[from..at];
            let word = word
                .strip_suffix("'s")
                .or_else(|| word.strip_suffix("’s"))
                .unwrap_or(word);
            out.push(word);
        }
    }
    out
}

fn places(text: &str) -> Vec<&'static str> {
    static FINDER: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::LazyLock::new(|| aho_corasick::AhoCorasick::new(PLACES).ok());
    if !text.chars().any(crate::text::is_cjk) {
        return Vec::new();
    }
    match FINDER.as_ref() {
        // One pass over the text for every name (overlaps included: 北海道 and 北海).
        Some(finder) => finder
            .find_overlapping_iter(text)
            .map(|m| PLACES[m.pattern().as_usize()])
            .collect(),
        None => PLACES.iter().copied().filter(|p| text.contains(p)).collect(),
    }
}

/// Words that are capitalised for grammar, not because they name (sorted).
const COMMON: &[&str] = &[
    "a", "after", "against", "amid", "an", "and", "as", "at", "be", "before", "but", "by", "for", "from",
    "has", "have", "he", "her", "his", "how", "i", "in", "into", "is", "it", "its", "new", "no", "not", "of",
    "off", "on", "out", "over", "says", "she", "the", "their", "they", "this", "to", "up", "us", "was", "we",
    "what", "when", "who", "why", "will", "with",
];

/// Chinese names of provinces, large cities and countries that news names
/// in titles: the most common difference between two reports of one kind.
/// Simplified (the text is folded first).
const PLACES: &[&str] = &[
    "北京",
    "上海",
    "天津",
    "重庆",
    "广东",
    "广西",
    "广州",
    "深圳",
    "杭州",
    "浙江",
    "江苏",
    "南京",
    "苏州",
    "福建",
    "厦门",
    "福州",
    "山东",
    "青岛",
    "济南",
    "河南",
    "郑州",
    "河北",
    "石家庄",
    "湖南",
    "长沙",
    "湖北",
    "武汉",
    "四川",
    "成都",
    "贵州",
    "贵阳",
    "云南",
    "昆明",
    "西藏",
    "拉萨",
    "陕西",
    "西安",
    "甘肃",
    "兰州",
    "青海",
    "宁夏",
    "新疆",
    "内蒙古",
    "黑龙江",
    "哈尔滨",
    "吉林",
    "长春",
    "辽宁",
    "沈阳",
    "大连",
    "安徽",
    "合肥",
    "江西",
    "南昌",
    "山西",
    "太原",
    "海南",
    "海口",
    "三亚",
    "香港",
    "澳门",
    "台湾",
    "台北",
    "高雄",
    "台中",
    "台南",
    "日本",
    "东京",
    "大阪",
    "北海道",
    "九州",
    "冲绳",
    "韩国",
    "首尔",
    "朝鲜",
    "美国",
    "纽约",
    "华盛顿",
    "加州",
    "英国",
    "伦敦",
    "法国",
    "巴黎",
    "德国",
    "柏林",
    "俄罗斯",
    "莫斯科",
    "乌克兰",
    "印度",
    "印尼",
    "越南",
    "泰国",
    "菲律宾",
    "马来西亚",
    "新加坡",
    "澳大利亚",
    "加拿大",
    "巴西",
    "墨西哥",
    "以色列",
    "伊朗",
    "土耳其",
    "埃及",
    "南非",
    "肯尼亚",
    "埃塞俄比亚",
    "日内瓦",
    "欧盟",
    "意大利",
    "西班牙",
    "荷兰",
    "瑞士",
    "瑞典",
    "波兰",
    "阿根廷",
    "智利",
    "巴基斯坦",
    "阿富汗",
    "缅甸",
    "柬埔寨",
    "新西兰",
    "沙特",
    "叙利亚",
    "伊拉克",
    "东莞",
    "佛山",
    "珠海",
    "汕头",
    "惠州",
    "湛江",
    "肇庆",
    "江门",
    "韶关",
    "梅州",
    "清远",
    "无锡",
    "常州",
    "南通",
    "徐州",
    "扬州",
    "昆山",
    "宁波",
    "温州",
    "绍兴",
    "嘉兴",
    "金华",
    "台州",
    "湖州",
    "义乌",
    "烟台",
    "潍坊",
    "临沂",
    "淄博",
    "威海",
    "洛阳",
    "开封",
    "南阳",
    "保定",
    "唐山",
    "邯郸",
    "廊坊",
    "秦皇岛",
    "雄安",
    "岳阳",
    "株洲",
    "衡阳",
    "宜昌",
    "襄阳",
    "十堰",
    "绵阳",
    "宜宾",
    "乐山",
    "遵义",
    "大理",
    "丽江",
    "桂林",
    "南宁",
    "柳州",
    "北海",
    "宝鸡",
    "延安",
    "天水",
    "西宁",
    "银川",
    "乌鲁木齐",
    "喀什",
    "呼和浩特",
    "包头",
    "鄂尔多斯",
    "大庆",
    "齐齐哈尔",
    "鞍山",
    "丹东",
    "芜湖",
    "蚌埠",
    "赣州",
    "九江",
    "景德镇",
    "泉州",
    "漳州",
    "莆田",
    "运城",
    "新北",
    "桃园",
    "新竹",
    "基隆",
    "彰化",
    "花莲",
    "台东",
    "屏东",
    "宜兰",
    "嘉义",
    "南投",
    "苗栗",
    "悉尼",
    "墨尔本",
    "多伦多",
    "温哥华",
    "洛杉矶",
    "旧金山",
    "芝加哥",
    "休斯敦",
    "迈阿密",
    "西雅图",
    "波士顿",
    "曼谷",
    "河内",
    "雅加达",
    "马尼拉",
    "吉隆坡",
    "孟买",
    "新德里",
    "迪拜",
    "德黑兰",
    "开罗",
    "罗马",
    "马德里",
    "巴塞罗那",
    "阿姆斯特丹",
    "布鲁塞尔",
    "维也纳",
    "斯德哥尔摩",
    "华沙",
    "基辅",
    "伊斯坦布尔",
    "圣保罗",
    "京都",
    "横滨",
    "名古屋",
    "福冈",
    "札幌",
    "神户",
    "广岛",
    "长崎",
    "釜山",
    "仁川",
    "平壤",
    "宫城",
    "福岛",
    "熊本",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: (&str, &str), b: (&str, &str), same_script: bool) -> Relation {
        relate(&specifics(a.0, a.1), &specifics(b.0, b.1), same_script)
    }

    #[test]
    fn identifiers_are_numbers_that_name() {
        assert_eq!(identifiers("日本北海道发生6.3级地震，3人受伤"), ["6.3"]);
        assert_eq!(identifiers("全国人大常委会第十八次会议"), ["18"]);
        assert_eq!(identifiers("今年第15号台风"), ["15"]);
        assert_eq!(identifiers("Magnitude 7.1 quake kills 12"), ["7.1"]);
        assert_eq!(identifiers("Celtics win Game 6; the 19th title"), ["6", "19"]);
        assert!(identifiers("一名男子十分钟内救起3人").is_empty());
    }

    #[test]
    fn different_places_ids_or_names_conflict_and_updates_do_not() {
        let r = rel(
            ("广东报告1例人感染H9N2禽流感病例", ""),
            ("广西报告1例人感染H5N6禽流感病例", ""),
            true,
        );
        assert!(r.places_conflict && r.names_conflict, "{r:?}");
        let r = rel(
            ("日本北海道发生6.3级地震", ""),
            ("日本宫城县近海6.1级地震", ""),
            true,
        );
        assert!(r.ids_conflict, "{r:?}");
        let r = rel(
            ("Lakers acquire center from Hornets in deadline deal", ""),
            ("Lakers trade veteran forward to Jazz for draft pick", ""),
            true,
        );
        assert!(r.names_conflict && r.shared_names == 1, "{r:?}");
        // A death toll that rises is one disaster.
        let r = rel(
            ("四川汉源县发生山体滑坡 已致5人遇难", ""),
            ("汉源山体滑坡已致19人遇难", "四川汉源县"),
            true,
        );
        assert!(!r.conflict(), "{r:?}");
        let r = rel(
            (
                "Celtics beat Thunder in Game 6",
                "The Boston Celtics closed out the Thunder.",
            ),
            (
                "Boston wins another banner",
                "Jayson Tatum scored 31 as the Celtics held off the Thunder.",
            ),
            true,
        );
        assert!(!r.conflict() && r.shared_names >= 2, "{r:?}");
    }

    #[test]
    fn two_days_of_one_template_are_two_stories() {
        let r = rel(
            (
                "Stocks close higher as tech rally lifts S&P 500 to record",
                "U.S. stocks closed higher on Tuesday, with the S&P 500 rising 0.9%.",
            ),
            (
                "Stocks close higher as tech rally lifts S&P 500 to record",
                "U.S. stocks closed higher on Thursday, with the S&P 500 rising 0.4%.",
            ),
            true,
        );
        assert!(r.dates_conflict && !r.numbers_conflict, "{r:?}");
        let r = rel(
            ("收评：沪指涨0.82% 半导体板块领涨", "A股三大指数12日集体收涨"),
            ("收评：沪指涨0.41% 券商板块走强", "A股三大指数19日集体收涨"),
            true,
        );
        assert!(r.dates_conflict && r.numbers_conflict, "{r:?}");
        let r = rel(
            ("国家统计局：5月份CPI同比持平", ""),
            ("6月CPI同比上涨0.1%", ""),
            true,
        );
        assert!(r.dates_conflict, "{r:?}");
        let r = rel(
            ("人民币中间价报7.1025", "5月8日人民币对美元汇率中间价"),
            ("人民币中间价报7.1078", "5月15日中间价"),
            true,
        );
        assert!(r.dates_conflict && r.numbers_conflict, "{r:?}");
        let r = rel(
            ("Euro zone inflation eases to 2.1% in May", ""),
            ("Euro zone inflation rises to 2.1% in August", ""),
            true,
        );
        assert!(r.dates_conflict, "{r:?}");
        let r = rel(
            ("第十八次会议表决通过", "十四届全国人大常委会"),
            ("十四届全国人大常委会第二十次会议", ""),
            true,
        );
        assert!(r.ids_conflict, "{r:?}");
        // One day, one event: a toll that rises, the same date.
        let r = rel(
            (
                "Gold mine collapse in Sudan kills 11",
                "The mine collapsed on March 3.",
            ),
            (
                "Death toll in Sudan mine collapse climbs to 38",
                "Rescuers said on Tuesday, March 3, that 38 had died.",
            ),
            true,
        );
        assert!(!r.dates_conflict && !r.conflict() && r.numbers_conflict, "{r:?}");
        assert_eq!(
            numbers("报3,412.56点，成交1.38万亿，二十一人"),
            ["3412.56", "1.38", "21"]
        );
    }

    #[test]
    fn traditional_and_full_width_are_folded() {
        let r = rel(("廣東發生地震", ""), ("广东发生地震", ""), true);
        assert!(!r.places_conflict);
        assert_eq!(specifics("ＮＡＳＡ launches", "").title_names, ["nasa"]);
    }

    #[test]
    fn common_words_are_sorted_for_binary_search() {
        assert!(COMMON.windows(2).all(|w| w[0] < w[1]));
    }
}
