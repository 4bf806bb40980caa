//! A request that reaches an instance which does not own the tenants goes to the owner, over
//! HTTP, signed with the cluster's secret (HMAC-SHA256 over the owner's epoch, the time, the
//! client's address, the method and the path), so the owner believes the client address it
//! names and nobody else can. An owner that no longer holds that epoch answers
//! `421 Misdirected Request`; the forwarding instance reads the lease again and retries the new
//! owner, for up to 4 s (within Teams' 5 s for an invoke). Bodies up to 1 MiB are kept for a
//! retry; a larger one (an upload) is streamed through once, and a failed attempt is answered
//! `503` with `Retry-After`.
//!
//! Served where they arrive: the health endpoints, `/metrics` (each instance's own) and the
//! customer event streams, read from the store ([`super::listen`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Cluster;
use crate::clock::{Clock, SystemClock};
use crate::http::client_ip::ClientIp;
use crate::http::problem::Problem;

/// The header a forwarded request carries: `EPOCH AT_MS CLIENT_IP SIGNATURE`.
pub const HEADER: &str = "x-switchboard-forwarded";

/// The largest body kept to be sent again to a new owner.
const REPLAYABLE: usize = 1 << 20;

/// How long a request waits for an owner to take it (Teams gives an invoke 5 s).
const DEADLINE: Duration = Duration::from_secs(4);

/// How far a forwarded request's time may be from the owner's clock.
const SKEW_MS: i64 = 30_000;

/// The middleware around every route of a clustered instance.
pub async fn route(
    State(cluster): State<Arc<Cluster>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(value) = request.headers_mut().remove(HEADER) {
        let Some((epoch, client)) = verify(&cluster, &value, request.method(), request.uri())
        else {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "forward_refused",
                "the forwarded request's signature is not the cluster's".to_owned(),
            )
            .into_response();
        };
        if cluster.epoch() != Some(epoch) {
            return Problem::new(
                StatusCode::MISDIRECTED_REQUEST,
                "not_owner",
                "this instance does not own the tenants (any more)".to_owned(),
            )
            .into_response();
        }
        request.extensions_mut().insert(ClientIp(client));
        return next.run(request).await;
    }
    if cluster.is_owner() || served_here(&request) {
        return next.run(request).await;
    }
    forward(&cluster, request, next).await
}

/// What any instance answers itself.
fn served_here(request: &Request) -> bool {
    let path = request.uri().path();
    matches!(path, "/healthz" | "/readyz" | "/metrics")
        || (request.method() == Method::GET
            && path.starts_with("/api/interact/v1/sessions/")
            && path.ends_with("/events"))
}

enum Payload {
    Kept(Bytes),
    Once(Option<Body>),
}

impl Payload {
    fn next(&mut self) -> Option<reqwest::Body> {
        match self {
            Payload::Kept(bytes) => Some(reqwest::Body::from(bytes.clone())),
            Payload::Once(body) => body
                .take()
                .map(|b| reqwest::Body::wrap_stream(b.into_data_stream())),
        }
    }
}

async fn forward(cluster: &Cluster, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let client = request
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0);
    let (parts, body) = request.into_parts();
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut payload = match (length, chunked) {
        (Some(n), _) if n <= REPLAYABLE => match axum::body::to_bytes(body, REPLAYABLE).await {
            Ok(bytes) => Payload::Kept(bytes),
            Err(_) => {
                return Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read".to_owned(),
                )
                .into_response();
            }
        },
        (None, false) => Payload::Kept(Bytes::new()),
        _ => Payload::Once(Some(body)),
    };
    let mut attempt: u32 = 0;
    loop {
        if cluster.is_owner() {
            // This instance took the tenants over while the request waited.
            if let Payload::Kept(bytes) = &payload {
                let request = Request::from_parts(parts, Body::from(bytes.clone()));
                return next.run(request).await;
            }
            break;
        }
        let owner = cluster
            .owner()
            .filter(|o| !o.expired && o.instance != cluster.instance());
        if let Some(owner) = owner {
            let replayable = matches!(payload, Payload::Kept(_));
            let Some(body) = payload.next() else { break };
            // An owner that accepted the connection but does not answer (paused, or gone
            // without a reset) is given up on while there is time to try the next one; an
            // upload and a long poll take what they need.
            let patience = if replayable && !long_poll(&parts) {
                DEADLINE
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(250))
            } else {
                LONG
            };
            let sent = tokio::time::timeout(patience, send(cluster, &owner, &parts, client, body));
            match sent.await.unwrap_or_else(|_| Err(Timeout)) {
                Ok(response) if response.status() != StatusCode::MISDIRECTED_REQUEST => {
                    return relay(response);
                }
                Ok(_) => tracing::debug!(cluster.owner = %owner.instance, "the owner moved on"),
                Err(error) => {
                    tracing::debug!(cluster.owner = %owner.instance, error = %error, "forwarding failed");
                }
            }
        }
        if started.elapsed() >= DEADLINE || matches!(payload, Payload::Once(None)) {
            break;
        }
        let pause = Duration::from_millis(25 << attempt.min(3));
        tokio::time::sleep(pause).await;
        attempt += 1;
        if let Err(error) = cluster.refresh().await {
            tracing::warn!(error = %error, "reading the cluster's lease failed");
        }
    }
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "owner_unavailable",
        "no instance owns the tenants right now (a takeover is under way); try again".to_owned(),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Why forwarding a request failed.
