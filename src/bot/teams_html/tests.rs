use super::*;

fn html_of(source: &str) -> Option<String> {
    convert(source, &[]).html
}

fn text_of_html(source: &str) -> String {
    convert(source, &[]).text
}

#[test]
fn plain_paragraphs_have_no_html_and_keep_their_line_breaks() {
    let c = convert(
        "<div><div>Hello there,<br>line two</div><div>next</div></div>",
        &[],
    );
    assert_eq!(c.text, "Hello there,\nline two\nnext");
    assert_eq!(c.html, None);
}

#[test]
fn formatting_becomes_the_safe_subset() {
    let source = "<p>Use <strong>bold</strong>, <em>it</em>, <u>u</u>, <s>s</s> and <code>x &lt; y</code></p>";
    assert_eq!(
        html_of(source).as_deref(),
        Some(
            "<p>Use <strong>bold</strong>, <em>it</em>, <u>u</u>, <s>s</s> and <code>x &lt; y</code></p>"
        )
    );
    assert_eq!(text_of_html(source), "Use bold, it, u, s and x < y");
}

#[test]
fn lists_are_lines_in_the_text() {
    let source = "<p>Steps:</p>\n<ol>\n<li>Open <b>Settings</b></li>\n<li>Press Reset</li>\n</ol><ul><li>a</li><li>b</li></ul>";
    assert_eq!(
        text_of_html(source),
        "Steps:\n1. Open Settings\n2. Press Reset\n• a\n• b"
    );
    assert_eq!(
        html_of(source).as_deref(),
        Some(
            "<p>Steps:</p><ol><li>Open <strong>Settings</strong></li><li>Press Reset</li></ol><ul><li>a</li><li>b</li></ul>"
        )
    );
}

