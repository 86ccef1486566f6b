use super::*;

fn rewritten(text: &str) -> Rewritten {
    match normalise(text, true) {
        Ok(Some(out)) => out,
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[test]
fn atom_0_3_becomes_atom_1_0() {
    let out = rewritten(
        r#"<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title><tagline>Sub</tagline>
        <entry><title mode="escaped" type="text/html">A &amp;lt;b&amp;gt;</title><issued>2004-01-01T00:00:00Z</issued>
        <modified>2004-01-02T00:00:00Z</modified><author><name>N</name><url>http://n.org/</url></author>
        <summary mode="base64">RW50cnkgU3VtbWFyeQ==</summary>
        <content type="application/xhtml+xml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body</p></div></content></entry></feed>"#,
    );
    let t = &out.text;
    assert!(t.contains(r#"xmlns="http://www.w3.org/2005/Atom""#), "{t}");
    assert!(!t.contains("version=\"0.3\""), "{t}");
    for expected in [
        r#"<subtitle type="text">Sub</subtitle>"#,
        "<published>2004-01-01T00:00:00Z</published>",
        "<updated>2004-01-02T00:00:00Z</updated>",
        "<uri>http://n.org/</uri>",
        r#"<summary type="text">Entry Summary</summary>"#,
        r#"<title type="html">"#,
        r#"<content type="html">&lt;div xmlns=&quot;http://www.w3.org/1999/xhtml&quot;&gt;&lt;p&gt;Body"#,
    ] {
        assert!(t.contains(expected), "{expected}\n{t}");
    }
    assert!(
        out.changes.iter().any(|c| c == "Atom 0.3 read as Atom 1.0"),
        "{:?}",
        out.changes
    );
}

#[test]
fn namespaced_rss_becomes_plain_rss() {
    let out = rewritten(
        r#"<rss version="2.0" xmlns="http://backend.userland.com/rss2"><channel><title>T</title><item><title>I</title></item></channel></rss>"#,
    );
    assert!(
        out.text.starts_with(r#"<rss version="2.0"><channel>"#),
        "{}",
        out.text
    );
    assert_eq!(out.changes.len(), 1, "{:?}", out.changes);
}

#[test]
fn rss_0_90_and_rss_1_0_items_without_links() {
    let out = rewritten(
        r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">
        <channel><title>T</title><link>http://e.org/</link></channel>
        <item rdf:about="http://e.org/1"><title>One</title></item>
        <item><title>Two</title><link>http://e.org/2</link></item></rdf:RDF>"#,
    );
    assert!(
        out.text.contains(r#"xmlns="http://purl.org/rss/1.0/""#),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains(r#"<item rdf:about="http://e.org/1"><link>http://e.org/1</link>"#),
        "{}",
        out.text
    );
    assert_eq!(out.text.matches("<link>").count(), 3, "{}", out.text);
}

#[test]
fn items_after_the_channel_are_the_channels() {
    let out = rewritten(
        r#"<rss version="0.91"><channel><title>T</title></channel><item><title>I</title><link>http://e.org/1</link></item></rss>"#,
    );
    assert_eq!(
        out.text,
        r#"<rss version="0.91"><channel><title>T</title><item><title>I</title><link>http://e.org/1</link></item></channel></rss>"#
    );
}

#[test]
fn rss_without_a_channel_says_so() {
    assert_eq!(
        normalise(r#"<?xml version="1.0"?><rss version="2.0"></rss>"#, true),
        Err(DialectError::RssWithoutChannel)
    );
}

#[test]
fn atom_1_0_types_only_after_feed_rs_refused() {
    let text = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="application/x-custom">test</title>
        <summary type="application/octet-stream">PHA+RW50cnkgU3VtbWFyeTwvcD4=</summary></entry></feed>"#;
    assert_eq!(normalise(text, true), Ok(None));
    let out = normalise(text, false).ok().flatten().expect("rewritten");
    assert!(
        out.text
            .contains(r#"<summary type="html">&lt;p&gt;Entry Summary&lt;/p&gt;</summary>"#),
        "{}",
        out.text
    );
}

#[test]
fn plain_feeds_are_not_rewritten() {
    for text in [
        r#"<rss version="2.0"><channel><title>T</title><item><title>I</title></item></channel></rss>"#,
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title></feed>"#,
        r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel><link>x</link><items><rdf:Seq><rdf:li resource="y"/></rdf:Seq></items></channel><item><link>y</link></item></rdf:RDF>"#,
    ] {
        assert_eq!(normalise(text, true), Ok(None), "{text}");
    }
}

#[test]
fn an_unknown_entity_in_atom_0_3_content_keeps_the_rewrite() {
    let out = rewritten(
        r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title>T</title><content type="application/xhtml+xml">caf&eacute;&nbsp;&amp; bar</content></entry></feed>"#,
    );
    assert!(
        out.text.contains(r#"xmlns="http://www.w3.org/2005/Atom""#),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("&amp;eacute;&amp;nbsp;&amp; bar"),
        "{}",
        out.text
    );
}

#[test]
fn start_tags_count_items_not_their_list_or_ends() {
    let text = r#"<rdf:RDF><channel><items><rdf:Seq/></items></channel><item a="1"><title>x</title></item><rss:item/><item>"#;
    assert_eq!(super::super::start_tags(text, "item"), 3);
    assert_eq!(super::super::start_tags("<entry></entry><x:entry >", "entry"), 2);
}
