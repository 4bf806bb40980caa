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

use std::fmt::Write as _;

/// Longest safe HTML kept; a longer one is left out and the plain text carries the message.
const MAX_HTML: usize = 16_000;

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

#[derive(Debug)]
enum Node {
    Text(String),
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
}

/// An element being parsed: its name, attributes and the children read so far.
type Open = (String, Vec<(String, String)>, Vec<Node>);

/// Elements that never have content or an end tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "img" | "hr" | "input" | "meta" | "link" | "col" | "wbr" | "area" | "source"
    )
}

/// Decodes the character references Teams writes (named ones it uses, and numeric ones).
fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32)
                    .filter(|c| *c != '\0'),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses an attribute list (`a="x" b='y' c=z d`).
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return attrs;
        }
        let name_end = s
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let value = if let Some(after) = s.strip_prefix('=') {
            let after = after.trim_start();
            let (value, rest) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                    Some(end) => (&after[1..=end], &after[end + 2..]),
                    None => (&after[1..], ""),
                },
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            s = rest;
            decode(value)
        } else {
            String::new()
        };
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

/// Parses tag soup into a tree: end tags close up to their open element (or are ignored),
/// comments and unclosed markup are text-safe.
fn parse(html: &str) -> Vec<Node> {
    // The open elements: (name, attrs, children); the bottom one is the root.
    let mut stack: Vec<Open> = vec![(String::new(), Vec::new(), Vec::new())];
    let mut rest = html;
    let push = |stack: &mut Vec<Open>, node: Node| {
        if let Some(top) = stack.last_mut() {
            top.2.push(node);
        }
    };
    let close = |stack: &mut Vec<Open>| {
        if stack.len() > 1
            && let Some((name, attrs, children)) = stack.pop()
            && let Some(top) = stack.last_mut()
        {
            top.2.push(Node::Element {
                name,
                attrs,
                children,
            });
        }
    };
    while !rest.is_empty() {
        let Some(start) = rest.find('<') else {
            push(&mut stack, Node::Text(decode(rest)));
            break;
        };
        let between = &rest[..start];
        // Whitespace with a line break between tags is the source's layout, not text.
        let layout = between.trim().is_empty() && between.contains('\n');
        if !between.is_empty() && !layout {
            push(&mut stack, Node::Text(decode(between)));
        }
        rest = &rest[start..];
        // `<` that starts no tag (`a < b`, `<3`) is text.
        if !rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            push(&mut stack, Node::Text("<".to_owned()));
            rest = &rest[1..];
            continue;
        }
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(end) = rest.find('>') else {
            push(&mut stack, Node::Text(decode(rest)));
            break;
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            if let Some(depth) = stack.iter().rposition(|(n, _, _)| *n == name)
                && depth > 0
            {
                while stack.len() > depth {
                    close(&mut stack);
                }
            }
            continue;
        }
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            // A declaration (`<!doctype html>`).
            continue;
        }
        let attrs = attributes(&tag[name_end..]);
        if matches!(name.as_str(), "script" | "style") {
            // Their content is never text: skip to the end tag.
            let end_tag = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower
                .find(&end_tag)
                .and_then(|at| rest[at..].find('>').map(|e| &rest[at + e + 1..]))
                .unwrap_or("");
            continue;
        }
        if is_void(&name) || tag.ends_with('/') {
            push(
                &mut stack,
                Node::Element {
                    name,
                    attrs,
                    children: Vec::new(),
                },
            );
        } else {
            stack.push((name, attrs, Vec::new()));
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack
        .pop()
        .map(|(_, _, children)| children)
        .unwrap_or_default()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Writes `text` escaped for HTML.
pub fn escape_into(text: &str, out: &mut String) {
    escape(text, out);
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A link target a customer may be sent to.
fn safe_href(href: &str) -> Option<String> {
    let url = url::Url::parse(href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// All the text under `nodes` (for code blocks and link labels).
fn text_of(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element { name, .. } if name == "br" => out.push('\n'),
            Node::Element { children, .. } => text_of(children, out),
        }
    }
}

/// Whether `nodes` hold a block element (then a `div`/`p` around them is not a paragraph).
fn has_block(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| {
        matches!(n, Node::Element { name, .. } if matches!(name.as_str(),
            "p" | "div" | "ul" | "ol" | "li" | "pre" | "codeblock" | "blockquote" | "table"
            | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "section" | "article"))
    })
}

/// Whether the element is Teams' emoji (`<emoji alt>`, or an `<img>` of the Emoji schema).
fn emoji_alt<'a>(name: &str, attrs: &'a [(String, String)]) -> Option<&'a str> {
    let is_emoji = name == "emoji"
        || (name == "img"
            && attr(attrs, "itemtype").is_some_and(|t| t.to_ascii_lowercase().contains("emoji")));
    is_emoji.then(|| attr(attrs, "alt").unwrap_or_default())
}

