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

pub use crate::hidden_format::{has_hidden_format, is_hidden_format};

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
