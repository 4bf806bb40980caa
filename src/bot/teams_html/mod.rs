//! Agent → customer: the HTML Teams gives a bot for an agent's message becomes what a customer
//! can be shown — a plain text (the WhatsApp message, the transcript, any client) and, when the
//! message has formatting, a safe HTML subset the widget renders.
//!
//! The subset is `p br strong em u s code pre ul ol li blockquote a[href]`, written here from a
//! parsed tree: text is always escaped, only those tags are written, a link only with an
//! `http`, `https` or `mailto` target. Nothing of the input's markup passes through, so the
//! output is safe whatever the input; the parser only has to be good enough to keep the
//! agent's formatting. Mentions become the name, emoji their character, a quoted reply a
//! quote with its author; what cannot be shown (an inline image, a table's layout) is
//! described in words, never dropped.
//!
//! Why not html5ever and ammonia: ammonia cleans HTML into HTML, while a customer needs a plain
//! text as well (WhatsApp, the transcript) and Teams' own elements turned into words (`<at>`,
//! `<emoji>`, quoted-reply blockquotes, `<quoted>` placeholders, inline images), which need a
//! walk of our own over a tree either way. The input is what the Teams clients write, not the
//! open web, and the writer cannot emit markup it did not build, so a browser-grade parser
//! would add a dependency tree for no safety gain; a test writes random markup through it and
//! checks that only the subset ever comes out (`only_the_subset_is_ever_written`).

/// Longest safe HTML kept; a longer one is left out and the plain text carries the message.
const MAX_HTML: usize = 16_000;

mod quotes;
mod tree;
mod write;

#[cfg(test)]
pub use quotes::expand_quotes;
pub use quotes::{expand_quotes_of, quoted_ids};

use quotes::{drop_mentions, drop_quotes};
use tree::parse;
use write::{escape, formatted, html, plain};

/// What a customer is shown of an agent's message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Converted {
    /// The message as plain text: line breaks kept, lists as `•`/`1.` lines, links as
    /// `label (url)`, quotes as `> ` lines.
    pub text: String,
    /// The safe HTML subset, when the message has formatting the plain text loses.
    pub html: Option<String>,
    /// Inline images and attached files the message held (described in the text, not sent).
    pub images: usize,
}

/// Writes `text` escaped for HTML.
pub fn escape_into(text: &str, out: &mut String) {
    escape(text, out);
}

/// Converts a message's HTML (Teams' `text/html` copy, or its `text`) for a customer.
/// `bot_mentions` are the `<at>` texts that name the bot itself: they are left out.
#[cfg(test)]
pub fn convert(source: &str, bot_mentions: &[String]) -> Converted {
    convert_quoting(source, bot_mentions, &|_| true)
}

/// Converts a message's HTML (Teams' `text/html` copy, or its `text`) for a customer, leaving
/// out the `<at>` texts that name the bot (`bot_mentions`) and each quoted reply (`<blockquote itemtype=…/Reply itemid=…>`) whose
/// message id `relayable` refuses, and each without an id.
pub fn convert_quoting(
    source: &str,
    bot_mentions: &[String],
    relayable: &dyn Fn(&str) -> bool,
) -> Converted {
    let mut tree = parse(source);
    drop_quotes(&mut tree, relayable);
    drop_mentions(&mut tree, bot_mentions);
    let mut text = String::new();
    plain(&tree, &mut text);
    let text = tidy(&text);
    let mut images = 0;
    let mut safe = String::new();
    html(&tree, &mut safe, &mut images);
    let html = (formatted(&safe) && safe.len() <= MAX_HTML).then_some(safe);
    Converted { text, html, images }
}

/// A plain text (`textFormat: plain`): kept as it is.
pub fn plain_message(text: &str, bot_mentions: &[String]) -> Converted {
    let mut text = text.to_owned();
    for mention in bot_mentions {
        text = text.replace(&format!("<at>{mention}</at>"), "");
    }
    Converted {
        text: tidy(&text),
        html: None,
        images: 0,
    }
}

/// Trailing spaces off each line, at most one empty line in a row, none at the ends.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut empty = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            empty += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if empty > 0 { "\n\n" } else { "\n" });
        }
        empty = 0;
        out.push_str(line);
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests;
