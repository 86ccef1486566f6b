//! The fixed words of a digest in the reader's language (`en`, `zh-CN`).

use chrono::{DateTime, Datelike, TimeZone, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    En,
    ZhCn,
}

impl Language {
    pub const VALID: &'static str = "\"en\", \"zh-CN\"";

    pub fn parse(text: &str) -> Option<Language> {
        match text.trim().to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Language::En),
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" => Some(Language::ZhCn),
            _ => None,
        }
    }

    /// The BCP 47 tag, for `lang` attributes.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }

    pub fn default_subject(self) -> &'static str {
        "{title} · {date} · {articles}"
    }

    pub fn articles(self, n: usize) -> String {
        match (self, n) {
            (Language::En, 1) => "1 article".to_owned(),
            (Language::En, n) => format!("{n} articles"),
            (Language::ZhCn, n) => format!("{n} 篇文章"),
        }
    }

    /// "12 new articles in 4 topics".
    pub fn summary(self, articles: usize, sections: usize) -> String {
        match self {
            Language::En => {
                let noun = if articles == 1 { "article" } else { "articles" };
                let group = if sections == 1 { "section" } else { "sections" };
                format!("{articles} new {noun} in {sections} {group}")
            }
            Language::ZhCn => format!("{sections} 个栏目，共 {articles} 篇新文章"),
        }
    }

    pub fn long_date<Tz: TimeZone>(self, at: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        match self {
            Language::En => at.format("%A, %-d %B %Y").to_string(),
            Language::ZhCn => format!(
                "{}年{}月{}日 {}",
                at.year(),
                at.month(),
                at.day(),
                chinese_weekday(at.weekday())
            ),
        }
    }

    pub fn short_date<Tz: TimeZone>(self, at: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        match self {
            Language::En => at.format("%b %-d").to_string(),
            Language::ZhCn => format!("{}月{}日", at.month(), at.day()),
        }
    }

    /// An article's time as a reader sees it at `now`: the year only when it
    /// is not this year's (a 2016 post must not read as this November's).
    pub fn time<Tz: TimeZone>(self, at: &DateTime<Tz>, now: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        if at.year() == now.year() {
            return format!("{} {}", self.short_date(at), at.format("%H:%M"));
        }
        match self {
            Language::En => at.format("%b %-d, %Y").to_string(),
            Language::ZhCn => format!("{}年{}月{}日", at.year(), at.month(), at.day()),
        }
    }

    pub fn labels(self) -> Labels {
        match self {
            Language::En => Labels {
                contents: "In this digest",
                also_in: "also in",
                follow_up: "Follow-up to",
                updated: "updated",
                unsubscribe: "Unsubscribe",
                untitled: "(untitled)",
                more_links: "More articles",
                failing_feeds: "Feeds that need attention",
                shortened: "This digest was shortened to fit the size mail clients display in full.",
                view_online: "View in browser",
            },
            Language::ZhCn => Labels {
                contents: "本期目录",
                also_in: "另见",
                follow_up: "后续报道，前情",
                updated: "已更新",
                unsubscribe: "退订",
                untitled: "（无标题）",
                more_links: "更多文章",
                failing_feeds: "需要注意的订阅源",
                shortened: "为了让邮件客户端完整显示，本期摘要已精简。",
                view_online: "在浏览器中查看",
            },
        }
    }

    pub fn held_back(self, n: usize) -> String {
        match (self, n) {
            (Language::En, 1) => "1 more article waits for the next digest.".to_owned(),
            (Language::En, n) => format!("{n} more articles wait for the next digest."),
            (Language::ZhCn, n) => format!("还有 {n} 篇文章将在下一期送达。"),
        }
    }

    /// The link at the end of a mail that carries part of its digest.
    pub fn more_online(self, n: usize) -> String {
        match (self, n) {
            (Language::En, 1) => "1 more article in the full digest".to_owned(),
            (Language::En, n) => format!("{n} more articles in the full digest"),
            (Language::ZhCn, n) => format!("完整摘要中还有 {n} 篇文章"),
        }
    }

    /// Old articles left out because more wait than digests can carry.
    pub fn dropped(self, n: usize, bound: usize) -> String {
        match (self, n) {
            (Language::En, 1) => format!(
                "1 older article was left out: more arrive than the digests carry (at most {bound} wait)."
            ),
            (Language::En, n) => format!(
                "{n} older articles were left out: more arrive than the digests carry (at most {bound} wait)."
            ),
            (Language::ZhCn, n) => {
                format!("有 {n} 篇较早的文章未收入：新文章多于摘要所能容纳的（最多保留 {bound} 篇待发）。")
            }
        }
    }

    pub fn flood(self, feed: &str, n: u64) -> String {
        match self {
            Language::En => {
                format!("{feed} published {n} more new items at once; they follow in the next digests.")
            }
            Language::ZhCn => format!("{feed} 一次发布了 {n} 篇以上的新文章，其余将在之后的摘要中送达。"),
        }
    }

    /// The archive page's footer: a page that may be passed on names no
    /// reader and carries no unsubscribe link.
    pub fn archived(self, title: &str) -> String {
        match self {
            Language::En => format!("The web copy of {title}, as it was mailed."),
            Language::ZhCn => format!("这是《{title}》邮件的网页版。"),
        }
    }

    pub fn reason(self, recipient: &str, title: &str) -> String {
        match self {
            Language::En => format!("You receive {title} at {recipient} because you subscribed to it."),
            Language::ZhCn => format!("您订阅了《{title}》，因此 {recipient} 会收到这封邮件。"),
        }
    }
}