#[test]
fn links_keep_their_target_only_when_it_is_safe() {
    let source = r#"<p>See <a href="https://example.com/a?b=1&amp;c=2" title="x">the guide</a>, <a href="https://example.com/">https://example.com/</a> and <a href="javascript:alert(1)">this</a></p>"#;
    assert_eq!(
        text_of_html(source),
        "See the guide (https://example.com/a?b=1&c=2), https://example.com/ and this"
    );
    let html = html_of(source).expect("formatted");
    assert!(html.contains(r#"<a href="https://example.com/a?b=1&amp;c=2">the guide</a>"#));
    assert!(!html.contains("javascript"), "{html}");
}

#[test]
fn nothing_of_the_input_markup_passes_through() {
    let hostile = r#"<p><strong onclick="steal()">x</strong><img src=x onerror=alert(1)><script>alert(1)</script><style>p{}</style><iframe src="https://evil"></iframe><a href=" JAVASCRIPT:alert(1)">y</a><svg><a href="https://ok">z</a></svg></p>"#;
    let c = convert(hostile, &[]);
    let html = c.html.expect("formatted");
    for bad in [
        "onclick",
        "onerror",
        "script",
        "style",
        "iframe",
        "svg",
        "javascript",
        "alert",
        "src",
    ] {
        assert!(!html.to_ascii_lowercase().contains(bad), "{bad} in {html}");
    }
    assert_eq!(c.images, 1);
    assert!(c.text.contains("[an image]"), "{}", c.text);
}

#[test]
fn broken_markup_is_kept_as_text_and_escaped() {
    let c = convert("<p>1 < 2 and <b>bold</p> <3 &unknown; &#x1F600; &#0;", &[]);
    assert!(c.text.contains("1 < 2 and bold"), "{}", c.text);
    assert!(c.text.contains("<3 &unknown; 😀 &#0;"), "{}", c.text);
    let html = c.html.expect("formatted");
    assert!(html.contains("1 &lt; 2"), "{html}");
    assert!(!html.contains("<3"), "{html}");
}

#[test]
fn a_quoted_reply_becomes_a_quote_with_its_author() {
    let source = r#"<blockquote itemscope="" itemtype="http://schema.skype.com/Reply" itemid="1700000000000"><strong itemprop="mri" itemid="8:orgid:abc">Dana Customer</strong><span itemprop="time" itemid="1700000000000"></span><p itemprop="preview">Where is my order?</p></blockquote><p>It ships today.</p>"#;
    let c = convert(source, &[]);
    assert_eq!(
        c.text,
        "> Dana Customer:\n> Where is my order?\nIt ships today."
    );
    assert_eq!(
        c.html.as_deref(),
        Some(
            "<blockquote><strong>Dana Customer</strong><br>Where is my order?</blockquote><p>It ships today.</p>"
        )
    );
}

#[test]
fn mentions_keep_the_name_but_not_the_bots_own() {
    let c = convert(
        "<p><at>Switchboard</at> ask <at>Sam Supervisor</at> please</p>",
        &["Switchboard".to_owned()],
    );
    assert_eq!(c.text, "ask Sam Supervisor please");
    let c = plain_message("<at>Switchboard</at> hi", &["Switchboard".to_owned()]);
    assert_eq!(c.text, "hi");
}

#[test]
fn emoji_become_their_character_and_images_are_described() {
    let c = convert(
        r#"<p>Thanks <emoji id="smile" alt="🙂" title="Smile"></emoji> <img alt="😀" itemtype="http://schema.skype.com/Emoji" src="x"> <img src="https://eu-api.asm.skype.com/v1/objects/0-x/views/imgo" alt="receipt" itemtype="http://schema.skype.com/AMSImage"></p>"#,
        &[],
    );
    assert_eq!(c.text, "Thanks 🙂 😀 [an image: receipt]");
    assert_eq!(c.images, 1);
}

#[test]
fn code_blocks_and_tables_keep_their_text() {
    let c = convert(
        "<codeblock class=\"language-plaintext\"><code>let x = 1;<br>  x + 1</code></codeblock><table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>10</td></tr></table>",
        &[],
    );
    assert_eq!(c.text, "let x = 1;\n  x + 1\nPlan | Price\nPro | 10");
    assert_eq!(
        c.html.as_deref(),
        Some("<pre>let x = 1;\n  x + 1</pre><p>Plan | Price</p><p>Pro | 10</p>")
    );
}

#[test]
fn a_heading_is_a_bold_paragraph() {
    assert_eq!(
        html_of("<h2>Title</h2><p>x</p>").as_deref(),
        Some("<p><strong>Title</strong></p><p>x</p>")
    );
}

proptest::proptest! {
    /// Whatever the input, the HTML written holds only the subset's tags, a link only with an
    /// `href` (quoted, escaped), and every other `<` escaped.
    #[test]
    fn only_the_subset_is_ever_written(source in r#"(<|>|/|"|'|=|&|;| |a|b|p|i|on|img|src|href|script|javascript:|https://x|<a |<b>|</b>|<p>|<ul><li>|<blockquote itemtype="/Reply">|<at>|<code>|<pre>|x)*"#) {
        let c = convert(&source, &[]);
        let allowed = regex::Regex::new(
            r#"^</?(p|br|strong|em|u|s|code|pre|ul|ol|li|blockquote)>|^<a href="[^"<>]*">|^</a>"#,
        )
        .expect("regex");
        if let Some(html) = c.html {
            for (at, _) in html.match_indices('<') {
                proptest::prop_assert!(allowed.is_match(&html[at..]), "{html}");
            }
        }
    }
}

#[test]
fn a_quoted_reply_placeholder_is_expanded_from_its_entity() {
    let entities = vec![serde_json::json!({"type": "quotedReply", "quotedReply": {
        "messageId": "1772050244572", "senderId": "29:a", "senderName": "Dana <Customer>",
        "preview": "Where is my order?", "time": "1772050244572"}})];
    let text = r#"<quoted messageId="1772050244572"/> It ships today. <quoted messageId="gone"/>"#;
    let html = expand_quotes(text, &entities, true);
    let c = convert(&html, &[]);
    assert_eq!(
        c.text,
        "> Dana <Customer>:\n> Where is my order?\nIt ships today.\n> (a message that was deleted)"
    );
    assert!(
        c.html.as_deref().is_some_and(|h| h.starts_with(
            "<blockquote><strong>Dana &lt;Customer&gt;</strong><br>Where is my order?</blockquote>"
        )),
        "{:?}",
        c.html
    );
    let plain = expand_quotes(text, &entities, false);
    assert_eq!(
        plain_message(&plain, &[]).text,
        "> Dana <Customer>:\n> Where is my order?\nIt ships today.\n> (a message that was deleted)"
    );
}

#[test]
fn teams_html_mentions_of_the_bot_are_left_out_word_by_word() {
    let source = r#"<div><div><span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">Switch</span>&nbsp;<span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">Board</span>&nbsp;ask <span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="1">Sam</span> <strong>now</strong></div></div>"#;
    let c = convert(source, &["Switch Board".to_owned()]);
    assert_eq!(c.text, "ask Sam now");
}

#[test]
fn quotes_that_are_not_relayable_are_left_out_in_both_forms() {
    let entities = vec![
        serde_json::json!({"type": "quotedReply", "quotedReply": {
        "messageId": "1", "senderName": "Ada", "preview": "Where is my order?"}}),
        serde_json::json!({"type": "quotedReply", "quotedReply": {
        "messageId": "2", "senderName": "Switchboard", "preview": "Whisper from Bob: refund"}}),
    ];
    let only_one = |id: &str| id == "1";
    // The newer form: a placeholder per quote.
    let text = r#"<quoted messageId="2"/><quoted messageId="1"/> It ships today."#;
    assert_eq!(quoted_ids(text), ["1", "2"]);
    let html = expand_quotes_of(text, &entities, true, &only_one);
    let c = convert_quoting(&html, &[], &only_one);
    assert_eq!(c.text, "> Ada:\n> Where is my order?\nIt ships today.");
    let plain = expand_quotes_of(text, &entities, false, &only_one);
    assert_eq!(
        plain_message(&plain, &[]).text,
        "> Ada:\n> Where is my order?\nIt ships today."
    );
    // The older form: a Reply blockquote naming the message; one without an id is left out.
    let old = r#"<blockquote itemtype="http://schema.skype.com/Reply" itemid="2"><strong itemprop="mri">Switchboard</strong><p itemprop="preview">Whisper from Bob: refund</p></blockquote><blockquote itemtype="http://schema.skype.com/Reply"><p>no id</p></blockquote><p>OK</p>"#;
    assert_eq!(quoted_ids(old), ["2"]);
    let c = convert_quoting(old, &[], &only_one);
    assert_eq!(c.text, "OK");
    assert!(!c.html.unwrap_or_default().contains("Whisper"));
}
