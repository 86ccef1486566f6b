//! JSON Feed as readers accept it, rewritten into what feed-rs's strict
//! reading takes: the spec's first version URL (`http://jsonfeed.org/version/1`)
//! and bare versions (`"1.0"`), and optional fields of the wrong type (`"tags":
//! "a,b"`, a numeric `id`), which would otherwise reject the whole feed. A
//! field that cannot be kept is dropped and said. Pure: no I/O.

use serde_json::{Map, Value};

use super::dialect::Rewritten;

/// The version feed-rs reads for every JSON Feed 1.x.
const VERSION: &str = "https://jsonfeed.org/version/1.1";

const FEED_STRINGS: [&str; 7] = [
    "home_page_url",
    "feed_url",
    "language",
    "description",
    "icon",
    "favicon",
    "next_url",
];
const ITEM_STRINGS: [&str; 10] = [
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "date_published",
    "date_modified",
    "image",
    "banner_image",
];

/// `text` rewritten when it is a JSON Feed feed-rs would refuse or misread;
/// `None` when it reads as it is (or is not a JSON object at all).
pub fn normalise(text: &str) -> Option<Rewritten> {
    let Ok(Value::Object(mut feed)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let mut changes = Vec::new();
    match feed.get("version").and_then(Value::as_str) {
        Some(v) if v.starts_with("https://jsonfeed.org/version/1") => {}
        Some(v) if v.contains("jsonfeed.org/version/1") || matches!(v, "1" | "1.0" | "1.1") => {
            changes.push(format!("JSON Feed version {v:?} read as 1.1"));
            feed.insert("version".into(), VERSION.into());
        }
        // Another version, or no JSON Feed at all: feed-rs says which.
        Some(_) => return None,
        None if feed.get("items").is_some_and(Value::is_array) => {
            changes.push("JSON Feed without a version read as 1.1".to_owned());
            feed.insert("version".into(), VERSION.into());
        }
        None => return None,
    }
    if !feed.get("title").is_some_and(Value::is_string) {
        if feed.contains_key("title") {
            changes.push("feed title is not text: dropped".to_owned());
        }
        feed.insert("title".into(), "".into());
    }
    keep_strings(&mut feed, &FEED_STRINGS, "feed", &mut changes);
    clean_authors(&mut feed, "feed", &mut changes);
    match feed.get_mut("items") {
        Some(Value::Array(items)) => {
            let before = items.len();
            items.retain(Value::is_object);
            if items.len() < before {
                changes.push(format!(
                    "{} items that are not objects dropped",
                    before - items.len()
                ));
            }
            for (n, item) in items.iter_mut().enumerate() {
                if let Value::Object(item) = item {
                    clean_item(item, n, &mut changes);
                }
            }
        }
        Some(_) => {
            changes.push("\"items\" is not a list: no items read".to_owned());
            feed.insert("items".into(), Value::Array(Vec::new()));
        }
        None => {
            feed.insert("items".into(), Value::Array(Vec::new()));
        }
    }
    if changes.is_empty() {
        return None;
    }
    let text = serde_json::to_string(&Value::Object(feed)).ok()?;
    Some(Rewritten { text, changes })
}

fn clean_item(item: &mut Map<String, Value>, n: usize, changes: &mut Vec<String>) {
    let label = format!("item {}", n + 1);
    match item.get("id") {
        Some(Value::Number(id)) => {
            let id = id.to_string();
            changes.push(format!("{label}: numeric id {id} read as text"));
            item.insert("id".into(), id.into());
        }
        Some(Value::String(_)) | None => {}
        Some(_) => {
            changes.push(format!("{label}: id is not text: dropped"));
            item.remove("id");
        }
    }
    keep_strings(item, &ITEM_STRINGS, &label, changes);
    clean_authors(item, &label, changes);
    match item.get("tags") {
        Some(Value::String(tags)) => {
            let list: Vec<Value> = tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::String(t.to_owned()))
                .collect();
            changes.push(format!("{label}: tags given as text, split at commas"));
            item.insert("tags".into(), Value::Array(list));
        }
        Some(Value::Array(tags)) if tags.iter().all(Value::is_string) => {}
        Some(Value::Array(tags)) => {
            let list: Vec<Value> = tags.iter().filter(|t| t.is_string()).cloned().collect();
            changes.push(format!("{label}: tags that are not text dropped"));
            item.insert("tags".into(), Value::Array(list));
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            changes.push(format!("{label}: tags are not a list: dropped"));
            item.remove("tags");
        }
    }
    if let Some(attachments) = item.get_mut("attachments") {
        let valid = |a: &Value| {
            a.get("url").is_some_and(Value::is_string) && a.get("mime_type").is_some_and(Value::is_string)
        };
        match attachments {
            Value::Array(list) if list.iter().all(valid) => {}
            Value::Array(list) => {
                list.retain(valid);
                changes.push(format!("{label}: attachments without url or mime_type dropped"));
            }
            _ => {
                changes.push(format!("{label}: attachments are not a list: dropped"));
                item.remove("attachments");
            }
        }
    }
}

