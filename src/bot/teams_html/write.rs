//! The tree written out for a customer: the safe HTML subset, and the plain text.

use std::fmt::Write as _;

use super::tree::{Node, attr, has_block, text_of};

pub(super) fn escape(text: &str, out: &mut String) {
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
pub(super) fn safe_href(href: &str) -> Option<String> {
    let url = url::Url::parse(href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// Whether the element is Teams' emoji (`<emoji alt>`, or an `<img>` of the Emoji schema).
pub(super) fn emoji_alt<'a>(name: &str, attrs: &'a [(String, String)]) -> Option<&'a str> {
    let is_emoji = name == "emoji"
        || (name == "img"
            && attr(attrs, "itemtype").is_some_and(|t| t.to_ascii_lowercase().contains("emoji")));
    is_emoji.then(|| attr(attrs, "alt").unwrap_or_default())
}

/// Whether the element is Teams' quoted reply (`<blockquote itemtype=…/Reply>`).
pub(super) fn is_reply(attrs: &[(String, String)]) -> bool {
    attr(attrs, "itemtype").is_some_and(|t| t.ends_with("/Reply"))
}

/// Writes the safe HTML of `nodes`, counting the inline images described.
pub(super) fn html(nodes: &[Node], out: &mut String, images: &mut usize) {
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
pub(super) fn image_words(attrs: &[(String, String)]) -> String {
    match attr(attrs, "alt").map(str::trim) {
        Some(alt) if !alt.is_empty() && !alt.eq_ignore_ascii_case("image") => {
            format!("[an image: {alt}]")
        }
        _ => "[an image]".to_owned(),
    }
}

/// A quoted reply's author and quoted text (Teams: `<strong itemprop="mri">` and
/// `<p itemprop="preview">`; otherwise all its text).
pub(super) fn reply_parts(children: &[Node]) -> (String, String) {
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
pub(super) fn rows(nodes: &[Node]) -> Vec<String> {
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
pub(super) fn plain(nodes: &[Node], out: &mut String) {
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
pub(super) fn formatted(html: &str) -> bool {
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
