use super::entities::HTML_ENTITIES;
use super::*;

fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Новости</title>{items}</channel></rss>\n"
    )
}

#[test]
fn repairs() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "<item><title>Tom & Jerry</title><link>http://x/?a=1&b=2&amp;c=3</link></item>",
            "<item><title>Tom &amp; Jerry</title><link>http://x/?a=1&amp;b=2&amp;c=3</link></item>",
            &["escaped 2 bare '&'"],
        ),
        (
            "<item><title>Prix&nbsp;Nobel &mdash; 2026 &copy; &eacute;t&eacute;</title></item>",
            "<item><title>Prix&#160;Nobel &#8212; 2026 &#169; &#233;t&#233;</title></item>",
            &["replaced 5 HTML entities (&nbsp; &mdash; &copy; …)"],
        ),
        (
            "<item><title>&lt;b&gt; &quot;x&quot; &apos;y&apos; &#8212; &#x2014; &custom;</title></item>",
            "<item><title>&lt;b&gt; &quot;x&quot; &apos;y&apos; &#8212; &#x2014; &custom;</title></item>",
            &[],
        ),
        (
            "<item><title>Bad &#99999999; &#xD800; &#x;, ok &#1;&#x1F;</title></item>",
            "<item><title>Bad &amp;#99999999; &amp;#xD800; &amp;#x;, ok </title></item>",
            &["removed 2 control characters", "escaped 3 bare '&'"],
        ),
        (
            "<item><title>Zeile\u{1}eins\u{b}\u{0}</title>\
             <description>a\tb\r\nc\u{1f}</description></item>",
            "<item><title>Zeileeins</title>\
             <description>a\tb\r\nc</description></item>",
            &["removed 4 control characters"],
        ),
        (
            "<item><title>a < b, 3 <= 4 &lt; 5</title></item>",
            "<item><title>a &lt; b, 3 &lt;= 4 &lt; 5</title></item>",
            &["escaped 2 bare '<'"],
        ),
        (
            "<item><title>Markets <b>rally</b> again</title></item>\
             <item><title>Storm<br> warning for <i>Kyūshū</title></item>",
            "<item><title>Markets <b>rally</b> again</title></item>\
             <item><title>Storm&lt;br&gt; warning for &lt;i&gt;Kyūshū</title></item>",
            &["escaped HTML inside 1 element (<title>)"],
        ),
        (
            "<item><title>T</title>\
             <description>Para<br>two &nbsp;<a href=\"/x?a&b\">l</a></description></item>",
            "<item><title>T</title>\
             <description>Para&lt;br&gt;two &#160;&lt;a href=\"/x?a&amp;b\"&gt;l&lt;/a&gt;\
             </description></item>",
            &[
                "escaped 1 bare '&'",
                "replaced 1 HTML entity (&nbsp;)",
                "escaped HTML inside 1 element (<description>)",
            ],
        ),
        (
            "<item><title><![CDATA[Tom & Jerry &nbsp; <br> \u{2}]]></title></item>",
            "<item><title><![CDATA[Tom & Jerry &nbsp; <br> ]]></title></item>",
            &["removed 1 control character"],
        ),
        (
            "<item><title>ok</title>\
             <enclosure url=\"http://x/a.mp3?x=1&y=2\" type='audio/mpeg' length=\"1\"/></item>",
            "<item><title>ok</title>\
             <enclosure url=\"http://x/a.mp3?x=1&amp;y=2\" type='audio/mpeg' length=\"1\"/></item>",
            &["escaped 1 bare '&'"],
        ),
        (
            "<!-- R&D <b> --><item><title>T</title></item>",
            "<!-- R&D <b> --><item><title>T</title></item>",
            &[],
        ),
    ];
    for (items, expected, fixes) in cases {
        let repaired = repair(&rss(items));
        let described: Vec<String> = repaired
            .iter()
            .flat_map(|r| &r.fixes)
            .map(Fix::describe)
            .collect();
        assert_eq!(described, *fixes, "{items}");
        let text = repaired.map_or_else(|| rss(items), |r| r.text);
        assert_eq!(text, rss(expected), "{items}");
    }
}

