//! Raw feed bytes → UTF-8 text, choosing the encoding the way feeds in the wild need it.
//!
//! Order: a byte order mark; then bytes that are valid UTF-8 stay UTF-8 whatever the labels
//! claim; then the HTTP `charset`; then the XML declaration's `encoding`; then the bytes
//! themselves, by chardetng (Firefox's detector for unlabelled legacy content), helped by
//! the feed's top-level domain.
//! The XML declaration of the result says `utf-8`, so an XML parser fed the UTF-8 bytes
//! does not decode them a second time. Pure: no I/O.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// Feed text as UTF-8, and how its encoding was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The decoder used: the document's encoding, or UTF-8 for one encoding_rs
    /// lacks (IBM855), which is converted by table first.
    pub encoding: &'static Encoding,
    /// The document's encoding as people name it ("GBK", "IBM855").
    pub name: &'static str,
    pub how: How,
    /// Some bytes were malformed in `encoding` and became U+FFFD.
    pub had_errors: bool,
}

/// Which evidence chose the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A UTF-8 or UTF-16 byte order mark.
    Bom,
    /// UTF-16 without a byte order mark, recognised by its zero bytes around `<`.
    Utf16Detected,
    /// The bytes are (nearly all) valid UTF-8, whatever the labels say.
    Utf8Detected,
    /// The `charset` parameter of the HTTP `Content-Type`.
    HttpCharset,
    /// The `encoding` attribute of the XML declaration.
    XmlDeclaration,
    /// No usable label: detected from the bytes (chardetng).
    Detected,
}

impl How {
    /// For log lines and user output: "windows-1251 (XML declaration)".
    pub fn describe(&self) -> &'static str {
        match self {
            How::Bom => "byte order mark",
            How::Utf16Detected => "UTF-16 byte pattern",
            How::Utf8Detected => "content is UTF-8",
            How::HttpCharset => "HTTP Content-Type charset",
            How::XmlDeclaration => "XML declaration",
            How::Detected => "detected from the bytes (no usable label)",
        }
    }
}

/// How far into the bytes the XML declaration may end.
const DECLARATION_WINDOW: usize = 1024;

/// Decodes feed bytes to UTF-8; `http_charset` is the `charset` of the response's
/// `Content-Type` (see [`charset_from_content_type`]). Never fails: undecodable bytes
/// become U+FFFD and set `had_errors`.
pub fn decode(bytes: &[u8], http_charset: Option<&str>) -> Decoded {
    decode_for(bytes, http_charset, None)
}

/// [`decode`] for a feed at `host`: its top-level domain ("cn", "jp", "ru")
/// tells the detector which legacy encodings to expect when nothing is declared.
pub fn decode_for(bytes: &[u8], http_charset: Option<&str>, host: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = bytes.get(bom_len..).unwrap_or_default();
        return finish(rest, encoding, How::Bom);
    }
    if let Some(encoding) = sniff_utf16(bytes) {
        return finish(bytes, encoding, How::Utf16Detected);
    }
    // A code page encoding_rs lacks, declared on bytes that are not UTF-8.
    if std::str::from_utf8(bytes).is_err()
        && let Some((page, how)) = [
            (http_charset, How::HttpCharset),
            (declared_encoding(bytes), How::XmlDeclaration),
        ]
        .into_iter()
        .find_map(|(label, how)| label.and_then(code_page).map(|page| (page, how)))
    {
        return finish_code_page(bytes, page, how);
    }
    let http = http_charset
        .and_then(encoding_for_label)
        .map(|e| (e, How::HttpCharset));
    let declared = declared_encoding(bytes)
        .and_then(encoding_for_label)
        .map(|e| (e, How::XmlDeclaration));
    if let Ok(text) = std::str::from_utf8(bytes) {
        // ISO-2022-JP is 7-bit, so it is valid UTF-8: its escape sequences give it away.
        let iso_2022_jp = [http, declared]
            .into_iter()
            .flatten()
            .find(|(e, _)| *e == encoding_rs::ISO_2022_JP && text.contains('\u{1b}'));
        if let Some((encoding, how)) = iso_2022_jp {
            return finish(bytes, encoding, how);
        }
        return finish(bytes, encoding_rs::UTF_8, How::Utf8Detected);
    }
    // The bytes are not valid UTF-8, so a UTF-8 label is wrong: look at the
    // next one, or else at the bytes (mostly UTF-8 with a few broken, or a
    // legacy encoding: GBK under an old template's `encoding="utf-8"`).
    let labelled = [http, declared]
        .into_iter()
        .flatten()
        .find(|(e, _)| *e != encoding_rs::UTF_8);
    if let Some((encoding, how)) = labelled {
        return finish(bytes, encoding, how);
    }
    // A UTF-8 label is wrong about some bytes, not proof of another
    // encoding: UTF-8 as long as its characters outnumber the broken bytes
    // (curly quotes and one stray byte), else the bytes' own encoding.
    let utf8_label = http.or(declared).is_some();
    if mostly_utf8(bytes, if utf8_label { 1 } else { 4 }) {
        return finish(bytes, encoding_rs::UTF_8, How::Utf8Detected);
    }
    finish(bytes, detect(bytes, host), How::Detected)
}

