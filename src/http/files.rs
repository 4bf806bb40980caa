//! Answering with a file a customer sent (WhatsApp media, a widget upload): its type if it is
//! a plain one, shown inline only for images, a safe file name ending in the type's extension,
//! never sniffed, sandboxed, and not cached by anything shared.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Whether a browser shows the type in the page rather than downloading it.
pub fn inline(mime: &str) -> bool {
    matches!(
        mime,
        "image/jpeg" | "image/png" | "image/webp" | "image/gif"
    )
}

/// A file's name as it may appear in `Content-Disposition`: letters, digits, `.-_` (others
/// become `_`), at most 100 characters; a longer name is shortened before its extension, which
/// it keeps.
pub fn safe_name(name: &str) -> String {
    let safe: Vec<char> = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.len() <= 100 {
        return safe.into_iter().collect();
    }
    let extension = safe
        .iter()
        .rposition(|c| *c == '.')
        .map_or(&[][..], |dot| &safe[dot..])
        .iter()
        .take(16);
    let kept = 100 - extension.len();
    safe[..kept].iter().chain(extension).collect()
}

/// 200 with the file's bytes.
pub fn stored_file(bytes: Vec<u8>, mime: Option<&str>, name: &str) -> Response {
    let mime = mime
        .filter(|m| m.len() < 100 && m.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("application/octet-stream");
    let disposition = if inline(mime) { "inline" } else { "attachment" };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let name = crate::customer::files::download_name(name, mime);
    if let Ok(v) =
        HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", safe_name(&name)))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'; media-src 'self'"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_keeps_its_extension() {
        let long = format!("{}.exe.txt", "a".repeat(200));
        let safe = safe_name(&long);
        assert_eq!(safe.len(), 100);
        assert!(safe.ends_with("a.txt"), "{safe}");
        assert_eq!(safe_name("résumé.pdf"), "r_sum_.pdf");
        let response = stored_file(b"<p>".to_vec(), Some("text/plain"), "invoice.html");
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"invoice.html.txt\""
        );
    }
}