#[test]
fn whole_documents() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "<rss><channel><title>Café</title></channel></rss>",
            "<rss version=\"2.0\"><channel><title>Café</title></channel></rss>",
            &["added version=\"2.0\" to <rss>"],
        ),
        (
            "<rss\nxmlns:dc=\"http://purl.org/dc/elements/1.1/\" version='0.94'><channel/></rss>",
            "<rss\nxmlns:dc=\"http://purl.org/dc/elements/1.1/\" version='2.0'><channel/></rss>",
            &["changed <rss version=\"0.94\"> to version=\"2.0\""],
        ),
        (
            "<rss version=\"0.91\"><channel/></rss>",
            "<rss version=\"0.91\"><channel/></rss>",
            &[],
        ),
        (
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>\n\
             <br />\n<b>Warning</b>:  mysql_close(): no link in <b>/var/www/rss.php</b>",
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>",
            &["dropped 74 bytes after the root element"],
        ),
        (
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed >\n\
             <!-- cached -->\n<?pi?>\n",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed >\n\
             <!-- cached -->\n<?pi?>\n",
            &[],
        ),
        (
            // A stray end tag inside must not cut the feed short.
            "<rss version=\"2.0\"><channel><item><title>a</title></rss></item></channel>\
             </rss>junk",
            "<rss version=\"2.0\"><channel><item><title>a</title></rss></item></channel>\
             </rss>",
            &["dropped 4 bytes after the root element"],
        ),
        (
            "<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\">]><rss version=\"2.0\"><channel>\
             <title>A&nbsp;B</title></channel></rss>",
            "<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\">]><rss version=\"2.0\"><channel>\
             <title>A&#160;B</title></channel></rss>",
            &["replaced 1 HTML entity (&nbsp;)"],
        ),
        (
            "{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"A & B\"}",
            "{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"A & B\"}",
            &[],
        ),
        ("", "", &[]),
        ("<", "&lt;", &["escaped 1 bare '<'"]),
        (
            "<rss",
            "",
            &["dropped an unfinished tag at the end of a truncated document"],
        ),
        (
            "<p>a <b",
            "<p>a </p>",
            &["closed 1 element left open by a truncated document"],
        ),
        (
            "<p>a < b",
            "<p>a &lt; b</p>",
            &[
                "escaped 1 bare '<'",
                "closed 1 element left open by a truncated document",
            ],
        ),
        (
            "<rss version=\"2.0\"><channel><item><title>Foo <b>ba",
            "<rss version=\"2.0\"><channel><item><title>Foo <b>ba</b></title></item>\
             </channel></rss>",
            &["closed 5 elements left open by a truncated document"],
        ),
        (
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<link href=\"x\"/><br>\n</feed",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<link href=\"x\"/><br>\n</br></feed>",
            &["closed 2 elements left open by a truncated document"],
        ),
        (
            "<rss version=\"2.0\"><channel><description><![CDATA[<p>Grüße",
            "<rss version=\"2.0\"><channel><description><![CDATA[<p>Grüße]]></description>\
             </channel></rss>",
            &["closed 3 elements left open by a truncated document"],
        ),
        (
            "<rss version=\"2.0\"><channel><title>x</title></item><link href=\"http://exa",
            "<rss version=\"2.0\"><channel><title>x</title></item></channel></rss>",
            &["closed 2 elements left open by a truncated document"],
        ),
        (
            "<rss/>",
            "<rss version=\"2.0\"/>",
            &["added version=\"2.0\" to <rss>"],
        ),
        (
            "<rss version=\"2.0\">\n<channel>\n<item><title><![CD",
            "<rss version=\"2.0\">\n<channel>\n<item><title></title></item></channel></rss>",
            &["closed 4 elements left open by a truncated document"],
        ),
        (
            "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>&#X41;&#x42;&#X1;</title></entry>",
            "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>&#65;&#x42;</title></entry>",
            &[
                "removed 1 control character",
                "rewrote 1 character reference with '&#X'",
            ],
        ),
        (
            "\u{0}<\u{0}r\u{0}s\u{0}s\u{0} version=\"2.0\"/>",
            "<rss version=\"2.0\"/>",
            &["removed 5 control characters"],
        ),
        ("&", "&amp;", &["escaped 1 bare '&'"]),
        (
            "<a>&#",
            "<a>&amp;#</a>",
            &[
                "escaped 1 bare '&'",
                "closed 1 element left open by a truncated document",
            ],
        ),
        ("<a>é&é;</a>", "<a>é&amp;é;</a>", &["escaped 1 bare '&'"]),
    ];
    for (input, expected, fixes) in cases {
        let repaired = repair(input);
        let described: Vec<String> = repaired
            .iter()
            .flat_map(|r| &r.fixes)
            .map(Fix::describe)
            .collect();
        assert_eq!(described, *fixes, "{input}");
        assert_eq!(
            repaired.map_or_else(|| input.to_string(), |r| r.text),
            *expected,
            "{input}"
        );
    }
}

