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
            // `1.` / `1)`: one backslash before the mark (`)` is not escaped twice).
            out.push_str(&body[..digits]);
            out.push('\\');
            out.push_str(&body[digits..=digits]);
            escape_inline(&body[digits + 1..], &mut out);
            continue;
        }
        if body.starts_with(['-', '+']) {
            out.push('\\');
        }
        escape_inline(body, &mut out);
    }
    out
}

/// Keeps each line break of `markdown` in a Teams message: Teams' markdown joins lines broken by
/// a single newline, so each becomes a hard break (two spaces before it).
pub fn hard_breaks(markdown: &str) -> String {
    markdown.replace("\r\n", "\n").replace('\n', "  \n")
}

/// Undoes [`escape`]: a backslash before a character it escapes is dropped (text an agent sends
/// from a card, for a customer who reads plain text).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (ESCAPED.contains(&next) || matches!(next, '.' | '-' | '+'))
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// The characters [`escape`] puts a backslash before, wherever they are.
const ESCAPED: &[char] = &[
    '\\', '*', '_', '`', '[', ']', '(', ')', '#', '~', '<', '>', '|', '!',
];

fn escape_inline(text: &str, out: &mut String) {
    for c in text.chars() {
        if ESCAPED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// [`escape`], except that each `http(s)://` address the customer wrote becomes a link whose
/// text is the address itself (so it cannot hide its target): the agent clicks it in Teams.
/// The target is the parsed URL with the characters markdown could end it on encoded; what
/// follows an address (a closing bracket, a full stop) stays text.
pub fn escape_with_links(text: &str) -> String {
    // Addresses are set aside behind private-use markers the escaping leaves alone (a customer's
    // own markers are replaced first, so they cannot forge one).
    let text: String = text
        .chars()
        .map(|c| {
            if c == OPEN || c == CLOSE {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let mut links = Vec::new();
    let mut marked = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some((at, url, len)) = next_url(rest) {
        marked.push_str(&rest[..at]);
        marked.push(OPEN);
        marked.push_str(&links.len().to_string());
        marked.push(CLOSE);
        links.push((rest[at..at + len].to_owned(), url));
        rest = &rest[at + len..];
    }
    marked.push_str(rest);
    let mut out = escape(&marked);
    for (i, (shown, url)) in links.iter().enumerate() {
        let mut label = String::new();
        escape_inline(shown, &mut label);
        out = out.replacen(
            &format!("{OPEN}{i}{CLOSE}"),
            &format!("[{label}]({url})"),
            1,
        );
    }
    out
}

const OPEN: char = '\u{e000}';
const CLOSE: char = '\u{e001}';

/// The next `http(s)://` address in `text`: where it starts, its target (encoded for a
/// markdown link) and its length as written.
fn next_url(text: &str) -> Option<(usize, String, usize)> {
    let mut from = 0;
    loop {
        let lower = text[from..].to_ascii_lowercase();
        let found = [lower.find("https://"), lower.find("http://")]
            .into_iter()
            .flatten()
            .min()?;
        let at = from + found;
        // A word boundary before it: not in the middle of `xhttps://`.
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let end = text[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
            .map_or(text.len(), |n| at + n);
        let mut candidate = &text[at..end];
        // Trailing punctuation belongs to the sentence; a closing bracket only when unmatched.
        while let Some(last) = candidate.chars().next_back() {
            let unmatched = |open: char, close: char| {
                last == close && candidate.matches(close).count() > candidate.matches(open).count()
            };
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '_')
                || unmatched('(', ')')
                || unmatched('[', ']')
            {
                candidate = &candidate[..candidate.len() - last.len_utf8()];
            } else {
                break;
            }
        }
        if starts_word
            && let Ok(url) = url::Url::parse(candidate)
            && url.host_str().is_some_and(|h| !h.is_empty())
        {
            let target: String = url
                .as_str()
                .chars()
                .map(|c| match c {
                    '(' => "%28".to_owned(),
                    ')' => "%29".to_owned(),
                    '[' => "%5B".to_owned(),
                    ']' => "%5D".to_owned(),
                    '\\' => "%5C".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            return Some((at, target, candidate.len()));
        }
        from = at + "http://".len();
        if from >= text.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_with_links, hard_breaks, unescape};

    #[test]
    fn every_line_break_is_a_hard_break() {
        assert_eq!(
            hard_breaks("one\ntwo\r\n\nthree"),
            "one  \ntwo  \n  \nthree"
        );
    }

    #[test]
    fn unescape_gives_back_what_escape_was_given() {
        for text in [
            r"Ada *Lovelace* [x](https://e.example) 1. \ back\slash",
            "- item\n+ more\n12) twelve # not a heading",
            "plain",
        ] {
            assert_eq!(unescape(&escape(text)), text);
        }
    }

    #[test]
    fn a_customers_addresses_become_links_that_show_their_target() {
        assert_eq!(
            escape_with_links("see https://shop.example.com/order?id=7. thanks"),
            "see [https://shop.example.com/order?id=7](https://shop.example.com/order?id=7). thanks"
        );
        // Underscores and brackets in the address are text in the label, encoded in the target.
        assert_eq!(
            escape_with_links("(https://en.wikipedia.org/wiki/Tea_(drink))"),
            "\\([https://en.wikipedia.org/wiki/Tea\\_\\(drink\\)](https://en.wikipedia.org/wiki/Tea_%28drink%29)\\)"
        );
        // A link that hides its target stays text; a forged one breaks nothing.
        assert_eq!(
            escape_with_links("[bank](https://evil.example)"),
            "\\[bank\\]\\([https://evil.example](https://evil.example/)\\)"
        );
        assert_eq!(
            escape_with_links("https://x.example/a](javascript:alert(1))"),
            "[https://x.example/a\\]\\(javascript:alert\\(1\\)\\)](https://x.example/a%5D%28javascript:alert%281%29%29)"
        );
        assert_eq!(
            escape_with_links("\u{e000}0\u{e001} **x**"),
            "\u{fffd}0\u{fffd} \\*\\*x\\*\\*"
        );
        // Not addresses: another scheme, a word running into it, no host.
        assert_eq!(
            escape_with_links("javascript:alert(1)"),
            "javascript:alert\\(1\\)"
        );
        assert_eq!(
            escape_with_links("xhttps://a.example"),
            "xhttps://a.example"
        );
        assert_eq!(
            escape_with_links("two\nlines - https://a.example\n- b"),
            "two\nlines - [https://a.example](https://a.example/)\n\\- b"
        );
    }

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
