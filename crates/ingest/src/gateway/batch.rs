//! `POST /ingest/batch`: newline-delimited JSON. Bad lines are reported by number and the good
//! ones stored; their status rows are written in one transaction, then the publishes are
//! pipelined with a bounded window of acknowledgements in flight.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use super::message::{IngestQuery, RequestMeta, parse_json};
use super::store::{Ready, store_all};
use super::{Gateway, GatewayError};
use crate::envelope;

/// A line the batch could not store.
#[derive(Debug, Serialize)]
struct LineError {
    line: usize,
    error: String,
}

/// A stored line and its message id.
#[derive(Debug, Serialize)]
struct LineStored {
    line: usize,
    message_id: Uuid,
}

/// The batch's answer.
#[derive(Debug, Serialize)]
struct BatchReply {
    /// `success` (every line stored), `partial` or `failed` (none stored).
    status: &'static str,
    /// Non-blank lines read.
    processed: usize,
    /// Lines stored now: new messages only.
    inserted: usize,
    /// Lines stored before (the same id, sent again with the same `Idempotency-Key`): nothing
    /// new was stored for them.
    duplicates: usize,
    /// Lines not stored.
    failed: usize,
    /// Why each failed line failed.
    errors: Vec<LineError>,
    /// The id of each stored line.
    messages: Vec<LineStored>,
    /// Time spent on the request.
    duration_ms: u128,
}

/// `POST /ingest/batch`.
pub(super) async fn ingest(
    State(gateway): State<Gateway>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    match run(&gateway, query, &headers, body, start).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(
    gateway: &Gateway,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    start: Instant,
) -> Result<Response, GatewayError> {
    let shared = &gateway.shared;
    let Query(query) = query.map_err(|e| GatewayError::bad_request(format!("query: {e}")))?;
    let body =
        body.map_err(|e| GatewayError { status: e.status(), message: format!("body: {e}") })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| GatewayError::bad_request(format!("body: not UTF-8: {e}")))?;
    let meta = RequestMeta::read(query, headers)?;
    let received_at = shared.clock.now_ms();

    let mut errors = Vec::new();
    let (mut numbers, mut ready) = (Vec::new(), Vec::new());
    let mut processed = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        processed += 1;
        if processed > shared.settings.max_batch_lines {
            return Err(GatewayError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the batch has more than {} lines; split it",
                    shared.settings.max_batch_lines
                ),
            });
        }
        let number = index + 1;
        let parsed = parse_json(line).and_then(|value| {
            let entity_type = meta.entity_type_of(&value)?;
            let fingerprint = meta.fingerprint(&entity_type, line)?;
            Ok((entity_type, fingerprint))
        });
        match parsed {
            Err(error) => errors.push(LineError { line: number, error }),
            Ok((entity_type, fingerprint)) => {
                let message_id = envelope::message_id(meta.key.as_deref(), Some(number));
                let source = meta.source.clone();
                numbers.push(number);
                ready.push(Ready::new(
                    shared,
                    message_id,
                    line,
                    entity_type,
                    source,
                    received_at,
                    fingerprint,
                )?);
            }
        }
    }
    if processed == 0 {
        return Err(GatewayError::bad_request(
            "body: no messages (expected one JSON value per line)",
        ));
    }
    if !ready.is_empty() && !shared.connected() {
        return Err(GatewayError::unavailable("NATS is not connected; nothing was stored"));
    }

    let outcomes = store_all(shared, &ready, shared.settings.publish_window).await?;

    let mut stored = Vec::new();
    let mut duplicates = 0;
    let mut all_unavailable = !outcomes.is_empty();
    let mut all_conflicts = !outcomes.is_empty() && errors.is_empty();
    for ((line, item), outcome) in numbers.iter().zip(&ready).zip(outcomes) {
        match outcome {
            Ok(publish) => {
                duplicates += usize::from(publish.duplicate);
                stored.push(LineStored { line: *line, message_id: item.row.message_id });
                all_unavailable = false;
                all_conflicts = false;
            }
            Err(e) => {
                all_unavailable &= e.status == StatusCode::SERVICE_UNAVAILABLE;
                all_conflicts &= e.status == StatusCode::UNPROCESSABLE_ENTITY;
                errors.push(LineError { line: *line, error: e.message });
            }
        }
    }
    errors.sort_by_key(|e| e.line);

    let failed = processed - stored.len();
    let reply = BatchReply {
        status: match (stored.len(), failed) {
            (_, 0) => "success",
            (0, _) => "failed",
            _ => "partial",
        },
        processed,
        inserted: stored.len() - duplicates,
        duplicates,
        failed,
        errors,
        messages: stored,
        duration_ms: start.elapsed().as_millis(),
    };
    let code = if !reply.messages.is_empty() {
        StatusCode::ACCEPTED
    } else if all_unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else if all_conflicts {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = (code, Json(reply)).into_response();
    if code == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(super::error::RETRY_AFTER_SECONDS),
        );
    }
    Ok(response)
}