#[test]
fn well_formed_feeds_need_nothing() {
    let feeds = [
        rss(
            "<item><title>港口扩建工程启动</title><link>https://example.cn/?a=1&amp;b=2</link>\
             <description><![CDATA[<p>Tom & Jerry<br>&nbsp;</p>]]></description></item>",
        ),
        rss(
            "<item><title>Markets <b>rally</b> &amp; <i>bonds</i> fall</title>\
             <description>&lt;p&gt;Москва&lt;/p&gt;</description></item>",
        ),
        "<?xml version=\"1.0\"?>\n<!DOCTYPE feed>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xml:lang='ja'><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">東京<br/>\
         大阪</div></title><entry><title type=\"html\">&lt;b&gt;桜&lt;/b&gt;</title>\
         <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div></content>\
         <id>urn:x</id></entry></feed>\n"
            .to_string(),
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns=\"http://purl.org/rss/1.0/\"><channel rdf:about=\"http://x/\"><title>Ελλάδα</title>\
         </channel><item rdf:about=\"http://x/1\"><title>Σήμερα</title></item></rdf:RDF>"
            .to_string(),
    ];
    for feed in feeds {
        assert_eq!(repair(&feed), None, "{feed}");
    }
}

#[test]
fn entity_table_is_sorted_and_complete() {
    assert!(HTML_ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
    let lookups = [
        ("nbsp", 160),
        ("hellip", 8230),
        ("Eacute", 201),
        ("eacute", 233),
        ("euro", 8364),
    ];
    for (name, code) in lookups {
        assert_eq!(html_entity(name), Some((name, code)));
    }
    assert_eq!(html_entity("apos"), None);
    assert_eq!(html_entity("NBSP"), None);
}

#[test]
fn a_document_lacking_only_its_last_gt_is_completed_not_refused() {
    let repaired = repair("<rss version=\"2.0\"><channel><title>T</title></channel></rss")
        .map(|r| (r.text, r.fixes.iter().map(Fix::describe).collect::<Vec<_>>()));
    assert_eq!(
        repaired,
        Some((
            "<rss version=\"2.0\"><channel><title>T</title></channel></rss>".to_owned(),
            vec!["completed the last end tag, which lacked its '>'".to_owned()]
        ))
    );
    // Cut short anywhere else, it stays a truncated document.
    let cut = repair("<rss version=\"2.0\"><channel><title>T</title></chan").map(|r| r.fixes);
    assert!(cut.is_some_and(|fixes| fixes.iter().any(|f| matches!(f, Fix::Truncated { .. }))));
}

#[test]
fn a_php_warning_before_the_document_is_dropped() {
    let feed = "<rss version=\"2.0\"><channel><title>T</title></channel></rss>";
    let warning = "<br />\n<b>Warning</b>:  Undefined variable $x in <b>/var/www/feed.php</b> on line <b>12</b><br />\n";
    for document in [
        format!("{warning}<?xml version=\"1.0\"?>\n{feed}"),
        format!("{warning}{feed}"),
    ] {
        let repaired =
            repair(&document).map(|r| (r.text, r.fixes.iter().map(Fix::describe).collect::<Vec<_>>()));
        let (text, fixes) = repaired.unwrap_or_default();
        assert!(text.ends_with(feed) && !text.contains("Warning"), "{text}");
        assert_eq!(
            fixes,
            [format!(
                "dropped {} bytes before the document",
                document.find('<').map_or(0, |_| document.len() - text.len())
            )]
        );
    }
    // A prolog is not junk, and a declaration inside an item is not the document's.
    let prolog = format!(
        "<!-- generated -->\n<?xml-stylesheet href=\"s.xsl\"?>\n<!DOCTYPE rss [ <!ENTITY c \"©\"> ]>\n{feed}"
    );
    assert_eq!(repair(&prolog), None);
    // A prefixed root, feedburner's elements inside; a DOCTYPE closed by `] >`.
    let atom = "<atom:feed xmlns:atom=\"http://www.w3.org/2005/Atom\" xmlns:feedburner=\"http://rssnamespace.org/feedburner/ext/1.0\"><atom:title>T</atom:title><atom:entry><feedburner:origLink>https://e.example/1</feedburner:origLink></atom:entry></atom:feed>";
    assert_eq!(repair(atom), None);
    let spaced = format!("<!DOCTYPE rss [ <!ENTITY c \"©\"> ] >\n{feed}");
    assert_eq!(repair(&spaced), None);
    let commented = format!("<!-- was <rss> before -->\n{feed}");
    assert_eq!(repair(&commented), None);
    let inside = "<rss version=\"2.0\"><channel><title>T</title><item><description><![CDATA[<?xml?>]]></description></item></channel></rss>";
    assert_eq!(repair(inside), None);
}
