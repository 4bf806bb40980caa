//! `GET /sessions/{session}/events`: the session's events as server-sent events, replayable
//! from `Last-Event-ID` (or `?after=`), one stream per session (a newer one takes its place),
//! a bounded number per address; every stream ends at shutdown.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;

use super::session::StreamSession;
use crate::app::AppState;
use crate::customer::store::{self, CustomerEvent};
use crate::http::client_ip::ClientIp;
use crate::http::problem::ApiResult;

/// How often an idle stream sends a heartbeat and reads the store again.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize, Default)]
pub(super) struct AfterQuery {
    after: Option<i64>,
}

/// Server-sent events: every event after `Last-Event-ID` (or `?after=`), then new ones as they
/// come, each with its sequence number as the event id; heartbeats keep proxies from closing.
pub(super) async fn events(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    StreamSession(customer): StreamSession,
    Query(query): Query<AfterQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let session = customer.id().to_owned();
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .or(query.after)
        .unwrap_or(0);
    let Ok(slot) = app.streams.open(&session, client) else {
        let mut retry = HeaderMap::new();
        retry.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return Err(customer
            .refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                "too many event streams are open from this address",
            )
            .with(&retry));
    };
    let signal = app.events.listen(&session);
    let state = (
        app.pool.clone(),
        session,
        after,
        signal,
        Vec::<(i64, i64, CustomerEvent)>::new().into_iter(),
    );
    // Ends at shutdown, or when a newer stream of the session took this one's place.
    let stopping = app.stopping.clone();
    let displaced = slot.ended.clone();
    let stream = futures_util::stream::unfold(
        state,
        move |(pool, session, mut last, signal, mut pending)| {
            // The stream holds its place until it is dropped.
            let _slot = &slot;
            let stopping = stopping.clone();
            let displaced = displaced.clone();
            async move {
                loop {
                    if let Some((seq, at, event)) = pending.next() {
                        last = seq;
                        // The event with when it happened (ms), so the page shows its time.
                        let mut data = serde_json::to_value(&event).unwrap_or_default();
                        if let Some(object) = data.as_object_mut() {
                            object.insert("at".into(), at.into());
                        }
                        let sse = Event::default()
                            .id(seq.to_string())
                            .event("event")
                            .json_data(&data)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
                        return Some((
                            Ok::<_, Infallible>(sse),
                            (pool, session, last, signal, pending),
                        ));
                    }
                    // Register for the signal before reading, so an event written in between is not missed.
                    let notified = signal.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    match store::timed_events_after(&pool, &session, last).await {
                        Ok(found) if !found.is_empty() => {
                            pending = found.into_iter();
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "reading customer events failed");
                            return None;
                        }
                    }
                    // At shutdown the stream ends; the widget reconnects with Last-Event-ID.
                    // The store is read again at each heartbeat whatever happens: on an
                    // instance that does not own the tenants, a notification lost between
                    // instances costs at most that long.
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(HEARTBEAT) => {}
                        () = stopping.cancelled() => return None,
                        () = displaced.cancelled() => return None,
                    }
                }
            }
        },
    );
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"));
    Ok((customer.cors, sse).into_response())
}
