//! The small parsers of header values and customer input: Retry-After, origins and their
//! allow-list templates, service URLs, network ranges, customer names, emails and messages, and
//! SendHttpRequest placeholder filling. The input is split at its first NUL byte into a
//! template and a value.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use switchboard::botframework::retry::parse_retry_after;
use switchboard::botframework::service_url::ServiceUrl;
use switchboard::config::{Network, ServiceUrlAllowList};
use switchboard::interact::origin;
use switchboard::interact::validate::{CustomerEmail, DisplayName, MessageText};
use switchboard::workflow::fill;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\0').unwrap_or((text, ""));
    let list: Vec<String> = b.split(',').map(str::to_owned).collect();
    let _ = parse_retry_after(a, SystemTime::now());
    let _ = origin::DomainTemplate::parse(a);
    let _ = origin::allowed(true, &list, Some(a));
    let _ = ServiceUrl::parse(a);
    let _ = ServiceUrlAllowList::parse(&list);
    let _ = Network::parse(a);
    let _ = DisplayName::parse(a);
    let _ = CustomerEmail::parse(a);
    let _ = MessageText::parse(a);
    let value = |_: &str| Some(b);
    if let Ok(filled) = fill::url(a, value)
        && !fill::url_has_host_placeholder(a)
        && let (Ok(template), Ok(url)) = (
            url::Url::parse(&fill::text(a, |_| Some("x"))),
            url::Url::parse(&filled),
        )
        && matches!(template.scheme(), "http" | "https")
    {
        // What a placeholder filled is never the host (SendHttpRequest sends http(s) only; the
        // validator and the request refuse other schemes, whose URLs parse differently).
        assert_eq!(template.host_str(), url.host_str());
    }
    let header = fill::header(a, value);
    assert!(!header.contains(['\r', '\n']) || a.contains(['\r', '\n']));
    let _ = fill::body(a, fill::BodyKind::Json, value);
});
