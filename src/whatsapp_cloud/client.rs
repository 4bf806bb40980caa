//! Calls out to the Cloud API: `POST /{phone-number-id}/messages` (texts, templates, and the
//! read receipt with a typing indicator), with the tenant's system user token as Bearer. An
//! answer is read as Meta documents it: `messages[0].id` on success, `error.code` (and
//! `error_data.details`) on failure, and the code decides: the throughput limits (130429,
//! 131056, 131057) and server errors are retried; 131047 (the 24-hour window has closed) and
//! every other refusal are final.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::message::MediaId;

/// The outbox operation of a Cloud API send.
pub const OPERATION: &str = "whatsapp.send";

/// Error codes.
pub mod codes {
    /// Cloud API throughput reached (per business number).
    pub const THROUGHPUT: i64 = 130_429;
    /// Too many messages from the business number to one user in a short time.
    pub const PAIR_RATE: i64 = 131_056;
    /// The account is in maintenance (the throughput upgrade).
    pub const MAINTENANCE: i64 = 131_057;
    /// More than 24 hours since the customer last wrote: only a template may be sent.
    pub const REENGAGEMENT: i64 = 131_047;
}

/// A send queued in the outbox: the call (the body as posted) and what it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudSend {
    pub tenant: String,
    pub session: String,
    /// The customer event it carries (0: none, e.g. a typing indicator).
    pub seq: i64,
    pub phone_number_id: String,
    /// The JSON body of `POST /{phone-number-id}/messages`.
    pub body: Value,
}

impl CloudSend {
    /// The outbox lane: one per session (a customer has one open session per business
    /// number), so a customer's messages are sent one at a time, in order.
    pub fn lane(&self) -> String {
        format!("whatsapp|{}|{}", self.phone_number_id, self.session)
    }

    /// Whether this send is a message the customer reads (not a read receipt or typing).
    pub fn is_message(&self) -> bool {
        self.body.get("status").is_none()
    }
}

/// The body of a text message to `field` (`to` or `recipient`) = `address`.
pub fn text_body(field: &str, address: &str, text: &str) -> Value {
    let mut body = serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "text",
        "text": {"body": text, "preview_url": text.contains("https://")},
    });
    body[field] = Value::String(address.to_owned());
    body
}

/// The body that marks `wamid` (and earlier messages) read and shows "typing…".
pub fn typing_body(wamid: &str) -> Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    })
}

/// The body of a template message: `name` in `language`, its body's `{{1}}`, `{{2}}`… filled
/// with `values` in order.
pub fn template_body(
    field: &str,
    address: &str,
    name: &str,
    language: &str,
    values: &[String],
) -> Value {
    let mut template = serde_json::json!({
        "name": name,
        "language": {"policy": "deterministic", "code": language},
    });
    if !values.is_empty() {
        let parameters: Vec<Value> = values
            .iter()
            .map(|v| serde_json::json!({"type": "text", "text": v}))
            .collect();
        template["components"] = serde_json::json!([{"type": "body", "parameters": parameters}]);
    }
    let mut body = serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "template",
        "template": template,
    });
    body[field] = Value::String(address.to_owned());
    body
}

/// An approved message template of a WhatsApp Business Account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// The body text, with its `{{1}}`… placeholders.
    pub body: String,
    /// How many body placeholders it has.
    pub parameters: usize,
}

impl Template {
    /// The body with `values` in its placeholders (missing ones left as they are).
    pub fn filled(&self, values: &[String]) -> String {
        let mut text = self.body.clone();
        for (i, value) in values.iter().enumerate() {
            text = text.replace(&format!("{{{{{}}}}}", i + 1), value);
        }
        text
    }
}

/// Reads a page of `GET /{waba-id}/message_templates`: the approved templates.
pub fn approved_templates(page: &Value) -> Vec<Template> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["status"] == "APPROVED")
        .filter_map(|t| {
            let body = t["components"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "BODY")
                .and_then(|c| c["text"].as_str())
                .unwrap_or_default()
                .to_owned();
            let parameters = (1..=20)
                .take_while(|i| body.contains(&format!("{{{{{i}}}}}")))
                .count();
            Some(Template {
                name: t["name"].as_str()?.to_owned(),
                language: t["language"].as_str()?.to_owned(),
                body,
                parameters,
            })
        })
        .collect()
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    /// `error.code`, when the Cloud API answered with one.
    pub code: Option<i64>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// `error.message` / `error_data.details` (Meta's words; they hold no message text).
    pub details: String,
    pub retryable: bool,
}

