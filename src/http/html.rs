//! HTML the service writes itself: escaping text for an element or an attribute, and the
//! snippet an admin pastes into their site (the admin API hands it out, the preview page
//! shows it). No templates: the few pages are built with `format!` around escaped text.

/// Escapes text for an HTML attribute or element.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The HTML an admin pastes into their site for a contact.
pub fn snippet(public_base: &str, contact_id: &str, widget_key: &str) -> String {
    format!(
        "<div id=\"switchboard-chat\"></div>\n<script src=\"{}/interact/widget.js\" data-contact=\"{}\" data-key=\"{}\" async></script>",
        escape_html(public_base.trim_end_matches('/')),
        escape_html(contact_id),
        escape_html(widget_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_escapes_what_it_embeds() {
        let s = snippet("https://sb.example.com/", "sup\"port", "k<1>");
        assert!(
            s.contains("src=\"https://sb.example.com/interact/widget.js\""),
            "{s}"
        );
        assert!(
            s.contains("data-contact=\"sup&quot;port\"") && s.contains("data-key=\"k&lt;1&gt;\""),
            "{s}"
        );
    }
}