/// Whether the element is Teams' quoted reply (`<blockquote itemtype=…/Reply>`).
fn is_reply(attrs: &[(String, String)]) -> bool {
    attr(attrs, "itemtype").is_some_and(|t| t.ends_with("/Reply"))
}

/// Writes the safe HTML of `nodes`, counting the inline images described.
fn html(nodes: &[Node], out: &mut String, images: &mut usize) {
    for node in nodes {
        let (name, attrs, children) = match node {
            Node::Text(t) => {
                escape(t, out);
                continue;
            }
            Node::Element {
                name,
                attrs,
                children,
            } => (name.as_str(), attrs.as_slice(), children.as_slice()),
        };
        if let Some(alt) = emoji_alt(name, attrs) {
            escape(alt, out);
            continue;
        }
        let wrap = |tag: &str, out: &mut String, images: &mut usize| {
            let _ = write!(out, "<{tag}>");
            html(children, out, images);
            let _ = write!(out, "</{tag}>");
        };
        match name {
            "strong" | "b" => wrap("strong", out, images),
            "em" | "i" => wrap("em", out, images),
            "u" | "ins" => wrap("u", out, images),
            "s" | "strike" | "del" => wrap("s", out, images),
            "code" => {
                let mut code = String::new();
                text_of(children, &mut code);
                out.push_str("<code>");
                escape(&code, out);
                out.push_str("</code>");
            }
            "pre" | "codeblock" => {
                let mut code = String::new();
                text_of(children, &mut code);
                out.push_str("<pre>");
                escape(code.trim_matches('\n'), out);
                out.push_str("</pre>");
            }
            "br" => out.push_str("<br>"),
            "ul" | "ol" => wrap(name, out, images),
            "li" => wrap("li", out, images),
            "blockquote" if is_reply(attrs) => {
                let (author, quoted) = reply_parts(children);
                out.push_str("<blockquote>");
                if !author.is_empty() {
                    out.push_str("<strong>");
                    escape(&author, out);
                    out.push_str("</strong><br>");
                }
                escape(&quoted, out);
                out.push_str("</blockquote>");
            }
            "blockquote" => wrap("blockquote", out, images),
            "a" => match attr(attrs, "href").and_then(safe_href) {
                Some(href) => {
                    out.push_str("<a href=\"");
                    escape(&href, out);
                    out.push_str("\">");
                    html(children, out, images);
                    out.push_str("</a>");
                }
                None => html(children, out, images),
            },
            "img" => {
                *images += 1;
                out.push_str("<em>");
                escape(&image_words(attrs), out);
                out.push_str("</em>");
            }
            // A file attached in a group chat: Teams gives the bot only this placeholder.
            "attachment" => {
                *images += 1;
                out.push_str("<em>[a file]</em>");
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                out.push_str("<p><strong>");
                html(children, out, images);
                out.push_str("</strong></p>");
            }
            "p" | "div" | "section" | "article" if !has_block(children) => wrap("p", out, images),
            "table" => {
                for row in rows(children) {
                    out.push_str("<p>");
                    escape(&row, out);
                    out.push_str("</p>");
                }
            }
            "head" | "title" | "template" | "noscript" | "iframe" | "object" | "svg" => {}
            // `at` (a mention: its name), `span`, `font`, unknown elements: their content.
            _ => html(children, out, images),
        }
    }
}

