//! `ServiceUrl`: the Connector base URL an activity names. The hosts our bearer token may be
//! sent to are a setting, [`crate::config::ServiceUrlAllowList`].

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// Characters left as they are in a path segment; everything else is percent-encoded, so
/// Teams ids (`a:1…`, `19:…@thread.v2`, `…;messageid=…`) stay one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment.
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// A parsed Bot Connector service URL: http(s), a host, no userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    raw: String,
    url: Url,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidServiceUrl {
    #[error("service URL is not a valid URL")]
    NotAUrl,
    #[error("service URL must use http or https")]
    Scheme,
    #[error("service URL has no host")]
    NoHost,
    #[error("service URL must not carry user information")]
    UserInfo,
}

impl ServiceUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidServiceUrl> {
        let url = Url::parse(raw).map_err(|_| InvalidServiceUrl::NotAUrl)?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(InvalidServiceUrl::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidServiceUrl::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidServiceUrl::UserInfo);
        }
        Ok(ServiceUrl {
            raw: raw.to_owned(),
            url,
        })
    }

    /// The service URL exactly as the activity carried it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `{serviceUrl}/{segments…}` with every segment percent-encoded and exactly one slash
    /// between the base path and the first segment.
    pub fn join(&self, segments: &[&str]) -> Url {
        let mut out = self.url.clone();
        let base = self.url.path().trim_end_matches('/');
        let mut path = String::from(base);
        for s in segments {
            path.push('/');
            path.push_str(&encode_segment(s));
        }
        out.set_path(&path);
        out.set_query(None);
        out.set_fragment(None);
        out
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceUrl({})", self.raw)
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_encodes_teams_ids_as_single_segments() {
        let base = ServiceUrl::parse("https://smba.trafficmanager.net/amer/").expect("parse");
        let url = base.join(&[
            "v3",
            "conversations",
            "19:abc@thread.v2;messageid=1",
            "activities",
        ]);
        assert_eq!(
            url.as_str(),
            "https://smba.trafficmanager.net/amer/v3/conversations/19%3Aabc%40thread.v2%3Bmessageid%3D1/activities"
        );
        let no_slash = ServiceUrl::parse("http://localhost:56150/_connector").expect("parse");
        assert_eq!(
            no_slash.join(&["v3", "conversations"]).as_str(),
            "http://localhost:56150/_connector/v3/conversations"
        );
    }
}
