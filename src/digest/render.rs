//! Digest → HTML and plain text with askama templates compiled into the binary
//! (`templates/digest.html`, `templates/digest.txt`). HTML output is escaped by
//! askama; feed text never reaches the mail as markup.

use askama::Template;

use super::Digest;

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
