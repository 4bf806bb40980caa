//! Escaping customer-supplied text for Adaptive Card `TextBlock`s, whose markdown Teams renders:
//! a customer must not be able to make emphasis, lists, headings or a link whose text hides
//! its target (`[your bank](https://evil.example)`) appear in an agent's card.

/// Backslash-escapes the characters Teams' card markdown acts on.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = &line[..line.len() - body.len()];
        out.push_str(indent);
        // List items ("- x", "+ x", "1. x") and headings are only markup at a line start.
        let digits = body.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && body[digits..].starts_with(['.', ')']) {
            out.push_str(&body[..digits]);
            out.push('\\');
            escape_inline(&body[digits..], &mut out);
            continue;
        }
        if body.starts_with(['-', '+']) {
            out.push('\\');
        }
        escape_inline(body, &mut out);
    }
    out
}

fn escape_inline(text: &str, out: &mut String) {
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '[' | ']' | '(' | ')' | '#' | '~' | '<' | '>' | '|' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn links_emphasis_and_mentions_are_neutralised() {
        assert_eq!(
            escape("[your bank](https://evil.example)"),
            "\\[your bank\\]\\(https://evil.example\\)"
        );
        assert_eq!(escape("**urgent** _now_"), "\\*\\*urgent\\*\\* \\_now\\_");
        assert_eq!(escape("<at>Everyone</at>"), "\\<at\\>Everyone\\</at\\>");
        assert_eq!(
            escape("# Title\n- item\n2. second"),
            "\\# Title\n\\- item\n2\\. second"
        );
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            escape("María García, order A-10042: 3 items."),
            "María García, order A-10042: 3 items."
        );
        assert_eq!(
            escape("mail me at a.b@example.com"),
            "mail me at a.b@example.com"
        );
    }
}
