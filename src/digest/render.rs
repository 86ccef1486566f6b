//! Digest → HTML and plain text with askama templates compiled into the binary
//! (`templates/digest.html`, `templates/digest.txt`). askama escapes every
//! value; feed text never reaches the mail as markup.

use askama::Template;

use super::{Digest, Entry};
use crate::text;

/// Gmail clips messages whose HTML is over 102 KB; stay clear of it.
pub const HTML_BUDGET: usize = 100_000;

#[derive(Template)]
#[template(path = "digest.html")]
struct HtmlDigest<'a> {
    d: &'a Digest,
}

#[derive(Template)]
#[template(path = "digest.txt")]
struct TextDigest<'a> {
    d: &'a Digest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot render the digest template: {0}")]
pub struct RenderError(#[from] askama::Error);

pub fn render(digest: &Digest) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        subject: digest.subject.clone(),
        html: HtmlDigest { d: digest }.render()?,
        text: TextDigest { d: digest }.render()?,
    })
}

/// Renders with the HTML part under `budget` bytes: first the excerpts shrink,
/// then articles from the end become a compact list of links, and the digest
/// says it was shortened. Nothing is dropped: every article keeps its link.
pub fn render_within(digest: &Digest, budget: usize) -> Result<Rendered, RenderError> {
    let rendered = render(digest)?;
    if rendered.html.len() <= budget {
        return Ok(rendered);
    }
    let mut digest = digest.clone();
    digest.shortened = true;
    for divisor in [2, 4] {
        for entry in digest.sections.iter_mut().flat_map(|s| s.entries.iter_mut()) {
            let graphemes =
                unicode_segmentation::UnicodeSegmentation::graphemes(entry.excerpt.as_str(), true).count();
            entry.excerpt = text::excerpt(&entry.excerpt, (graphemes / divisor).max(1));
        }
        let rendered = render(&digest)?;
        if rendered.html.len() <= budget {
            return Ok(rendered);
        }
    }
    // Move whole cards to the link list, last first, until it fits.
    let mut rendered = render(&digest)?;
    while rendered.html.len() > budget && move_last_card(&mut digest) {
        rendered = render(&digest)?;
    }
    Ok(rendered)
}

/// Turns the last card into a bare link at the front of `more_links`.
fn move_last_card(digest: &mut Digest) -> bool {
    let Some(section) = digest.sections.iter_mut().rev().find(|s| !s.entries.is_empty()) else {
        return false;
    };
    let Some(entry) = section.entries.pop() else {
        return false;
    };
    digest.sections.retain(|s| !s.entries.is_empty());
    digest.more_links.insert(
        0,
        Entry {
            excerpt: String::new(),
            image: None,
            ..entry
        },
    );
    true
}
