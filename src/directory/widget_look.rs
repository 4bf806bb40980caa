//! How the chat widget presents a contact (`interact.widget` of a service or user): its title,
//! greeting, accent colour, side, logo and "typically replies in". Checked when stored, so a
//! page never receives a colour or logo it cannot use; the snippet's `data-*` attributes
//! override it on one site.

use serde::{Deserialize, Serialize};

/// The widget's presentation, as stored (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, try_from = "RawLook")]
pub struct WidgetLook {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Side>,
    /// An `https://` image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Free text shown under the title, e.g. "a few minutes".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies_in: Option<String>,
}

/// The corner the launcher sits in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    #[default]
    Right,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLook {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    greeting: Option<String>,
    #[serde(default)]
    accent_color: Option<String>,
    #[serde(default)]
    position: Option<Side>,
    #[serde(default)]
    logo_url: Option<String>,
    #[serde(default)]
    replies_in: Option<String>,
}

fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, String> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(format!(
            "interact.widget.{field} must be at most {max} characters of text"
        )),
        other => Ok(other),
    }
}

impl TryFrom<RawLook> for WidgetLook {
    type Error = String;

    fn try_from(raw: RawLook) -> Result<Self, String> {
        let accent_color = match raw.accent_color {
            Some(c)
                if !(c.len() == 7
                    && c.starts_with('#')
                    && c[1..].chars().all(|d| d.is_ascii_hexdigit())) =>
            {
                return Err("interact.widget.accentColor must be a colour like #0f6cbd".into());
            }
            other => other,
        };
        let logo_url = match bounded("logoUrl", raw.logo_url, 2000)? {
            Some(u) if !(u.starts_with("https://") && url::Url::parse(&u).is_ok()) => {
                return Err("interact.widget.logoUrl must be an https:// URL".into());
            }
            other => other,
        };
        Ok(WidgetLook {
            title: bounded("title", raw.title, 60)?,
            greeting: bounded("greeting", raw.greeting, 500)?,
            accent_color,
            position: raw.position,
            logo_url,
            replies_in: bounded("repliesIn", raw.replies_in, 60)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_is_checked_when_read() {
        let ok: WidgetLook = serde_json::from_str(
            r##"{"title":"Help","accentColor":"#0F6cbd","position":"left","logoUrl":"https://example.com/l.png","repliesIn":"minutes","greeting":"  "}"##,
        )
        .expect("valid");
        assert_eq!(ok.position, Some(Side::Left));
        assert_eq!(ok.greeting, None, "blank is unset");
        for bad in [
            r#"{"accentColor":"red"}"#,
            r#"{"logoUrl":"javascript:alert(1)"}"#,
            r#"{"logoUrl":"http://example.com/l.png"}"#,
            r#"{"title":"this title is far too long to be shown in the header of a chat panel"}"#,
            r#"{"position":"top"}"#,
            r##"{"colour":"#000000"}"##,
        ] {
            assert!(serde_json::from_str::<WidgetLook>(bad).is_err(), "{bad}");
        }
    }
}
