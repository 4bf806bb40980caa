//! The simulator's built-in Graph API: the Cloud API endpoints Switchboard calls, answering as
//! Meta does (success shapes, `error.code` with `error_data.details`), with the demo tenant's
//! made-up access token checked on every call.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::phone::{Choice, Entry, TYPING_MS};
use super::{BUSINESS_ACCOUNT, GRAPH_PATH, Sim, Simulator, simulator};
use crate::http::client_ip::ClientIp;
use crate::http::problem::{ApiResult, Refused};

/// The simulated business's approved templates: name, language, body.
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "hello_again",
        "en_US",
        "Hello {{1}}, this is {{2}} from our support team. Reply to this message to go on with our chat.",
    ),
    (
        "order_update",
        "en_US",
        "Your order {{1}} has an update. Reply here if you have any questions.",
    ),
];

pub fn router() -> Router<Sim> {
    Router::new()
        .route(&format!("{GRAPH_PATH}/{{id}}/messages"), post(messages))
        .route(
            &format!("{GRAPH_PATH}/{{id}}/message_templates"),
            get(templates),
        )
        .route(&format!("{GRAPH_PATH}/{{id}}"), get(media_info))
        .route(&format!("{GRAPH_PATH}/{{id}}/content"), get(media_content))
}

/// A Graph API error, as Meta writes it.
fn graph_error(status: StatusCode, code: i64, message: &str, details: &str) -> Refused {
    Refused::from(
        (
            status,
            axum::Json(
                json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "simulator"}}),
            ),
        )
            .into_response(),
    )
}

fn bad_parameter(details: &str) -> Refused {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        "(#100) Invalid parameter",
        details,
    )
}

/// The simulator when the call carries its access token; else Meta's 401.
fn authorised(sim: &Sim, client: ClientIp, headers: &HeaderMap) -> Result<Arc<Simulator>, Refused> {
    let simulator = simulator(sim, client)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::bearer_token);
    let expected = crate::security::hash_secret(&simulator.access_token);
    if !presented
        .is_some_and(|p| crate::security::same_hash(&crate::security::hash_secret(p), &expected))
    {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "The access token is not the simulator's.",
        ));
    }
    Ok(simulator)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn choices(rows: impl Iterator<Item = Value>) -> Vec<Choice> {
    rows.map(|r| Choice {
        id: str_at(&r, "/id").to_owned(),
        title: str_at(&r, "/title").to_owned(),
    })
    .collect()
}

/// The line a message body shows on the phone, or Meta's refusal of it.
fn shown(body: &Value) -> Result<Entry, Refused> {
    match str_at(body, "/type") {
        "text" => match str_at(body, "/text/body") {
            "" => Err(bad_parameter("text.body is required")),
            text => Ok(Entry::text(text)),
        },
        "interactive" => {
            let text = str_at(body, "/interactive/body/text");
            match str_at(body, "/interactive/type") {
                "button" => {
                    let buttons = body
                        .pointer("/interactive/action/buttons")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if buttons.is_empty() || buttons.len() > 3 {
                        return Err(bad_parameter("a button message takes 1 to 3 buttons"));
                    }
                    let rows = buttons.into_iter().map(|b| b["reply"].clone());
                    Ok(Entry::buttons(text, choices(rows)))
                }
                "list" => {
                    let rows = body
                        .pointer("/interactive/action/sections")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default());
                    let label = str_at(body, "/interactive/action/button");
                    Ok(Entry::list(text, label, choices(rows)))
                }
                other => Err(bad_parameter(&format!(
                    "the simulator shows button and list messages, not {other:?}"
                ))),
            }
        }
        "template" => {
            let name = str_at(body, "/template/name");
            let Some((_, _, text)) = TEMPLATES.iter().find(|(n, _, _)| *n == name) else {
                return Err(graph_error(
                    StatusCode::NOT_FOUND,
                    132_001,
                    "(#132001) Template name does not exist in the translation",
                    &format!("template name ({name}) does not exist in en_US"),
                ));
            };
            let values: Vec<String> = body
                .pointer("/template/components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "body")
                .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
                .map(|p| str_at(&p, "/text").to_owned())
                .collect();
            let mut filled = (*text).to_owned();
            for (i, value) in values.iter().enumerate() {
                filled = filled.replace(&format!("{{{{{}}}}}", i + 1), value);
            }
            Ok(Entry::template(&filled))
        }
        "image" => match str_at(body, "/image/link") {
            "" => Err(bad_parameter("the simulator shows images sent by link")),
            link => Ok(Entry::image(link, body["image"]["caption"].as_str())),
        },
        other => Err(bad_parameter(&format!(
            "the simulator does not show {other:?} messages"
        ))),
    }
}