/// How an inline image is named to the customer.
fn image_words(attrs: &[(String, String)]) -> String {
    match attr(attrs, "alt").map(str::trim) {
        Some(alt) if !alt.is_empty() && !alt.eq_ignore_ascii_case("image") => {
            format!("[an image: {alt}]")
        }
        _ => "[an image]".to_owned(),
    }
}

/// A quoted reply's author and quoted text (Teams: `<strong itemprop="mri">` and
/// `<p itemprop="preview">`; otherwise all its text).
fn reply_parts(children: &[Node]) -> (String, String) {
    let mut author = String::new();
    let mut quoted = String::new();
    for node in children {
        if let Node::Element {
            attrs, children, ..
        } = node
        {
            match attr(attrs, "itemprop") {
                Some("mri") => text_of(children, &mut author),
                Some("time") => {}
                Some("preview") => text_of(children, &mut quoted),
                _ => text_of(children, &mut quoted),
            }
        } else if let Node::Text(t) = node {
            quoted.push_str(t);
        }
    }
    (author.trim().to_owned(), quoted.trim().to_owned())
}

/// A table's rows as lines, cells separated by ` | `.
fn rows(nodes: &[Node]) -> Vec<String> {
    let mut lines = Vec::new();
    for node in nodes {
        if let Node::Element { name, children, .. } = node {
            if name == "tr" {
                let cells: Vec<String> = children
                    .iter()
                    .filter_map(|c| match c {
                        Node::Element { name, children, .. } if name == "td" || name == "th" => {
                            let mut cell = String::new();
                            text_of(children, &mut cell);
                            Some(cell.trim().to_owned())
                        }
                        _ => None,
                    })
                    .collect();
                lines.push(cells.join(" | "));
            } else {
                lines.extend(rows(children));
            }
        }
    }
    lines
}

/// Writes the plain text of `nodes`; a block starts and ends on a line of its own.
fn plain(nodes: &[Node], out: &mut String) {
    for node in nodes {
        let (name, attrs, children) = match node {
            Node::Text(t) => {
                // A line's start is not indented by the source's spaces between blocks.
                if out.is_empty() || out.ends_with('\n') {
                    out.push_str(t.trim_start_matches(' '));
                } else {
                    out.push_str(t);
                }
                continue;
            }
            Node::Element {
                name,
                attrs,
                children,
            } => (name.as_str(), attrs.as_slice(), children.as_slice()),
        };
        if let Some(alt) = emoji_alt(name, attrs) {
            out.push_str(alt);
            continue;
        }
        let block = |out: &mut String| {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        };
        match name {
            "br" => out.push('\n'),
            "pre" | "codeblock" => {
                block(out);
                let mut code = String::new();
                text_of(children, &mut code);
                out.push_str(code.trim_matches('\n'));
                out.push('\n');
            }
            "ul" | "ol" => {
                block(out);
                let ordered = name == "ol";
                let mut n = 0;
                for item in children {
                    match item {
                        Node::Element {
                            name: item_name,
                            children,
                            ..
                        } if item_name == "li" => {
                            n += 1;
                            let mut line = String::new();
                            plain(children, &mut line);
                            let marker = if ordered {
                                format!("{n}. ")
                            } else {
                                "• ".to_owned()
                            };
                            let _ =
                                writeln!(out, "{marker}{}", line.trim_end().replace('\n', "\n   "));
                        }
                        other => plain(std::slice::from_ref(other), out),
                    }
                }
            }
            "blockquote" => {
                block(out);
                let (author, quoted) = if is_reply(attrs) {
                    reply_parts(children)
                } else {
                    let mut quoted = String::new();
                    plain(children, &mut quoted);
                    (String::new(), quoted.trim().to_owned())
                };
                if !author.is_empty() {
                    let _ = writeln!(out, "> {author}:");
                }
                for line in quoted.lines() {
                    let _ = writeln!(out, "> {line}");
                }
            }
            "a" => {
                let mut label = String::new();
                plain(children, &mut label);
                match attr(attrs, "href").and_then(safe_href) {
                    Some(href) => {
                        let label = label.trim();
                        let bare = href.strip_prefix("mailto:").unwrap_or(&href);
                        if label.is_empty()
                            || label == href
                            || label == bare
                            || href.trim_end_matches('/') == label.trim_end_matches('/')
                        {
                            out.push_str(bare);
                        } else {
                            let _ = write!(out, "{label} ({bare})");
                        }
                    }
                    None => out.push_str(&label),
                }
            }
            "img" => out.push_str(&image_words(attrs)),
            "attachment" => out.push_str("[a file]"),
            "table" => {
                block(out);
                for row in rows(children) {
                    let _ = writeln!(out, "{row}");
                }
            }
            "p" | "div" | "section" | "article" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            | "li" => {
                block(out);
                plain(children, out);
                block(out);
            }
            "head" | "title" | "template" | "noscript" | "iframe" | "object" | "svg" => {}
            _ => plain(children, out),
        }
    }
}