#[derive(Debug)]
enum Failed {
    Http(reqwest::Error),
    Timeout,
}
use Failed::Timeout;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Http(error) => write!(f, "{error}"),
            Failed::Timeout => f.write_str("the owner did not answer in time"),
        }
    }
}

/// The WhatsApp simulator's long poll (anonymous dev mode), which answers when there is news.
fn long_poll(parts: &axum::http::request::Parts) -> bool {
    parts.uri.path().starts_with("/dev/whatsapp/")
}

/// How long an upload or a long poll may take to be answered (the owner's own request timeout
/// applies too).
const LONG: Duration = Duration::from_secs(300);

async fn send(
    cluster: &Cluster,
    owner: &super::Owner,
    parts: &axum::http::request::Parts,
    client: IpAddr,
    body: reqwest::Body,
) -> Result<reqwest::Response, Failed> {
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let at = SystemClock.now_ms();
    let signature = sign(
        cluster.secret(),
        owner.epoch,
        at,
        client,
        &parts.method,
        target,
    );
    let mut builder = cluster
        .http()
        .request(parts.method.clone(), format!("{}{target}", owner.url));
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != header::HOST {
            builder = builder.header(name, value);
        }
    }
    builder
        .header(HEADER, format!("{} {at} {client} {signature}", owner.epoch))
        .body(body)
        .send()
        .await
        .map_err(Failed::Http)
}

fn relay(response: reqwest::Response) -> Response {
    let mut relayed = Response::builder().status(response.status());
    if let Some(headers) = relayed.headers_mut() {
        for (name, value) in response.headers() {
            if !hop_by_hop(name) {
                headers.append(name, value.clone());
            }
        }
    }
    relayed
        .body(Body::from_stream(response.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// Headers of one connection, not of the request (RFC 9110 §7.6.1).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn mac(
    secret: &[u8],
    epoch: i64,
    at: i64,
    client: IpAddr,
    method: &Method,
    target: &str,
) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{epoch}\n{at}\n{client}\n{method}\n{target}").as_bytes());
    mac
}

fn sign(
    secret: &[u8],
    epoch: i64,
    at: i64,
    client: IpAddr,
    method: &Method,
    target: &str,
) -> String {
    hex::encode(
        mac(secret, epoch, at, client, method, target)
            .finalize()
            .into_bytes(),
    )
}

/// The epoch and client address a forwarded request names, if its signature is the cluster's
/// and its time is near.
fn verify(
    cluster: &Cluster,
    value: &HeaderValue,
    method: &Method,
    uri: &axum::http::Uri,
) -> Option<(i64, IpAddr)> {
    let mut fields = value.to_str().ok()?.split(' ');
    let epoch: i64 = fields.next()?.parse().ok()?;
    let at: i64 = fields.next()?.parse().ok()?;
    let client: IpAddr = fields.next()?.parse().ok()?;
    let signature = hex::decode(fields.next()?).ok()?;
    if fields.next().is_some() || (SystemClock.now_ms() - at).abs() > SKEW_MS {
        return None;
    }
    let target = uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    mac(cluster.secret(), epoch, at, client, method, target)
        .verify_slice(&signature)
        .ok()?;
    Some((epoch, client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_names_its_request_and_nothing_else() {
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let signed = sign(b"secret", 3, 1000, client, &Method::POST, "/api/messages");
        assert_eq!(
            signed,
            sign(b"secret", 3, 1000, client, &Method::POST, "/api/messages")
        );
        for other in [
            sign(b"other", 3, 1000, client, &Method::POST, "/api/messages"),
            sign(b"secret", 4, 1000, client, &Method::POST, "/api/messages"),
            sign(b"secret", 3, 1001, client, &Method::POST, "/api/messages"),
            sign(
                b"secret",
                3,
                1000,
                "203.0.113.8".parse().expect("ip"),
                &Method::POST,
                "/api/messages",
            ),
            sign(b"secret", 3, 1000, client, &Method::GET, "/api/messages"),
            sign(b"secret", 3, 1000, client, &Method::POST, "/api/messages?x"),
        ] {
            assert_ne!(signed, other);
        }
    }
}