/// The legacy encoding unlabelled bytes are most likely in.
fn detect(bytes: &[u8], host: Option<&str>) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(bytes, true);
    // chardetng panics on a label that is not a lower-case ASCII DNS label.
    let tld = host.and_then(|h| h.rsplit('.').next()).filter(|t| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let encoding = detector.guess(tld.map(str::as_bytes), chardetng::Utf8Detection::Deny);
    // GBK's superset also reads what GB2312 feeds lack.
    if encoding == encoding_rs::GBK {
        encoding_rs::GB18030
    } else {
        encoding
    }
}

/// The code page encoding_rs lacks that `label` names (IBM437, IBM850,
/// IBM855, Mac Central European, …), if any.
fn code_page(label: &str) -> Option<&'static codepages::CodePage> {
    let label = label
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_ascii_lowercase()
        .replace('_', "-");
    codepages::CODE_PAGES
        .iter()
        .find(|page| page.labels.contains(&label.as_str()))
}

/// Decodes by table, then as UTF-8 text with its declaration rewritten.
fn finish_code_page(bytes: &[u8], page: &'static codepages::CodePage, how: How) -> Decoded {
    let text: String = bytes
        .iter()
        .map(|&b| match page.high.get(usize::from(b).wrapping_sub(0x80)) {
            Some(c) => *c,
            None => page
                .low
                .iter()
                .find(|(byte, _)| *byte == b)
                .map_or(char::from(b), |(_, c)| *c),
        })
        .collect();
    let mut decoded = finish(text.as_bytes(), encoding_rs::UTF_8, how);
    decoded.name = page.name;
    decoded
}

/// The `charset` parameter of a `Content-Type` header value, unquoted:
/// `text/xml; charset="GB2312"` → `GB2312`.
pub fn charset_from_content_type(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value)
            .trim();
        Some(value).filter(|v| !v.is_empty())
    })
}

/// The encoding for a charset label, as feeds use them.
///
/// WHATWG labels, plus the Windows code page names servers send (`cp932`, `cp936`…).
/// GBK and GB2312 become GB18030, a superset that also decodes the characters
/// GB2312 lacks. UTF-16 labels and the WHATWG "replacement" encoding are refused:
/// a document that reached this point is not UTF-16 (that was sniffed first), and
/// "replacement" would turn the whole feed into one U+FFFD.
fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let label = label
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_ascii_lowercase();
    let alias = match label.as_str() {
        "cp932" | "windows-932" | "x-ms-cp932" => "shift_jis",
        "cp936" | "ms936" | "windows-936" => "gbk",
        "cp949" | "ms949" | "uhc" | "x-windows-949" => "euc-kr",
        "cp950" | "ms950" | "windows-950" | "big5hkscs" => "big5",
        "cp874" => "windows-874",
        // Mac Cyrillic as servers and old Mac tools write it.
        "maccyrillic" | "mac-cyrillic" | "x-mac-cyrillic" | "cp10007" | "windows-10007" => "x-mac-cyrillic",
        "cp866" | "ibm-866" | "csibm866" | "866" => "ibm866",
        "cp1251" | "cp-1251" => "windows-1251",
        "cp1252" | "cp-1252" => "windows-1252",
        "cp1255" => "windows-1255",
        "macroman" | "mac-roman" | "x-mac-roman" | "mac" => "macintosh",
        "ms-cyrl" => "windows-1251",
        "ms-ee" => "windows-1250",
        "ms-greek" => "windows-1253",
        "ms-turk" => "windows-1254",
        "ms-hebr" => "windows-1255",
        "ms-arab" => "windows-1256",
        "koi8r" => "koi8-r",
        "koi8u" => "koi8-u",
        "big-5" | "big5-hkscs" => "big5",
        "eucjp" | "x-euc" => "euc-jp",
        "euckr" => "euc-kr",
        "sjis" | "shift-jis" | "x-sjis" | "ms_kanji" => "shift_jis",
        "gb-2312" | "gb_2312" | "euc-cn" | "euccn" => "gbk",
        other => other,
    };
    let encoding = Encoding::for_label(alias.as_bytes())
        .or_else(|| Encoding::for_label(alias.replace('_', "-").as_bytes()))
        .or_else(|| {
            // "win-1251", "win1251", "windows1251"
            let digits = alias
                .strip_prefix("windows")
                .or_else(|| alias.strip_prefix("win"))?;
            let digits = digits.trim_start_matches('-');
            let code_page = format!("windows-{digits}");
            Encoding::for_label(code_page.as_bytes())
        })?;
    if encoding == encoding_rs::GBK {
        return Some(encoding_rs::GB18030);
    }
    let refused = [
        encoding_rs::UTF_16LE,
        encoding_rs::UTF_16BE,
        encoding_rs::REPLACEMENT,
    ];
    Some(encoding).filter(|e| !refused.contains(e))
}

