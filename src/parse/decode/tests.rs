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
        (encoding_rs::WINDOWS_1252, How::Detected)
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

    // Only UTF-8 labels, on bytes that are not UTF-8 (an old CMS template,
    // a server's default charset): the labels are wrong, the bytes tell.
    let title = "长江流域迎来今年首场春雨，气象部门提醒注意防范";
    let bytes = encode(encoding_rs::GBK, &rss(" encoding=\"utf-8\"", title));
    for http in [None, Some("utf-8")] {
        let decoded = decode_for(&bytes, http, Some("news.example.cn"));
        assert_eq!(decoded.how, How::Detected, "{http:?}");
        assert!(decoded.text.contains(title), "{http:?}: {}", decoded.text);
    }
    let bytes = encode(
        encoding_rs::WINDOWS_1252,
        &rss(" encoding=\"UTF-8\"", "The café’s “best” dishes"),
    );
    assert!(decode(&bytes, None).text.contains("The café’s “best” dishes"));

    // Real UTF-8 with one stray byte under a UTF-8 label stays UTF-8, even
    // with few non-ASCII characters (three curly quotes).
    let mut bytes = rss(" encoding=\"utf-8\"", "It’s “fine”").into_bytes();
    bytes.extend_from_slice(b"<!-- \xa0 -->");
    let decoded = decode(&bytes, Some("utf-8"));
    assert_eq!(
        (decoded.encoding, decoded.how),
        (encoding_rs::UTF_8, How::Utf8Detected)
    );
    assert!(decoded.text.contains("It’s “fine”"), "{}", decoded.text);

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

    // And with a UTF-8 label too.
    let decoded = decode(&bytes, Some("utf-8"));
    assert_eq!(
        (decoded.encoding, decoded.how),
        (encoding_rs::UTF_8, How::Utf8Detected)
    );
    assert!(decoded.text.contains("Привет, мир"));

    // Unknown labels are ignored.
    let bytes = encode(encoding_rs::WINDOWS_1252, &rss(" encoding=\"x-klingon\"", "Zoë"));
    let decoded = decode(&bytes, Some("x-unknown"));
    assert_eq!(decoded.how, How::Detected);
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

#[test]
fn undeclared_legacy_encodings_are_detected_not_read_as_windows_1252() {
    let cases = [
        (
            encoding_rs::GBK,
            "国务院常务会议部署进一步稳定经济的措施，要求各地区各部门切实抓好落实工作。",
            "example.cn",
        ),
        (
            encoding_rs::BIG5,
            "行政院會議通過明年度總預算案，將送立法院審議並加強經濟發展與社會福利。",
            "example.tw",
        ),
        (
            encoding_rs::SHIFT_JIS,
            "政府は来年度の予算案を閣議決定し、国会での審議に向けて準備を進めています。",
            "example.jp",
        ),
        (
            encoding_rs::EUC_KR,
            "정부는 내년도 예산안을 국무회의에서 의결하고 국회 심의를 준비하고 있습니다.",
            "example.kr",
        ),
        (
            encoding_rs::KOI8_R,
            "Правительство утвердило проект бюджета на следующий год и направило его в парламент.",
            "example.ru",
        ),
        (
            encoding_rs::WINDOWS_1255,
            "הממשלה אישרה את הצעת התקציב לשנה הבאה והעבירה אותה לדיון בכנסת.",
            "example.il",
        ),
    ];
    for (encoding, text, host) in cases {
        let bytes = encode(encoding, &rss("", text));
        // Without the domain's hint too: the bytes alone must do for these.
        for host in [Some(host), None] {
            let decoded = decode_for(&bytes, None, host);
            assert_eq!(decoded.how, How::Detected, "{}", encoding.name());
            assert!(
                decoded.text.contains(text),
                "{} via {host:?}: {}",
                encoding.name(),
                decoded.text
            );
        }
    }
}

#[test]
fn labels_real_feeds_use() {
    let russian = "Новости Москвы и Подмосковья";
    for (label, encoding) in [
        ("MacCyrillic", encoding_rs::X_MAC_CYRILLIC),
        ("x-mac-cyrillic", encoding_rs::X_MAC_CYRILLIC),
        ("IBM866", encoding_rs::IBM866),
        ("cp866", encoding_rs::IBM866),
        ("cp1251", encoding_rs::WINDOWS_1251),
    ] {
        let bytes = encode(encoding, &rss(&format!(" encoding=\"{label}\""), russian));
        let decoded = decode(&bytes, None);
        assert_eq!(decoded.how, How::XmlDeclaration, "{label}");
        assert!(decoded.text.contains(russian), "{label}: {}", decoded.text);
    }
    // IBM855, which encoding_rs lacks: by table. "Привет" in IBM855.
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"IBM855\"?><rss><channel><title>".to_vec();
    bytes.extend_from_slice(&[0xDD, 0xE1, 0xB7, 0xEB, 0xA8, 0xE5]);
    bytes.extend_from_slice(b"</title></channel></rss>");
    let decoded = decode(&bytes, None);
    assert_eq!((decoded.name, decoded.how), ("IBM855", How::XmlDeclaration));
    assert!(decoded.text.contains("<title>Привет</title>"), "{}", decoded.text);
    assert!(decoded.text.contains("encoding=\"utf-8\""));
    // DOS and old Mac code pages, by table too.
    for (label, body, expected) in [
        ("437", &[0x80][..], "Ç"),
        ("cp850", &[0x9B][..], "ø"),
        ("MacCentralEurope", &[0x80][..], "Ä"),
        // Pages whose low half is not all ASCII (the high byte makes it not UTF-8).
        ("IBM864", &[0x80, 0x25][..], "°\u{066a}"),
        ("VISCII", &[0x80, 0x02][..], "ẠẲ"),
        // TCVN 5712 (VN3): "Việt Nam Đà" and a low byte (0x01 is Ú).
        ("tcvn", b"Vi\xd6t Nam \xa7\xb5 \x01"[..].as_ref(), "Việt Nam Đà Ú"),
        ("TCVN5712-1", &[0x80][..], "À"),
    ] {
        let mut bytes = format!("<?xml version=\"1.0\" encoding=\"{label}\"?><t>").into_bytes();
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"</t>");
        let decoded = decode(&bytes, None);
        assert!(
            decoded.text.contains(&format!("<t>{expected}</t>")),
            "{label}: {}",
            decoded.text
        );
    }
}
