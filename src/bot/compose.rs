//! The message extension's answer as Teams shows it in the compose box: each result's preview
//! (a thumbnail card, whose text Teams renders as markdown and some HTML) is cut from the text
//! of the card the agent inserts, in which the customer's values (name, email) are already
//! escaped for markdown; their `<` and `>` become HTML entities too. So a customer named
//! `<b>Eve</b>` or `[Eve](https://evil.example)` is shown as written there, as in the card —
//! never as markup. What the results are is [`super::canned`]'s business.

use serde_json::Value;

/// The longest preview text, in characters shown.
const PREVIEW_CHARS: usize = 120;

/// Rewrites the previews of a `composeExtension` result from their cards' text.
pub fn safe_previews(mut body: Value) -> Value {
    let results = body
        .pointer_mut("/composeExtension/attachments")
        .and_then(Value::as_array_mut);
    for result in results.into_iter().flatten() {
        let card_text = result
            .pointer("/content/body/0/text")
            .and_then(Value::as_str)
            .map(preview_text);
        let preview = result.pointer_mut("/preview/content/text");
        match (card_text, preview) {
            (Some(text), Some(preview)) => *preview = Value::String(text),
            // No card text to show: no preview text rather than an unescaped one.
            (None, Some(preview)) => *preview = Value::String(String::new()),
            (_, None) => {}
        }
    }
    body
}

/// The first [`PREVIEW_CHARS`] characters of a card's markdown, an escape kept whole (never
/// cut after its backslash) and an escaped `<` / `>` written as an HTML entity.
fn preview_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len().min(4 * PREVIEW_CHARS));
    let mut chars = markdown.chars();
    let mut shown = 0;
    while shown < PREVIEW_CHARS {
        let Some(c) = chars.next() else { break };
        shown += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('<') => out.push_str("&lt;"),
            Some('>') => out.push_str("&gt;"),
            Some(escaped) => {
                out.push('\\');
                out.push(escaped);
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_preview_shows_the_cards_escaped_text_and_no_markup() {
        let body = json!({"composeExtension": {"type": "result", "attachments": [{
            "content": {"body": [{"type": "TextBlock",
                "text": r"Hello \<b\>Eve\</b\> \[x\]\(https://evil.example\)"}]},
            "preview": {"content": {"title": "Greeting", "text": "Hello <b>Eve</b> [x](https://evil.example)"}},
        }]}});
        let safe = safe_previews(body);
        assert_eq!(
            safe["composeExtension"]["attachments"][0]["preview"]["content"]["text"],
            r"Hello &lt;b&gt;Eve&lt;/b&gt; \[x\]\(https://evil.example\)"
        );
        assert_eq!(
            safe["composeExtension"]["attachments"][0]["preview"]["content"]["title"],
            "Greeting"
        );
    }

    #[test]
    fn a_long_preview_is_cut_between_escapes() {
        let text = format!("{}\\*", "a".repeat(PREVIEW_CHARS - 1));
        assert_eq!(
            preview_text(&text),
            format!("{}\\*", "a".repeat(PREVIEW_CHARS - 1))
        );
        let text = format!("{}\\*", "a".repeat(PREVIEW_CHARS));
        assert_eq!(preview_text(&text), "a".repeat(PREVIEW_CHARS));
        assert_eq!(preview_text("trailing \\"), "trailing ");
        let message =
            json!({"composeExtension": {"type": "message", "text": "No canned answer matches."}});
        assert_eq!(safe_previews(message.clone()), message);
    }
}