/// Whether safe HTML carries formatting its plain text loses.
fn formatted(html: &str) -> bool {
    [
        "<strong>",
        "<em>",
        "<u>",
        "<s>",
        "<code>",
        "<pre>",
        "<ul>",
        "<ol>",
        "<blockquote>",
        "<a ",
    ]
    .iter()
    .any(|tag| html.contains(tag))
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

/// Leaves out the quoted replies whose message id `relayable` refuses (or that have none).
fn drop_quotes(nodes: &mut Vec<Node>, relayable: &dyn Fn(&str) -> bool) {
    nodes.retain(|node| match node {
        Node::Element { name, attrs, .. } if name == "blockquote" && is_reply(attrs) => {
            attr(attrs, "itemid").is_some_and(relayable)
        }
        _ => true,
    });
    for node in nodes {
        if let Node::Element { children, .. } = node {
            drop_quotes(children, relayable);
        }
    }
}

/// The ids of the messages a message quotes: Teams' `<quoted messageId=…>` placeholders and
/// its quoted-reply blockquotes (`itemid`).
pub fn quoted_ids(source: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("<quoted") {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start + 1..start + end];
        let attrs = attributes(tag.trim_start_matches("quoted").trim_end_matches('/'));
        if let Some(id) = attr(&attrs, "messageid") {
            ids.push(id.to_owned());
        }
        rest = &rest[start + end + 1..];
    }
    fn replies(nodes: &[Node], ids: &mut Vec<String>) {
        for node in nodes {
            if let Node::Element {
                name,
                attrs,
                children,
            } = node
            {
                if name == "blockquote"
                    && is_reply(attrs)
                    && let Some(id) = attr(attrs, "itemid")
                {
                    ids.push(id.to_owned());
                }
                replies(children, ids);
            }
        }
    }
    if source.contains("blockquote") {
        replies(&parse(source), &mut ids);
    }
    ids.sort();
    ids.dedup();
    ids
}

/// Leaves out the mentions of the bot: `<at>Name</at>`, and Teams' HTML form, one
/// `<span itemtype=…/Mention itemid=N>` per word of the name (the words of one mention share
/// their `itemid`).
fn drop_mentions(nodes: &mut Vec<Node>, bot_mentions: &[String]) {
    if bot_mentions.is_empty() {
        return;
    }
    let mut spans: std::collections::HashMap<String, Vec<String>> = Default::default();
    collect_mention_spans(nodes, &mut spans);
    let bot_ids: Vec<String> = spans
        .into_iter()
        .filter(|(_, words)| {
            let said = words.join(" ");
            bot_mentions.iter().any(|m| m.trim() == said.trim())
        })
        .map(|(id, _)| id)
        .collect();
    drop_in(nodes, bot_mentions, &bot_ids);
}