/// Removes the optional text fields that are not text.
fn keep_strings(object: &mut Map<String, Value>, keys: &[&str], label: &str, changes: &mut Vec<String>) {
    for key in keys {
        match object.get(*key) {
            None | Some(Value::String(_)) => {}
            Some(Value::Null) => {
                object.remove(*key);
            }
            Some(_) => {
                changes.push(format!("{label}: {key} is not text: dropped"));
                object.remove(*key);
            }
        }
    }
}

/// `author` (1.0) and `authors` (1.1) as objects of optional texts.
fn clean_authors(object: &mut Map<String, Value>, label: &str, changes: &mut Vec<String>) {
    let valid = |a: &Value| {
        a.as_object().is_some_and(|a| {
            ["name", "url", "avatar"]
                .iter()
                .all(|k| a.get(*k).is_none_or(|v| v.is_string() || v.is_null()))
        })
    };
    if object.get("author").is_some_and(|a| !valid(a)) {
        changes.push(format!("{label}: author is not an object of texts: dropped"));
        object.remove("author");
    }
    match object.get_mut("authors") {
        Some(Value::Array(list)) if list.iter().all(valid) => {}
        Some(Value::Array(list)) => {
            list.retain(valid);
            changes.push(format!("{label}: authors that are not objects of texts dropped"));
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            changes.push(format!("{label}: authors are not a list: dropped"));
            object.remove("authors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_first_version_url_and_bare_versions_are_read() {
        for version in [
            "http://jsonfeed.org/version/1",
            "1.0",
            "https://jsonfeed.org/version/1",
        ] {
            let text =
                format!(r#"{{"version":"{version}","title":"T","items":[{{"id":"1","content_text":"x"}}]}}"#);
            let out = normalise(&text);
            if version.starts_with("https") {
                assert_eq!(out, None, "already read as it is");
            } else {
                let out = out.expect("rewritten");
                assert!(out.text.contains(VERSION), "{}", out.text);
                assert_eq!(out.changes.len(), 1, "{:?}", out.changes);
            }
        }
    }

    #[test]
    fn wrong_typed_optional_fields_are_fixed_or_dropped_and_said() {
        let text = r#"{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[
            {"id":7,"tags":"a, b,,c","title":["x"],"url":"https://e.org/1","attachments":{"url":"x"}}]}"#;
        let out = normalise(text).expect("rewritten");
        let value: Value = serde_json::from_str(&out.text).expect("json");
        let item = &value["items"][0];
        assert_eq!(item["id"], "7");
        assert_eq!(item["tags"], serde_json::json!(["a", "b", "c"]));
        assert!(item.get("title").is_none());
        assert!(item.get("attachments").is_none());
        assert_eq!(item["url"], "https://e.org/1");
        assert_eq!(out.changes.len(), 4, "{:?}", out.changes);
    }

    #[test]
    fn other_json_is_left_to_feed_rs() {
        assert_eq!(normalise(r#"{"version":"2.0","items":[]}"#), None);
        assert_eq!(normalise("[1,2]"), None);
        assert_eq!(normalise("not json"), None);
    }
}
