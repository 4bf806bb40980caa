//! Tests of the card catalog against its snapshots and the Teams checks.

mod catalog;

#[test]
fn format_number_without_a_locale_uses_the_readers_locale() {
    use crate::cards::Template;
    let template = Template::parse(&serde_json::json!({
        "mine": "${formatNumber(1234.5, 1)}",
        "fixed": "${formatNumber(1234.5, 1, 'en-US')}"
    }))
    .expect("parses");
    let expand = |locale: Option<&str>| {
        template
            .expand_in(&serde_json::json!({}), locale)
            .expect("expands")
            .expect("value")
    };
    assert_eq!(expand(Some("de-DE"))["mine"], "1.234,5");
    assert_eq!(expand(Some("fr_fr"))["mine"], "1\u{a0}234,5");
    assert_eq!(
        expand(Some("xx-YY"))["mine"],
        "1,234.5",
        "an unknown locale is en-US"
    );
    assert_eq!(expand(None)["mine"], "1,234.5");
    assert_eq!(
        expand(Some("de-DE"))["fixed"],
        "1,234.5",
        "the template's own locale wins"
    );
}
