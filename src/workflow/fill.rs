//! `${name}` placeholders filled with workflow parameters, encoded for where they stand.
//! Parameters can hold anything a customer typed (their name, email, InputCustomer answers),
//! so in a `SendHttpRequest` a value is data, never structure: in a URL it is percent-encoded
//! as a path segment, a query or a fragment component (and may not stand in the scheme or the
//! host at all); in a header it loses its control characters (no CR/LF to add headers); in a
//! JSON body it is a JSON string (escaped inside a string literal, quoted outside one); in a
//! form body it is form-encoded. Texts shown to people ([`text`]) are filled as they are.

/// A piece of a template.
enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Splits a template into literals and placeholder names; an unclosed `${` is literal text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if start > 0 {
            out.push(Piece::Literal(&rest[..start]));
        }
        out.push(Piece::Placeholder(after[..end].trim()));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    out
}

/// Fills a text as it is (messages, prompts: shown to people, never parsed).
pub fn text<'p>(template: &str, value: impl Fn(&str) -> Option<&'p str>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Literal(l) => out.push_str(l),
            Piece::Placeholder(name) => out.push_str(value(name).unwrap_or("")),
        }
    }
    out
}

/// Why a URL could not be filled safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeUrl {
    #[error("a placeholder stands in the URL's scheme or host")]
    PlaceholderInHost,
    #[error("a placeholder made a path segment '.' or '..'")]
    DotSegment,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UrlPart {
    Scheme,
    /// After the scheme's `:`: the URL standard skips any run of `/` and `\` there for the
    /// special schemes (`https:///h` and `https:\\h` name the host `h`).
    Slashes,
    Host,
    Path,
    Query,
    Fragment,
}

impl UrlPart {
    /// The part after the literal character `c`.
    fn step(self, c: char) -> UrlPart {
        match (self, c) {
            // URL parsers drop tabs and line breaks wherever they stand.
            (part, '\t' | '\n' | '\r') => part,
            (UrlPart::Scheme, ':') => UrlPart::Slashes,
            (UrlPart::Slashes, '/' | '\\') => UrlPart::Slashes,
            (UrlPart::Slashes, '?') => UrlPart::Query,
            (UrlPart::Slashes, '#') => UrlPart::Fragment,
            // `http:host/…` still names a host for the URL standard's special schemes.
            (UrlPart::Slashes, _) => UrlPart::Host,
            // `\` ends the host and separates path segments as `/` does (special schemes).
            (UrlPart::Scheme | UrlPart::Host, '/' | '\\') => UrlPart::Path,
            (UrlPart::Scheme | UrlPart::Host | UrlPart::Path, '?') => UrlPart::Query,
            (UrlPart::Fragment, _) => UrlPart::Fragment,
            (_, '#') => UrlPart::Fragment,
            (part, _) => part,
        }
    }

    fn names_the_host(self) -> bool {
        matches!(self, UrlPart::Scheme | UrlPart::Slashes | UrlPart::Host)
    }
}

/// Whether a URL template has a placeholder in its scheme or host (the validator refuses it).
pub fn url_has_host_placeholder(template: &str) -> bool {
    let mut part = UrlPart::Scheme;
    for piece in pieces(template) {
        match piece {
            Piece::Literal(l) => part = l.chars().fold(part, UrlPart::step),
            Piece::Placeholder(_) if part.names_the_host() => return true,
            Piece::Placeholder(_) => {}
        }
    }
    false
}

/// Percent-encodes every byte of `value` but those `keep` allows.
fn percent(value: &str, keep: impl Fn(u8) -> bool, out: &mut String) {
    for &b in value.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            push_percent(b, out);
        }
    }
}