impl CloudError {
    /// A stable code for the outbox row: `whatsapp_131047`, `http_503`, `timeout`…
    pub fn code(&self) -> String {
        match (self.code, self.status) {
            (Some(code), _) => format!("whatsapp_{code}"),
            (None, Some(status)) => format!("http_{status}"),
            (None, None) => self.details.clone(),
        }
    }

    fn transport(what: &str) -> Self {
        CloudError {
            code: None,
            status: None,
            details: what.to_owned(),
            retryable: true,
        }
    }
}

/// Reads a Cloud API error answer.
pub fn classify(status: u16, body: &Value) -> CloudError {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let details = error
        .pointer("/error_data/details")
        .and_then(Value::as_str)
        .or_else(|| error["message"].as_str())
        .unwrap_or("no details")
        .chars()
        .take(300)
        .collect();
    let retryable = match code {
        Some(codes::THROUGHPUT | codes::PAIR_RATE | codes::MAINTENANCE) => true,
        // 1 / 2: an unknown or temporary API error; Meta says to retry.
        Some(1 | 2) => true,
        Some(_) => false,
        None => status == 429 || status >= 500,
    };
    CloudError {
        code,
        status: Some(status),
        details,
        retryable,
    }
}

/// Sends a call and reads its JSON answer; a refusal read as [`classify`] does.
async fn answer(request: reqwest::RequestBuilder) -> Result<Value, CloudError> {
    let response = request.send().await.map_err(|e| {
        CloudError::transport(if e.is_timeout() {
            "timeout"
        } else {
            "unreachable"
        })
    })?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(classify(status, &body));
    }
    Ok(body)
}

/// The Cloud API client.
pub struct CloudClient {
    http: reqwest::Client,
    base_url: String,
}

