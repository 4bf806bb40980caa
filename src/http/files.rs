//! Answering with a file a customer sent (WhatsApp media, a widget upload): its type if it is
//! a plain one, shown inline only for images, a safe file name, never sniffed, sandboxed, and
//! not cached by anything shared.

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
/// become `_`), at most 100 characters.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
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
    if let Ok(v) =
        HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", safe_name(name)))
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
