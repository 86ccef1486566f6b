//! An unknown key in the file: which entry it is in, and the valid key it
//! most likely meant.

use toml::de::{DeTable, DeValue};

/// `message` (toml's "unknown field `schedul`, expected one of `email`, …")
/// with the entry that holds the key at `offset` in front and the closest
/// valid key after; any other message unchanged.
pub(super) fn explain(text: &str, offset: usize, message: &str) -> String {
    let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    else {
        return message.to_owned();
    };
    let expected: Vec<&str> = message
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    let mut out = match entry_at(text, offset) {
        Some(entry) => format!("{entry}: {message}"),
        None => message.to_owned(),
    };
    if let Some(closest) = closest(field, &expected) {
        out.push_str(&format!("; did you mean `{closest}`?"));
    }
    out
}

/// The valid key nearest to `field`, if near enough to be a typo: at most a
/// third of its characters (at least one) differ.
fn closest<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    let limit = (field.chars().count() / 3).max(1);
    expected
        .iter()
        .map(|candidate| (edit_distance(field, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance over characters, a swap of two neighbours counting as one
/// edit (optimal string alignment: `nmae` is one from `name`); a few lines
/// rather than a crate, for comparing one key with the dozen valid ones.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: the distance between the first i characters of a and j of b.
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The entry (`subscribers[0] (alice@example.org)`, `smtp`) whose key starts
/// at `offset`; `None` at the top level or when the text does not parse.
fn entry_at(text: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find(root.get_ref(), offset, &mut path)
        .then(|| path.join("."))
        .filter(|p| !p.is_empty())
}

/// Pushes the tables down to the key at `offset`; true when found.
fn find(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        if key.span().contains(&offset) {
            return true;
        }
        match value.get_ref() {
            DeValue::Table(inner) => {
                path.push(key.get_ref().to_string());
                if find(inner, offset, path) {
                    return true;
                }
                path.pop();
            }
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let DeValue::Table(inner) = item.get_ref() else {
                        continue;
                    };
                    path.push(format!("{}[{index}]{}", key.get_ref(), label(inner)));
                    if find(inner, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
    }
    false
}

/// How the other messages name an entry: its email, name or URL.
fn label(table: &DeTable<'_>) -> String {
    ["email", "name", "url"]
        .iter()
        .find_map(|key| table.get(*key).and_then(|v| v.get_ref().as_str()))
        .map(|name| format!(" ({name})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key_and_strangers_find_none() {
        let keys = ["email", "name", "schedule", "timezone", "topics"];
        assert_eq!(closest("schedul", &keys), Some("schedule"));
        assert_eq!(closest("nmae", &keys), Some("name"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(edit_distance("时区", "时间"), 1);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("", "url"), 3);
    }

    #[test]
    fn the_entry_is_named_by_its_label() {
        let text = "[smtp]\nhost = \"h\"\n[[subscribers]]\nemail = \"a@b.c\"\n[[subscribers]]\nemail = \"d@e.f\"\nschedul = \"07:00\"\n";
        let offset = text.find("schedul").unwrap_or_default();
        let message = explain(
            text,
            offset,
            "unknown field `schedul`, expected one of `email`, `schedule`",
        );
        assert_eq!(
            message,
            "subscribers[1] (d@e.f): unknown field `schedul`, expected one of `email`, `schedule`; did you mean `schedule`?"
        );
    }
}