fn mention_id(name: &str, attrs: &[(String, String)]) -> Option<String> {
    (name == "span" && attr(attrs, "itemtype").is_some_and(|t| t.ends_with("/Mention")))
        .then(|| attr(attrs, "itemid").unwrap_or_default().to_owned())
}

fn collect_mention_spans(
    nodes: &[Node],
    spans: &mut std::collections::HashMap<String, Vec<String>>,
) {
    for node in nodes {
        if let Node::Element {
            name,
            attrs,
            children,
        } = node
        {
            if let Some(id) = mention_id(name, attrs) {
                let mut word = String::new();
                text_of(children, &mut word);
                spans.entry(id).or_default().push(word.trim().to_owned());
            } else {
                collect_mention_spans(children, spans);
            }
        }
    }
}

fn drop_in(nodes: &mut Vec<Node>, bot_mentions: &[String], bot_ids: &[String]) {
    nodes.retain(|node| match node {
        Node::Element {
            name,
            attrs,
            children,
        } => {
            if let Some(id) = mention_id(name, attrs) {
                return !bot_ids.contains(&id);
            }
            if name != "at" {
                return true;
            }
            let mut said = String::new();
            text_of(children, &mut said);
            !bot_mentions.iter().any(|m| m.trim() == said.trim())
        }
        Node::Text(_) => true,
    });
    for node in nodes {
        if let Node::Element { children, .. } = node {
            drop_in(children, bot_mentions, bot_ids);
        }
    }
}

/// Replaces Teams' quoted-reply placeholders (`<quoted messageId="…"/>` in the text, with a
/// `quotedReply` entity per quote) by the quote itself: a Reply blockquote when `html`, `> `
/// lines otherwise. A placeholder whose entity is missing or deleted says so.
#[cfg(test)]
pub fn expand_quotes(source: &str, entities: &[serde_json::Value], html: bool) -> String {
    expand_quotes_of(source, entities, html, &|_| true)
}

/// Replaces Teams' quoted-reply placeholders as `expand_quotes` does, leaving out (with nothing
/// in their place) those whose message id `relayable` refuses; the blockquotes it writes carry
/// the id (`itemid`).
pub fn expand_quotes_of(
    source: &str,
    entities: &[serde_json::Value],
    html: bool,
    relayable: &dyn Fn(&str) -> bool,
) -> String {
    if !source.contains("<quoted") {
        return source.to_owned();
    }
    let quote_of = |id: &str| {
        entities
            .iter()
            .filter(|e| e.get("type").and_then(|t| t.as_str()) == Some("quotedReply"))
            .filter_map(|e| e.get("quotedReply"))
            .find(|q| q.get("messageId").and_then(|m| m.as_str()) == Some(id))
    };
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("<quoted") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if let Some(close) = rest.strip_prefix("</quoted>") {
            rest = close;
        }
        let attrs = attributes(tag.trim_start_matches("quoted").trim_end_matches('/'));
        let id = attr(&attrs, "messageid").unwrap_or_default();
        if !relayable(id) {
            if !html {
                rest = rest.trim_start_matches(' ');
            }
            continue;
        }
        let quote = quote_of(id);
        let field = |name: &str| {
            quote
                .and_then(|q| q.get(name))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let deleted = quote.is_none_or(|q| q.get("isReplyDeleted") == Some(&true.into()));
        let (author, preview) = if deleted {
            (String::new(), "(a message that was deleted)".to_owned())
        } else {
            (field("senderName"), field("preview"))
        };
        if html {
            out.push_str(r#"<blockquote itemtype="http://schema.skype.com/Reply" itemid=""#);
            escape(id, &mut out);
            out.push_str(r#""><strong itemprop="mri">"#);
            escape(&author, &mut out);
            out.push_str(r#"</strong><p itemprop="preview">"#);
            escape(&preview, &mut out);
            out.push_str("</p></blockquote>");
        } else {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !author.is_empty() {
                let _ = writeln!(out, "> {author}:");
            }
            for line in preview.lines() {
                let _ = writeln!(out, "> {line}");
            }
            rest = rest.trim_start_matches(' ');
        }
    }
    out.push_str(rest);
    out
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