/// `POST /{phone-number-id}/messages`: a message to a customer, or a read receipt with typing.
async fn messages(
    State(sim): State<Sim>,
    client: ClientIp,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, JsonRejection>,
) -> ApiResult {
    let simulator = authorised(&sim, client, &headers)?;
    let Ok(axum::Json(body)) = body else {
        return Err(bad_parameter("the body is not JSON"));
    };
    if body["messaging_product"] != "whatsapp" {
        return Err(bad_parameter("messaging_product must be whatsapp"));
    }
    let now = simulator.clock.now_ms();
    if body["status"] == "read" {
        let typing = body.get("typing_indicator").map(|_| now + TYPING_MS);
        let wamid = str_at(&body, "/message_id");
        return match simulator.change(|p| p.read_by_business(wamid, typing)) {
            Some(_) => Ok(axum::Json(json!({"success": true})).into_response()),
            None => Err(bad_parameter(
                "message_id is not a message of this number's customers",
            )),
        };
    }
    let customer = match (body["to"].as_str(), body["recipient"].as_str()) {
        (Some(to), _) | (None, Some(to)) if !to.is_empty() => to.to_owned(),
        _ => return Err(bad_parameter("to (or recipient) is required")),
    };
    let entry = shown(&body)?;
    if entry.kind != "template"
        && simulator
            .window_closed
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            131_047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ));
    }
    let wamid = format!("wamid.SIM{}", crate::security::new_secret());
    simulator.change(|p| p.push(entry.for_customer(&customer, &wamid, now)));
    // Statuses come later, each as its own signed webhook.
    let (sim, id, to) = (Arc::clone(&simulator), wamid.clone(), customer.clone());
    tokio::spawn(async move {
        for status in ["sent", "delivered"] {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if sim.change(|p| p.set_status_of(&id, status)) {
                sim.post_status(&number, &id, &to, status).await;
            }
        }
    });
    Ok(axum::Json(json!({"messaging_product": "whatsapp",
        "contacts": [{"input": customer, "wa_id": customer}],
        "messages": [{"id": wamid, "message_status": "accepted"}]}))
    .into_response())
}

/// `GET /{waba-id}/message_templates`: the simulated business's approved templates.
async fn templates(
    State(sim): State<Sim>,
    client: ClientIp,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    authorised(&sim, client, &headers)?;
    if account != BUSINESS_ACCOUNT {
        return Err(bad_parameter(
            "the simulator's WhatsApp Business Account is 100000000000002",
        ));
    }
    let data: Vec<Value> = TEMPLATES
        .iter()
        .enumerate()
        .map(|(i, (name, language, text))| {
            json!({"name": name, "language": language, "status": "APPROVED",
                   "category": "UTILITY", "id": (i + 1).to_string(),
                   "components": [{"type": "BODY", "text": text}]})
        })
        .collect();
    Ok(
        axum::Json(json!({"data": data, "paging": {"cursors": {"before": "a", "after": "b"}}}))
            .into_response(),
    )
}

/// `GET /{media-id}`: where a customer's image is downloaded from.
async fn media_info(
    State(sim): State<Sim>,
    client: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let simulator = authorised(&sim, client, &headers)?;
    let found = {
        let phone = simulator.phone();
        phone
            .media(&id)
            .map(|m| (m.mime_type.clone(), m.bytes.len()))
    };
    match found {
        Some((mime, size)) => Ok(axum::Json(json!({"messaging_product": "whatsapp",
            "url": format!("{}{GRAPH_PATH}/{id}/content", simulator.base_url),
            "mime_type": mime, "sha256": "simulated", "file_size": size, "id": id}))
        .into_response()),
        None => Err(bad_parameter("Unsupported get request: no such media")),
    }
}

/// The image's bytes: with the token (as Meta's download URLs), or for the page itself.
async fn media_content(
    State(sim): State<Sim>,
    client: ClientIp,
    Path(id): Path<String>,
) -> ApiResult {
    let simulator = simulator(&sim, client)?;
    let phone = simulator.phone();
    let Some(media) = phone.media(&id) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let mut response = media.bytes.clone().into_response();
    if let Ok(mime) = HeaderValue::from_str(&media.mime_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, mime);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