impl CloudClient {
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(CloudClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// `{graph}/{segment}/…`, each segment percent-encoded as one path segment (a `/`, `?` or
    /// `..` in one cannot reach another endpoint).
    fn endpoint(&self, segments: &[&str]) -> Option<url::Url> {
        let mut url = url::Url::parse(&self.base_url).ok()?;
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(segments);
        Some(url)
    }

    /// The approved templates of a WhatsApp Business Account (at most 10 pages of 100; a
    /// `paging.next` elsewhere than the Graph API is not followed).
    pub async fn templates(&self, token: &str, account: &str) -> Result<Vec<Template>, CloudError> {
        let mut url = format!(
            "{}/{account}/message_templates?fields=name,language,status,components&limit=100",
            self.base_url
        );
        let mut all = Vec::new();
        for _ in 0..10 {
            let page = answer(
                self.http
                    .get(&url)
                    .bearer_auth(token)
                    .timeout(Duration::from_secs(5)),
            )
            .await?;
            all.extend(approved_templates(&page));
            match page.pointer("/paging/next").and_then(Value::as_str) {
                Some(next) if next.starts_with(&self.base_url) => url = next.to_owned(),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Downloads a customer's media: `GET /{media-id}` gives a short-lived URL, fetched with
    /// the same token; at most `max_bytes` (by the announced `file_size` and as read). The
    /// bytes and the MIME type; `Err` in words for the agent.
    pub async fn media(
        &self,
        token: &str,
        media_id: &str,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let unreachable = |_| "WhatsApp could not be reached".to_owned();
        // Checked again here: a row stored before ids were checked at parse is never sent.
        let Some(media_id) = MediaId::parse(media_id) else {
            return Err("its media id is not valid".to_owned());
        };
        let url = self
            .endpoint(&[media_id.as_str()])
            .ok_or_else(|| "the Graph API address is not usable".to_owned())?;
        let info = answer(self.http.get(url).bearer_auth(token))
            .await
            .map_err(|e| match e.status {
                Some(_) => format!("WhatsApp refused it ({})", e.code()),
                None => "WhatsApp could not be reached".to_owned(),
            })?;
        let too_large = || format!("it is larger than {} MB", max_bytes / (1024 * 1024));
        if info["file_size"]
            .as_u64()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large());
        }
        let Some(url) = info["url"].as_str() else {
            return Err("WhatsApp gave no address for it".to_owned());
        };
        let mut response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(format!(
                "WhatsApp refused the download (HTTP {})",
                response.status().as_u16()
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let mime = info["mime_type"].as_str().map(str::to_owned);
        Ok((bytes, mime))
    }

    /// Posts `send`; the new message's wamid on success (`None` for a read receipt).
    pub async fn send(&self, token: &str, send: &CloudSend) -> Result<Option<String>, CloudError> {
        let url = self
            .endpoint(&[&send.phone_number_id, "messages"])
            .ok_or_else(|| CloudError {
                code: None,
                status: None,
                details: "invalid_address".to_owned(),
                retryable: false,
            })?;
        let body = answer(self.http.post(url).bearer_auth(token).json(&send.body)).await?;
        Ok(body
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn throughput_errors_are_retried_and_the_closed_window_is_final() {
        let error = |code: i64| {
            json!({"error":{"message":"m","type":"OAuthException","code":code,
            "error_data":{"messaging_product":"whatsapp","details":"the details"},"fbtrace_id":"f"}})
        };
        for code in [130_429, 131_056, 131_057] {
            let e = classify(400, &error(code));
            assert!(e.retryable, "{code}");
            assert_eq!(e.code(), format!("whatsapp_{code}"));
        }
        let closed = classify(400, &error(131_047));
        assert!(!closed.retryable);
        assert_eq!(closed.code, Some(codes::REENGAGEMENT));
        assert_eq!(closed.details, "the details");
        assert!(!classify(400, &error(131_026)).retryable);
        assert!(classify(503, &Value::Null).retryable);
        assert_eq!(classify(503, &Value::Null).code(), "http_503");
        assert!(!classify(401, &Value::Null).retryable);
    }

    #[test]
    fn approved_templates_are_read_with_their_placeholders() {
        let page = json!({"data": [
            {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "HEADER", "format": "TEXT", "text": "Update"},
                            {"type": "BODY", "text": "Hello {{1}}, your order {{2}} has news."}]},
            {"name": "draft", "language": "en_US", "status": "PENDING", "components": []},
            {"name": "hello_world", "language": "en_US", "status": "APPROVED",
             "components": [{"type": "BODY", "text": "Hello World"}]}
        ], "paging": {"cursors": {"before": "a", "after": "b"}}});
        let templates = approved_templates(&page);
        assert_eq!(templates.len(), 2);
        assert_eq!(templates[0].parameters, 2);
        assert_eq!(
            templates[0].filled(&["Ann".into(), "42".into()]),
            "Hello Ann, your order 42 has news."
        );
        assert_eq!(templates[1].parameters, 0);
        let body = template_body("to", "1555", "order_update", "en_US", &["Ann".into()]);
        assert_eq!(body["template"]["language"]["code"], "en_US");
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["text"],
            "Ann"
        );
        assert!(
            template_body("to", "1", "hello_world", "en_US", &[])["template"]
                .get("components")
                .is_none()
        );
    }

    #[test]
    fn a_path_segment_stays_one_segment() {
        let client = CloudClient::new("http://graph.test/v24.0/").expect("client");
        let url = |segments: &[&str]| client.endpoint(segments).map(|u| u.to_string());
        assert_eq!(
            url(&["1037543291543636"]).as_deref(),
            Some("http://graph.test/v24.0/1037543291543636")
        );
        assert_eq!(
            url(&["../../me/accounts?x="]).as_deref(),
            Some("http://graph.test/v24.0/..%2F..%2Fme%2Faccounts%3Fx=")
        );
    }

    #[tokio::test]
    async fn an_invalid_media_id_is_never_requested() {
        // Nothing listens on port 9: a request would fail as unreachable, not as invalid.
        let client = CloudClient::new("http://127.0.0.1:9/v24.0").expect("client");
        let refused = client.media("token", "../../me/accounts?x=", 1024).await;
        assert_eq!(refused, Err("its media id is not valid".to_owned()));
    }

    #[test]
    fn a_customer_with_a_user_id_only_is_sent_to_through_recipient() {
        let body = text_body("recipient", "US.1", "hi");
        assert_eq!(body["recipient"], "US.1");
        assert!(body.get("to").is_none());
        let send = CloudSend {
            tenant: "t".into(),
            session: "s".into(),
            seq: 1,
            phone_number_id: "106".into(),
            body,
        };
        assert_eq!(send.lane(), "whatsapp|106|s");
        assert!(send.is_message());
        let typing = CloudSend {
            body: typing_body("wamid.X"),
            ..send
        };
        assert!(!typing.is_message());
    }
}