fn push_percent(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A path segment a value turned into `.` or `..` (also spelled `%2e`), which would climb.
fn dot_segment(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

/// Fills a URL template: a value in the path is one segment's text (`/`, `?`, `#`, `%` and `.`
/// are encoded), in the query or fragment a component's (`&`, `=`, `+`, `#`, `%` are encoded).
pub fn url<'p>(
    template: &str,
    value: impl Fn(&str) -> Option<&'p str>,
) -> Result<String, UnsafeUrl> {
    let mut out = String::with_capacity(template.len());
    let mut part = UrlPart::Scheme;
    // Where the current path segment began in `out`, and whether a value is in it.
    let mut segment_start = 0;
    let mut segment_filled = false;
    for piece in pieces(template) {
        match piece {
            Piece::Literal(literal) => {
                for c in literal.chars() {
                    let next = part.step(c);
                    let separator = matches!(c, '/' | '\\');
                    let segment_ends =
                        part == UrlPart::Path && (separator || next != UrlPart::Path);
                    if segment_ends && segment_filled && dot_segment(&out[segment_start..]) {
                        return Err(UnsafeUrl::DotSegment);
                    }
                    out.push(c);
                    if next == UrlPart::Path && separator {
                        segment_start = out.len();
                        segment_filled = false;
                    }
                    part = next;
                }
            }
            Piece::Placeholder(name) => {
                let v = value(name).unwrap_or("");
                match part {
                    p if p.names_the_host() => return Err(UnsafeUrl::PlaceholderInHost),
                    UrlPart::Path => {
                        segment_filled = true;
                        percent(v, |b| unreserved(b) && b != b'.', &mut out);
                    }
                    _ => percent(
                        v,
                        |b| unreserved(b) || matches!(b, b'@' | b':' | b'/' | b'?'),
                        &mut out,
                    ),
                }
            }
        }
    }
    if part == UrlPart::Path && segment_filled && dot_segment(&out[segment_start..]) {
        return Err(UnsafeUrl::DotSegment);
    }
    Ok(out)
}

/// Fills a header value: control characters (CR and LF above all) become spaces.
pub fn header<'p>(template: &str, value: impl Fn(&str) -> Option<&'p str>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Literal(l) => out.push_str(l),
            Piece::Placeholder(name) => out.extend(
                value(name)
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c }),
            ),
        }
    }
    out
}

/// How a request body template is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Text,
}

impl BodyKind {
    /// From the request's `Content-Type`, else a body that looks like JSON is JSON.
    pub fn of<'a>(mut headers: impl Iterator<Item = (&'a str, &'a str)>, body: &str) -> BodyKind {
        let content_type = headers
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase());
        match content_type {
            Some(t) if t.contains("json") => BodyKind::Json,
            Some(t) if t.starts_with("application/x-www-form-urlencoded") => BodyKind::Form,
            Some(_) => BodyKind::Text,
            None if body.trim_start().starts_with(['{', '[']) => BodyKind::Json,
            None => BodyKind::Text,
        }
    }
}