/// UTF-16 without a BOM: `<` (or whitespace) next to a zero byte, as XML 1.0 appendix F.
fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    match bytes {
        [a, 0, c, 0, ..] if a.is_ascii() && *a != 0 && c.is_ascii() && *c != 0 => Some(encoding_rs::UTF_16LE),
        [0, b, 0, d, ..] if b.is_ascii() && *b != 0 && d.is_ascii() && *d != 0 => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

/// Invalid UTF-8 that is still far more UTF-8 than not (a few broken bytes in a
/// UTF-8 feed): legacy 8-bit text rarely forms valid multi-byte sequences by chance.
/// At least `per_broken` characters beyond ASCII for each broken stretch.
fn mostly_utf8(bytes: &[u8], per_broken: usize) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            invalid += 1;
        }
    }
    valid >= per_broken * invalid.max(1)
}

/// Decodes, then makes the XML declaration say `utf-8`.
fn finish(bytes: &[u8], encoding: &'static Encoding, how: How) -> Decoded {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    let relabelled = declaration_encoding_span(text.as_bytes()).and_then(|(start, end)| {
        let (before, value, after) = (text.get(..start)?, text.get(start..end)?, text.get(end..)?);
        (!value.eq_ignore_ascii_case("utf-8")).then(|| format!("{before}utf-8{after}"))
    });
    let text = match (relabelled, text) {
        (Some(fixed), _) => fixed,
        (None, Cow::Borrowed(text)) => text.to_owned(),
        (None, Cow::Owned(text)) => text,
    };
    Decoded {
        text,
        encoding,
        name: encoding.name(),
        how,
        had_errors,
    }
}

/// The `encoding` value of the XML declaration, read as ASCII from the raw bytes
/// (it is ASCII in every ASCII-compatible encoding).
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let (start, end) = declaration_encoding_span(bytes)?;
    std::str::from_utf8(bytes.get(start..end)?).ok()
}

/// Byte range of the `encoding` attribute's value in a leading `<?xml …?>`,
/// which may follow some whitespace. The range never cuts a UTF-8 character:
/// both ends sit next to ASCII quotes.
fn declaration_encoding_span(bytes: &[u8]) -> Option<(usize, usize)> {
    let leading = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = bytes.get(leading..)?;
    if !rest.starts_with(b"<?xml") || !rest.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let window = rest.get(..rest.len().min(DECLARATION_WINDOW))?;
    let decl_end = find(window, b"?>")?;
    let decl = window.get(..decl_end)?;
    let mut at = find(decl, b"encoding")? + "encoding".len();
    let skip_space = |mut i: usize| {
        while decl.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    at = skip_space(at);
    if decl.get(at) != Some(&b'=') {
        return None;
    }
    at = skip_space(at + 1);
    let quote = *decl.get(at).filter(|q| **q == b'"' || **q == b'\'')?;
    let value_start = at + 1;
    let value_len = decl.get(value_start..)?.iter().position(|b| *b == quote)?;
    Some((leading + value_start, leading + value_start + value_len))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
mod codepages;

#[cfg(test)]
mod tests;
