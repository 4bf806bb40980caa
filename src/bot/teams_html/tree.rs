//! Teams' HTML read into a tree: elements, attributes and text with its character references
//! decoded. Forgiving like a browser where Teams' markup needs it (unclosed and stray tags,
//! void elements); what it gets wrong can only lose formatting, never let markup through, since
//! nothing of the input is written out as it is ([`super::write`]).

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
}

/// An element being parsed: its name, attributes and the children read so far.
pub(super) type Open = (String, Vec<(String, String)>, Vec<Node>);

/// Elements that never have content or an end tag.
pub(super) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "img" | "hr" | "input" | "meta" | "link" | "col" | "wbr" | "area" | "source"
    )
}

/// Decodes the character references Teams writes (named ones it uses, and numeric ones).
pub(super) fn decode(text: &str) -> String {
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
pub(super) fn attributes(mut s: &str) -> Vec<(String, String)> {
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
pub(super) fn parse(html: &str) -> Vec<Node> {
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

pub(super) fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// All the text under `nodes` (for code blocks and link labels).
pub(super) fn text_of(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element { name, .. } if name == "br" => out.push('\n'),
            Node::Element { children, .. } => text_of(children, out),
        }
    }
}

/// Whether `nodes` hold a block element (then a `div`/`p` around them is not a paragraph).
pub(super) fn has_block(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| {
        matches!(n, Node::Element { name, .. } if matches!(name.as_str(),
            "p" | "div" | "ul" | "ol" | "li" | "pre" | "codeblock" | "blockquote" | "table"
            | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "section" | "article"))
    })
}
