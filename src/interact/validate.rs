//! Input rules of the customer API, as types: a value of these types is valid.

/// A customer's display name: 1–100 characters after trimming, no control characters and no
/// invisible or bidirectional formatting characters (see [`is_hidden_format`]): an agent reads
/// it in Teams, where `Ada\u{202E}nimda` would show as someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// A plausible email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEmail(String);

/// A customer message: 1–4,000 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

/// The longest customer message.
pub const MAX_MESSAGE_CHARS: usize = 4000;

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        let count = name.chars().count();
        if count == 0 || count > 100 {
            return Err("displayName must be 1 to 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("displayName must not contain control characters");
        }
        if has_hidden_format(name) {
            return Err(
                "displayName must not contain invisible or bidirectional formatting characters",
            );
        }
        Ok(DisplayName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CustomerEmail {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim();
        let invalid = "email is not a valid address";
        if email.len() > 254
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
            || has_hidden_format(email)
        {
            return Err(invalid);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(invalid)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid);
        }
        Ok(CustomerEmail(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that change how text around them is shown without showing themselves: bidi
/// embeddings, overrides, isolates and marks, zero-width spaces and joiners, invisible
/// operators, tag characters, interlinear annotations, fillers that render as blank, line and
/// paragraph separators, and the byte-order mark (Unicode's `Cf`, `Zl` and `Zp`, plus the
/// blank fillers). Zero-width (non-)joiners are the exception where scripts need them: between
/// two letters or emoji (Persian, Indic scripts, emoji sequences), see [`has_hidden_format`].
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether `text` has a hidden formatting character, except a zero-width joiner or non-joiner
/// standing between two visible letters, marks or emoji.
pub fn has_hidden_format(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if !is_hidden_format(c) {
            return false;
        }
        if c == '\u{200C}' || c == '\u{200D}' {
            let joins = |n: Option<&char>| {
                n.is_some_and(|&n| {
                    !n.is_ascii() && !is_hidden_format(n) && !n.is_whitespace() && !n.is_control()
                })
            };
            let before = i.checked_sub(1).and_then(|p| chars.get(p));
            return !(joins(before) && joins(chars.get(i + 1)));
        }
        true
    })
}

impl MessageText {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.trim().is_empty() {
            return Err("message must not be empty");
        }
        if raw.chars().count() > MAX_MESSAGE_CHARS {
            return Err("message must be at most 4000 characters");
        }
        Ok(MessageText(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(DisplayName::parse("  Ada  ").expect("ok").as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse("Ada\u{0007}").is_err());
    }

    #[test]
    fn display_names_refuse_invisible_and_bidi_formatting() {
        for spoof in [
            "Ada\u{202E}nimda",
            "A\u{200B}da",
            "\u{2066}Ada\u{2069}",
            "\u{FEFF}Ada",
            "Ada\u{200D}",
            "Ada\u{E0041}",
            "Ada\u{2028}Bob",
            "\u{3164}",
            "Ad\u{200C}a",
        ] {
            assert!(DisplayName::parse(spoof).is_err(), "{spoof:?}");
        }
        // Scripts and emoji that need joiners keep them.
        for ok in [
            "می\u{200C}نا",
            "Zoë",
            "\u{1F469}\u{200D}\u{1F4BB} Ada",
            "李小龍",
        ] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok:?}");
        }
        assert!(CustomerEmail::parse("ada\u{202E}@example.com").is_err());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for ok in [
            "ada@example.com",
            "a.b+c@sub.example.co.uk",
            "josé@exämple.de",
        ] {
            assert!(CustomerEmail::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@-x.com",
            "a@b@example.com",
        ] {
            assert!(CustomerEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_bounded() {
        assert!(MessageText::parse(&"x".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"x".repeat(4001)).is_err());
        assert!(MessageText::parse(" \n").is_err());
    }
}
