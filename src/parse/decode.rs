//! Raw feed bytes → UTF-8 text, choosing the encoding the way feeds in the wild need it.
//!
//! Order: a byte order mark; then bytes that are valid UTF-8 stay UTF-8 whatever the labels
//! claim; then the HTTP `charset`; then the XML declaration's `encoding`; then windows-1252.
//! The XML declaration of the result says `utf-8`, so an XML parser fed the UTF-8 bytes
//! does not decode them a second time. Pure: no I/O.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// Feed text as UTF-8, and how its encoding was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The encoding the bytes were decoded from.
    pub encoding: &'static Encoding,
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
    /// Nothing usable: windows-1252, which also reads ISO-8859-1 and ASCII.
    Fallback,
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
            How::Fallback => "fallback (no usable label)",
        }
    }
}

/// How far into the bytes the XML declaration may end.
const DECLARATION_WINDOW: usize = 1024;

/// Decodes feed bytes to UTF-8; `http_charset` is the `charset` of the response's
/// `Content-Type` (see [`charset_from_content_type`]). Never fails: undecodable bytes
/// become U+FFFD and set `had_errors`.
pub fn decode(bytes: &[u8], http_charset: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = bytes.get(bom_len..).unwrap_or_default();
        return finish(rest, encoding, How::Bom);
    }
    if let Some(encoding) = sniff_utf16(bytes) {
        return finish(bytes, encoding, How::Utf16Detected);
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
    // The bytes are not valid UTF-8, so a UTF-8 label is wrong: look at the next one.
    let labelled = [http, declared]
        .into_iter()
        .flatten()
        .find(|(e, _)| *e != encoding_rs::UTF_8)
        .or(http)
        .or(declared);
    if let Some((encoding, how)) = labelled {
        return finish(bytes, encoding, how);
    }
    if mostly_utf8(bytes) {
        return finish(bytes, encoding_rs::UTF_8, How::Utf8Detected);
    }
    finish(bytes, encoding_rs::WINDOWS_1252, How::Fallback)
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
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            invalid += 1;
        }
    }
    valid >= 4 * invalid.max(1)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable, "{} cannot encode {text:?}", encoding.name());
        bytes.into_owned()
    }

    fn rss(encoding_attr: &str, title: &str) -> String {
        format!(
            "<?xml version=\"1.0\"{encoding_attr}?>\n<rss version=\"2.0\"><channel>\
             <title>{title}</title></channel></rss>"
        )
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut units: Vec<u16> = text.encode_utf16().collect();
        if bom {
            units.insert(0, 0xfeff);
        }
        units
            .iter()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn legacy_encodings_declared_in_the_prolog() {
        let cases: &[(&'static Encoding, &str, &str, &'static Encoding)] = &[
            (
                encoding_rs::GBK,
                "gb2312",
                "上海地铁新线路今天开通",
                encoding_rs::GB18030,
            ),
            (encoding_rs::GBK, "GBK", "陶喆新专辑发布", encoding_rs::GB18030),
            (
                encoding_rs::GB18030,
                "gb18030",
                "春节假期客流创新高",
                encoding_rs::GB18030,
            ),
            (encoding_rs::BIG5, "big5", "臺北捷運新路線通車", encoding_rs::BIG5),
            (
                encoding_rs::SHIFT_JIS,
                "Shift_JIS",
                "東京で桜が開花しました",
                encoding_rs::SHIFT_JIS,
            ),
            (
                encoding_rs::SHIFT_JIS,
                "cp932",
                "第①回 京都の紅葉だより",
                encoding_rs::SHIFT_JIS,
            ),
            (
                encoding_rs::EUC_JP,
                "euc-jp",
                "北海道で初雪を観測",
                encoding_rs::EUC_JP,
            ),
            (
                encoding_rs::EUC_KR,
                "euc-kr",
                "서울에 첫눈이 내렸습니다",
                encoding_rs::EUC_KR,
            ),
            (
                encoding_rs::WINDOWS_1251,
                "windows-1251",
                "Москва готовится к марафону",
                encoding_rs::WINDOWS_1251,
            ),
            (
                encoding_rs::WINDOWS_1251,
                "win-1251",
                "Київ відкриває нову бібліотеку",
                encoding_rs::WINDOWS_1251,
            ),
            (
                encoding_rs::KOI8_R,
                "koi8-r",
                "Новая библиотека в Казани",
                encoding_rs::KOI8_R,
            ),
            (
                encoding_rs::ISO_8859_2,
                "iso-8859-2",
                "Źródła wody w Łodzi",
                encoding_rs::ISO_8859_2,
            ),
            (
                encoding_rs::ISO_8859_7,
                "ISO-8859-7",
                "Νέο μουσείο στην Αθήνα",
                encoding_rs::ISO_8859_7,
            ),
            (
                encoding_rs::WINDOWS_1252,
                "iso-8859-1",
                "Café crème à Zürich",
                encoding_rs::WINDOWS_1252,
            ),
        ];
        for (real, label, title, expected) in cases {
            for quote in ['"', '\''] {
                let xml = rss(&format!(" encoding={quote}{label}{quote}"), title);
                let decoded = decode(&encode(real, &xml), None);
                assert_eq!(decoded.how, How::XmlDeclaration, "{label}");
                assert_eq!(decoded.encoding, *expected, "{label}");
                assert!(!decoded.had_errors, "{label}");
                assert!(decoded.text.contains(title), "{label}: {}", decoded.text);
                let declared = format!("encoding={quote}utf-8{quote}");
                assert!(decoded.text.contains(&declared), "{label}: {}", decoded.text);
            }
        }
    }

    #[test]
    fn http_charset_beats_the_prolog_for_legacy_bytes() {
        let cases: &[(&'static Encoding, &str, &str, &str)] = &[
            // Declared nowhere but HTTP.
            (encoding_rs::GBK, "", "gbk", "新品牌喆园茶馆开业"),
            // HTTP right, prolog wrong.
            (
                encoding_rs::BIG5,
                " encoding=\"iso-8859-1\"",
                "Big5",
                "颱風逼近東部海岸",
            ),
            (
                encoding_rs::KOI8_R,
                " encoding=\"windows-1251\"",
                "koi8-r",
                "Погода в Новосибирске",
            ),
        ];
        for (real, attr, http, title) in cases {
            let decoded = decode(&encode(real, &rss(attr, title)), Some(http));
            assert_eq!(decoded.how, How::HttpCharset, "{http}");
            assert!(decoded.text.contains(title), "{http}: {}", decoded.text);
        }
    }

    #[test]
    fn valid_utf8_wins_over_labels() {
        let cases: &[(&str, Option<&str>)] = &[
            (" encoding=\"iso-8859-1\"", None),
            (" encoding=\"gb2312\"", Some("gb2312")),
            (" encoding='windows-1251'", Some("iso-8859-1")),
            (" encoding=\"UTF-16\"", None),
            ("", Some("shift_jis")),
            (" encoding=\"x-bogus\"", Some("bogus")),
        ];
        for (attr, http) in cases {
            let title = "港口扩建工程启动 — Café Zürich — Привет";
            let decoded = decode(rss(attr, title).as_bytes(), *http);
            assert_eq!(decoded.how, How::Utf8Detected, "{attr} {http:?}");
            assert_eq!(decoded.encoding, encoding_rs::UTF_8);
            assert!(decoded.text.contains(title));
            let relabelled = ["encoding=\"utf-8\"", "encoding='utf-8'"]
                .iter()
                .any(|d| decoded.text.contains(d));
            assert_eq!(relabelled, !attr.is_empty(), "{}", decoded.text);
        }
    }

    #[test]
    fn byte_order_marks() {
        let xml = rss(" encoding=\"UTF-16\"", "Ünïcödé — 日本語");
        let cases: Vec<(Vec<u8>, &'static Encoding, How)> = vec![
            (utf16(&xml, false, true), encoding_rs::UTF_16LE, How::Bom),
            (utf16(&xml, true, true), encoding_rs::UTF_16BE, How::Bom),
            (
                utf16(&xml, false, false),
                encoding_rs::UTF_16LE,
                How::Utf16Detected,
            ),
            (
                utf16(&xml, true, false),
                encoding_rs::UTF_16BE,
                How::Utf16Detected,
            ),
            (
                [b"\xef\xbb\xbf".as_slice(), xml.as_bytes()].concat(),
                encoding_rs::UTF_8,
                How::Bom,
            ),
        ];
        for (bytes, encoding, how) in cases {
            // The BOM beats even a plausible HTTP label.
            let decoded = decode(&bytes, Some("iso-8859-1"));
            assert_eq!((decoded.encoding, decoded.how), (encoding, how));
            assert!(
                decoded
                    .text
                    .starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
            );
            assert!(decoded.text.contains("Ünïcödé — 日本語"));
        }
    }

    #[test]
    fn fallbacks() {
        // windows-1252 curly quotes, no label anywhere.
        let bytes = encode(encoding_rs::WINDOWS_1252, &rss("", "The café’s “best” dishes"));
        let decoded = decode(&bytes, None);
        assert_eq!(
            (decoded.encoding, decoded.how),
            (encoding_rs::WINDOWS_1252, How::Fallback)
        );
        assert!(decoded.text.contains("The café’s “best” dishes"));

        // A UTF-8 label on bytes that are not UTF-8 loses to the other label.
        let bytes = encode(
            encoding_rs::WINDOWS_1251,
            &rss(" encoding=\"windows-1251\"", "Привет"),
        );
        let decoded = decode(&bytes, Some("utf-8"));
        assert_eq!(decoded.how, How::XmlDeclaration);
        assert!(decoded.text.contains("Привет"));

        // UTF-8 with one broken byte and no label stays UTF-8.
        let mut bytes = rss("", "Привет, мир, как дела").into_bytes();
        bytes.extend_from_slice(b"\xff");
        let decoded = decode(&bytes, None);
        assert_eq!(
            (decoded.encoding, decoded.how),
            (encoding_rs::UTF_8, How::Utf8Detected)
        );
        assert!(decoded.had_errors);
        assert!(decoded.text.contains("Привет, мир"));

        // Unknown labels are ignored.
        let bytes = encode(encoding_rs::WINDOWS_1252, &rss(" encoding=\"x-klingon\"", "Zoë"));
        let decoded = decode(&bytes, Some("x-unknown"));
        assert_eq!(decoded.how, How::Fallback);
        assert!(decoded.text.contains("Zoë"));
    }

    #[test]
    fn iso_2022_jp_is_not_mistaken_for_utf8() {
        let bytes = encode(
            encoding_rs::ISO_2022_JP,
            &rss(" encoding=\"iso-2022-jp\"", "大阪の天気"),
        );
        assert!(std::str::from_utf8(&bytes).is_ok());
        let decoded = decode(&bytes, None);
        assert_eq!(
            (decoded.encoding, decoded.how),
            (encoding_rs::ISO_2022_JP, How::XmlDeclaration)
        );
        assert!(decoded.text.contains("大阪の天気"));
    }

    #[test]
    fn json_feeds_have_no_prolog() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"Новости"}"#;
        let decoded = decode(json.as_bytes(), Some("utf-8"));
        assert_eq!(decoded.text, json);
        assert_eq!(decoded.how, How::Utf8Detected);
        let bytes = encode(encoding_rs::WINDOWS_1251, json);
        let decoded = decode(&bytes, Some("windows-1251"));
        assert_eq!((decoded.text.as_str(), decoded.how), (json, How::HttpCharset));
    }

    #[test]
    fn declaration_rewriting_leaves_everything_else() {
        let cases: &[(&str, &str)] = &[
            (
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>",
            ),
            (
                "\n  <?xml version='1.0' encoding = 'koi8-r' standalone='yes'?><a/>",
                "\n  <?xml version='1.0' encoding = 'utf-8' standalone='yes'?><a/>",
            ),
            (
                "<?xml version=\"1.0\"?><a encoding=\"x\"/>",
                "<?xml version=\"1.0\"?><a encoding=\"x\"/>",
            ),
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>",
            ),
            (
                "<?xml-stylesheet href=\"a\" encoding=\"x\"?><a/>",
                "<?xml-stylesheet href=\"a\" encoding=\"x\"?><a/>",
            ),
            (
                "<a/><?xml version=\"1.0\" encoding=\"latin1\"?>",
                "<a/><?xml version=\"1.0\" encoding=\"latin1\"?>",
            ),
            (
                "<?xml version=\"1.0\" encoding=\"latin1\"",
                "<?xml version=\"1.0\" encoding=\"latin1\"",
            ),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input.as_bytes(), None).text, *expected, "{input:?}");
        }
    }

    /// The point of rewriting the declaration: feed-rs (quick-xml) decodes by it.
    #[test]
    fn feed_rs_reads_the_decoded_text() {
        let cases: &[(&'static Encoding, &str, &str)] = &[
            (encoding_rs::GBK, "gb2312", "长江流域迎来首场春雨"),
            (encoding_rs::BIG5, "big5", "臺北捷運新路線通車"),
            (encoding_rs::SHIFT_JIS, "Shift_JIS", "東京で桜が開花しました"),
            (encoding_rs::KOI8_R, "koi8-r", "Новая библиотека в Казани"),
        ];
        let title_of = |xml: &str| {
            let feed = feed_rs::parser::parse(xml.as_bytes()).map_err(|e| e.to_string());
            feed.map(|f| f.title.map(|t| t.content))
        };
        for (real, label, title) in cases {
            let xml = rss(&format!(" encoding=\"{label}\""), title);
            let decoded = decode(&encode(real, &xml), None);
            assert_eq!(title_of(&decoded.text), Ok(Some(title.to_string())), "{label}");
            // Left as it was, the declaration makes feed-rs decode the UTF-8 a second time.
            assert_ne!(title_of(&xml), Ok(Some(title.to_string())), "{label}");
        }
    }

    #[test]
    fn charset_parameter() {
        let cases: &[(&str, Option<&str>)] = &[
            ("text/xml; charset=utf-8", Some("utf-8")),
            ("application/rss+xml;charset=\"GB2312\"", Some("GB2312")),
            ("text/xml;charset= \"us-ascii\"", Some("us-ascii")),
            ("text/xml;charset = us-ascii", Some("us-ascii")),
            ("text/xml; qs=0.9; CHARSET='Shift_JIS'", Some("Shift_JIS")),
            ("text/xml; charset=", None),
            ("text/xml", None),
            ("charset=utf-8", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(charset_from_content_type(value), *expected, "{value:?}");
        }
    }

    #[test]
    fn labels() {
        let cases: &[(&str, Option<&'static Encoding>)] = &[
            ("gb2312", Some(encoding_rs::GB18030)),
            ("GBK", Some(encoding_rs::GB18030)),
            ("cp936", Some(encoding_rs::GB18030)),
            ("CP932", Some(encoding_rs::SHIFT_JIS)),
            ("sjis", Some(encoding_rs::SHIFT_JIS)),
            ("cp949", Some(encoding_rs::EUC_KR)),
            ("big5-hkscs", Some(encoding_rs::BIG5)),
            ("iso_8859_5", Some(encoding_rs::ISO_8859_5)),
            ("win1251", Some(encoding_rs::WINDOWS_1251)),
            (" 'koi8-r' ", Some(encoding_rs::KOI8_R)),
            ("utf-16", None),
            ("iso-2022-kr", None),
            ("bogus", None),
            ("", None),
        ];
        for (label, expected) in cases {
            assert_eq!(encoding_for_label(label), *expected, "{label:?}");
        }
    }
}