/// Fills a body template. JSON: inside a string literal the value is escaped, elsewhere it is
/// a quoted string; form: the value is form-encoded; text: as it is.
pub fn body<'p>(template: &str, kind: BodyKind, value: impl Fn(&str) -> Option<&'p str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    for piece in pieces(template) {
        match piece {
            Piece::Literal(l) => {
                if kind == BodyKind::Json {
                    for c in l.chars() {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') if in_string => escaped = true,
                            (false, '"') => in_string = !in_string,
                            _ => {}
                        }
                    }
                }
                out.push_str(l);
            }
            Piece::Placeholder(name) => {
                let v = value(name).unwrap_or("");
                match kind {
                    BodyKind::Json => {
                        let quoted = serde_json::Value::String(v.to_owned()).to_string();
                        if in_string {
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        } else {
                            out.push_str(&quoted);
                        }
                    }
                    BodyKind::Form => {
                        for &b in v.as_bytes() {
                            match b {
                                b' ' => out.push('+'),
                                b if unreserved(b) => out.push(char::from(b)),
                                b => push_percent(b, &mut out),
                            }
                        }
                    }
                    BodyKind::Text => out.push_str(v),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }

    const EVIL_NAME: &str = "Ada\", \"role\": \"admin\", \"x\": \"/../../admin/delete?x=";
    const EVIL_EMAIL: &str = "x&tier=gold&role=admin#@example.com";

    #[test]
    fn url_values_stay_inside_their_segment_or_component() {
        let values = [("n", EVIL_NAME), ("e", EVIL_EMAIL)];
        let filled = url(
            "https://crm.example/crm/${n}?email=${e}&tier=basic",
            with(&values),
        )
        .expect("fills");
        let parsed = url::Url::parse(&filled).expect("a URL");
        assert_eq!(parsed.host_str(), Some("crm.example"));
        let segments: Vec<_> = parsed.path_segments().expect("path").collect();
        assert_eq!(segments.len(), 2, "{filled}");
        assert_eq!(segments[0], "crm");
        let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            vec![
                ("email".to_owned(), EVIL_EMAIL.to_owned()),
                ("tier".to_owned(), "basic".to_owned())
            ]
        );
        assert_eq!(parsed.fragment(), None);
        // Ordinary values read as before.
        assert_eq!(
            url(
                "https://crm.example/lookup?email=${e}",
                with(&[("e", "ada@example.com")])
            ),
            Ok("https://crm.example/lookup?email=ada@example.com".to_owned())
        );
    }

    #[test]
    fn url_values_cannot_climb_or_choose_the_host() {
        for dots in ["..", ".", "%2e%2E"] {
            assert_eq!(
                url("https://crm.example/a/${x}/b", with(&[("x", dots)])),
                if dots == "%2e%2E" {
                    Ok("https://crm.example/a/%252e%252E/b".to_owned())
                } else {
                    Err(UnsafeUrl::DotSegment)
                },
                "{dots}"
            );
        }
        assert!(url("https://crm.example/a/v${x}", with(&[("x", "..")])).is_ok());
        assert_eq!(
            url("https://${h}/x", with(&[("h", "evil.example")])),
            Err(UnsafeUrl::PlaceholderInHost)
        );
        assert!(url_has_host_placeholder("https://api.${h}.example/x"));
        assert!(url_has_host_placeholder("${base}/x"));
        assert!(!url_has_host_placeholder(
            "https://crm.example/${h}?q=${q}#${f}"
        ));
    }

    /// Found by `cargo fuzz` (target `text_parsers`): URL parsers skip any run of `/` and `\`
    /// after a special scheme's `:`, read `\` as `/`, and drop tabs and line breaks.
    #[test]
    fn extra_slashes_and_backslashes_still_lead_to_the_host() {
        for template in [
            "https:///${h}/x",
            "https:////${h}/x",
            "https:\\\\${h}/x",
            "https:/\\${h}/x",
            "https:\\/api.${h}/x",
            "https:/\r\n\t/${h}/x",
            "https://crm.example\n${h}/x",
        ] {
            assert!(url_has_host_placeholder(template), "{template}");
            assert_eq!(
                url(template, with(&[("h", "evil.example")])),
                Err(UnsafeUrl::PlaceholderInHost),
                "{template}"
            );
        }
        // `\` ends the host: what follows is the path, and a value there is one segment.
        assert_eq!(
            url("https://crm.example\\a\\${x}", with(&[("x", "..")])),
            Err(UnsafeUrl::DotSegment)
        );
        assert_eq!(
            url("https://crm.example\\c\\${x}", with(&[("x", "a/b")])),
            Ok("https://crm.example\\c\\a%2Fb".to_owned())
        );
    }

    #[test]
    fn headers_lose_line_breaks() {
        assert_eq!(
            header("Bearer ${t}", with(&[("t", "a\r\nX-Admin: 1")])),
            "Bearer a  X-Admin: 1"
        );
    }

    #[test]
    fn json_bodies_get_strings_never_structure() {
        let values = [("n", EVIL_NAME), ("e", EVIL_EMAIL)];
        let filled = body(
            r#"{"name": "${n}", "email": ${e}, "note": "say \"${n}\""}"#,
            BodyKind::Json,
            with(&values),
        );
        let parsed: serde_json::Value = serde_json::from_str(&filled).expect("JSON");
        let object = parsed.as_object().expect("object");
        assert_eq!(object.len(), 3, "{filled}");
        assert_eq!(object["name"], EVIL_NAME);
        assert_eq!(object["email"], EVIL_EMAIL);
        assert_eq!(object["note"], format!("say \"{EVIL_NAME}\""));
        assert_eq!(
            body("a=${e}&b=1", BodyKind::Form, with(&values)),
            "a=x%26tier%3Dgold%26role%3Dadmin%23%40example.com&b=1"
        );
        assert_eq!(
            BodyKind::of([("Content-Type", "application/json")].into_iter(), "x"),
            BodyKind::Json
        );
        assert_eq!(BodyKind::of(std::iter::empty(), " {}"), BodyKind::Json);
        assert_eq!(BodyKind::of(std::iter::empty(), "hi ${n}"), BodyKind::Text);
    }
}
