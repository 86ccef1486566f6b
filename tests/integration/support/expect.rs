//! The `Expect:` lines of feedparser's test suite, as far as they speak of
//! what feed-digest keeps: the feed's title, each entry's title and link, and
//! the number of entries. Each `Expect:` is a Python expression over
//! feedparser's result; this reads the clauses of the forms
//! `feed['title'] == u'…'`, `entries[N]['title'] == '…'`,
//! `entries[N]['link'] == "…"` (also with `.title` attribute access) and
//! `len(entries) == N`, joined by `and`. Other clauses (`bozo`, encodings,
//! authors, dates) are not what this checks and are left out; a case with
//! none of ours is not counted.

/// One thing a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    FeedTitle(String),
    EntryTitle(usize, String),
    EntryLink(usize, String),
    EntryCount(usize),
}

/// The checks in the `Expect:` of a feedparser test file, if it has any of ours.
pub fn checks(file_text: &str) -> Vec<Check> {
    let Some(expect) = file_text
        .lines()
        .take(20)
        .find_map(|line| line.trim_start().strip_prefix("Expect:"))
    else {
        return Vec::new();
    };
    split_and(expect.trim())
        .iter()
        .filter_map(|clause| check(clause.trim()))
        .collect()
}

/// Top-level ` and `, outside string literals.
fn split_and(expression: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        current.push(next);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                current.push(c);
                if current.ends_with(" and ") {
                    current.truncate(current.len() - 5);
                    parts.push(std::mem::take(&mut current));
                }
            }
        }
    }
    parts.push(current);
    parts
}

fn check(clause: &str) -> Option<Check> {
    let (left, right) = clause.split_once("==")?;
    let (left, right) = (left.trim(), right.trim());
    if let Some(count) = left.strip_prefix("len(entries)") {
        return count
            .trim()
            .is_empty()
            .then(|| right.parse().ok().map(Check::EntryCount))
            .flatten();
    }
    let value = literal(right)?;
    let field = |rest: &str| -> Option<String> {
        let rest = rest.trim();
        rest.strip_prefix("['")
            .and_then(|r| r.strip_suffix("']"))
            .or_else(|| rest.strip_prefix("[\"").and_then(|r| r.strip_suffix("\"]")))
            .or_else(|| rest.strip_prefix('.'))
            .map(str::to_owned)
    };
    if let Some(rest) = left.strip_prefix("feed") {
        return (field(rest)?.as_str() == "title").then_some(Check::FeedTitle(value));
    }
    let rest = left.strip_prefix("entries[")?;
    let (index, rest) = rest.split_once(']')?;
    let index: usize = index.trim().parse().ok()?;
    match field(rest)?.as_str() {
        "title" => Some(Check::EntryTitle(index, value)),
        "link" => Some(Check::EntryLink(index, value)),
        _ => None,
    }
}

/// A Python string literal: `u'…'`, `"…"`, `"""…"""`, with `\\`, `\'`,
/// `\"`, `\n`, `\t`, `\xNN`, `\uNNNN` escapes.
fn literal(text: &str) -> Option<String> {
    let text = text.strip_prefix('u').unwrap_or(text);
    let (quote, body) = if let Some(body) = text.strip_prefix("\"\"\"").and_then(|b| b.strip_suffix("\"\"\""))
    {
        ('"', body)
    } else {
        let q = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        (q, text.strip_prefix(q)?.strip_suffix(q)?)
    };
    let _ = quote;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'U' => {
                let hex: String = chars.by_ref().take(8).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_clauses_it_knows() {
        let text = "<!--\nDescription: x\nExpect:      not bozo and entries[0]['title'] == u'Example \\u00e9 and more' and feed.title == \"F\" and len(entries) == 2\n-->";
        assert_eq!(
            checks(text),
            [
                Check::EntryTitle(0, "Example é and more".into()),
                Check::FeedTitle("F".into()),
                Check::EntryCount(2),
            ]
        );
        assert!(checks("Expect: bozo and encoding == 'utf-8'").is_empty());
    }
}
