//! Quotes and mentions: which messages a message quotes, Teams' quoted-reply placeholders
//! expanded, and the quotes and bot mentions a customer is not shown left out.

use std::fmt::Write as _;

use super::tree::{Node, attr, attributes, parse, text_of};
use super::write::{escape, is_reply};

/// Leaves out the quoted replies whose message id `relayable` refuses (or that have none).
pub(super) fn drop_quotes(nodes: &mut Vec<Node>, relayable: &dyn Fn(&str) -> bool) {
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
pub(super) fn drop_mentions(nodes: &mut Vec<Node>, bot_mentions: &[String]) {
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

pub(super) fn mention_id(name: &str, attrs: &[(String, String)]) -> Option<String> {
    (name == "span" && attr(attrs, "itemtype").is_some_and(|t| t.ends_with("/Mention")))
        .then(|| attr(attrs, "itemid").unwrap_or_default().to_owned())
}

pub(super) fn collect_mention_spans(
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

pub(super) fn drop_in(nodes: &mut Vec<Node>, bot_mentions: &[String], bot_ids: &[String]) {
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
