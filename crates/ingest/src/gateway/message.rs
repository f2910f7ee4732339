//! `POST /ingest/message`: one JSON body, stored in JetStream, answered 202 with its id.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::json;

use super::store::Ready;
use super::{Gateway, GatewayError};
use crate::envelope::{self, DEFAULT_ENTITY_TYPE};

/// The query parameters both ingest routes take.
#[derive(Debug, Default, Deserialize)]
pub(super) struct IngestQuery {
    /// The entity type of messages that name none themselves.
    pub entity_type: Option<String>,
}

/// How a request describes its messages: entity type, source and idempotency key.
pub(super) struct RequestMeta {
    /// The entity type from the query or the `Entity-Type` header.
    pub entity_type: Option<String>,
    /// The `Source` header.
    pub source: Option<String>,
    /// The `Idempotency-Key` header.
    pub key: Option<String>,
}

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 256;

impl RequestMeta {
    /// Reads the query and headers; a header that is not visible ASCII, or a key that is too long,
    /// is a 400.
    pub fn read(query: IngestQuery, headers: &HeaderMap) -> Result<Self, GatewayError> {
        let text = |name: &str| -> Result<Option<String>, GatewayError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str().map(str::to_owned).map_err(|_| {
                        GatewayError::bad_request(format!("header {name}: not visible ASCII"))
                    })
                })
                .transpose()
        };
        let key = text("idempotency-key")?;
        if let Some(key) = &key
            && (key.is_empty() || key.len() > MAX_KEY_LEN)
        {
            return Err(GatewayError::bad_request(format!(
                "header Idempotency-Key: must be 1 to {MAX_KEY_LEN} characters"
            )));
        }
        let entity_type = query.entity_type.or(text("entity-type")?);
        Ok(RequestMeta {
            entity_type,
            source: Some(text("source")?.unwrap_or_else(|| "http".into())),
            key,
        })
    }

    /// The [`crate::fingerprint`] of a message of this request, which only a request with an
    /// `Idempotency-Key` needs (to tell a replay from another message under the same key).
    pub fn fingerprint(&self, entity_type: &str, body: &str) -> Result<Option<String>, String> {
        self.key.as_ref().map(|_| crate::fingerprint::of(entity_type, body)).transpose()
    }

    /// The entity type of `body`: the request's, else the body's top-level `entity_type`
    /// string, else `default`; checked to be one safe subject token.
    pub fn entity_type_of(&self, body: &BodyHint) -> Result<String, String> {
        let from_body = match &body.entity_type {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.as_str()),
            Some(other) => return Err(format!("entity_type: expected a string, got {other}")),
        };
        let chosen = self.entity_type.as_deref().or(from_body).unwrap_or(DEFAULT_ENTITY_TYPE);
        envelope::check_entity_type(chosen)?;
        Ok(chosen.to_owned())
    }
}

/// What the gateway needs of a body: that it is JSON, and its top-level `entity_type`. Read
/// without building the whole document in memory.
pub(super) struct BodyHint {
    entity_type: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for BodyHint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HintVisitor)
    }
}

struct HintVisitor;

impl<'de> Visitor<'de> for HintVisitor {
    type Value = BodyHint;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_unit<E: de::Error>(self) -> Result<BodyHint, E> {
        Ok(BodyHint { entity_type: None })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BodyHint, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(BodyHint { entity_type: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyHint, A::Error> {
        let mut entity_type = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "entity_type" {
                entity_type = Some(map.next_value::<serde_json::Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(BodyHint { entity_type })
    }
}

/// Checks that `text` is one JSON value and reads its hint, naming what is wrong.
pub(super) fn parse_json(text: &str) -> Result<BodyHint, String> {
    if text.trim().is_empty() {
        return Err("the body is empty (expected JSON)".into());
    }
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// `POST /ingest/message`.
pub(super) async fn ingest(
    State(gateway): State<Gateway>,
    query: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&gateway, query, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn accept(
    gateway: &Gateway,
    query: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GatewayError> {
    let Query(query) = query.map_err(|e| GatewayError::bad_request(format!("query: {e}")))?;
    let body =
        body.map_err(|e| GatewayError { status: e.status(), message: format!("body: {e}") })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| GatewayError::bad_request(format!("body: not UTF-8: {e}")))?;
    let value = parse_json(text).map_err(|e| GatewayError::bad_request(format!("body: {e}")))?;
    let meta = RequestMeta::read(query, headers)?;
    let entity_type = meta.entity_type_of(&value).map_err(GatewayError::bad_request)?;
    let shared = &gateway.shared;
    let received_at = shared.clock.now_ms();
    if !shared.connected() {
        return Err(GatewayError::unavailable("NATS is not connected; the message was not stored"));
    }
    let fingerprint = meta
        .fingerprint(&entity_type, text)
        .map_err(|e| GatewayError::bad_request(format!("body: {e}")))?;
    let message_id = envelope::message_id(meta.key.as_deref(), None);
    let ready =
        Ready::new(shared, message_id, text, entity_type, meta.source, received_at, fingerprint)?;
    let stored = gateway.singles.store(ready).await?;
    let body = json!({
        "message_id": message_id,
        "status": "accepted",
        "timestamp": crate::time::rfc3339(received_at),
        "duplicate": stored.duplicate,
        "stream_sequence": stored.sequence,
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