/// Words the templates show as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Labels {
    pub contents: &'static str,
    pub also_in: &'static str,
    /// Before the earlier story an entry follows up.
    pub follow_up: &'static str,
    pub updated: &'static str,
    pub unsubscribe: &'static str,
    pub untitled: &'static str,
    pub more_links: &'static str,
    pub failing_feeds: &'static str,
    pub shortened: &'static str,
    pub view_online: &'static str,
}

fn chinese_weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

/// Fills a subject template: `{title}`, `{date}`, `{count}`, `{articles}`, `{sections}`.
pub fn fill_subject(
    template: &str,
    title: &str,
    date: &str,
    count: usize,
    articles: &str,
    sections: usize,
) -> String {
    template
        .replace("{title}", title)
        .replace("{date}", date)
        .replace("{count}", &count.to_string())
        .replace("{articles}", articles)
        .replace("{sections}", &sections.to_string())
}

/// The placeholders a subject template may use.
pub const SUBJECT_PLACEHOLDERS: [&str; 5] = ["{title}", "{date}", "{count}", "{articles}", "{sections}"];

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn dates_in_both_languages() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 26, 7, 5, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(Language::En.long_date(&at), "Thursday, 26 November 2026");
        assert_eq!(Language::ZhCn.long_date(&at), "2026年11月26日 星期四");
        assert_eq!(Language::ZhCn.short_date(&at), "11月26日");
        assert_eq!(Language::En.time(&at, &at), "Nov 26 07:05");
        let old = Utc
            .with_ymd_and_hms(2016, 3, 9, 7, 5, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(Language::En.time(&old, &at), "Mar 9, 2016");
        assert_eq!(Language::ZhCn.time(&old, &at), "2016年3月9日");
        assert_eq!(Language::ZhCn.time(&at, &at), "11月26日 07:05");
    }

    #[test]
    fn subject_template() {
        let subject = fill_subject(
            Language::ZhCn.default_subject(),
            "早报",
            "11月26日",
            12,
            &Language::ZhCn.articles(12),
            4,
        );
        assert_eq!(subject, "早报 · 11月26日 · 12 篇文章");
        assert_eq!(Language::En.summary(1, 1), "1 new article in 1 section");
        assert_eq!(Language::parse("zh-CN"), Some(Language::ZhCn));
        assert_eq!(Language::parse("fr"), None);
    }
}
