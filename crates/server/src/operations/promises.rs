//! `promises.*` operations: payloads as the NATS API documents them, mapped onto the core rules.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::promises::{
    CompletePromise, CreatePromise, CreateTraced, PromiseSearchRequest, ReadPromise, SearchPromises,
};
use natsapi_core::{PromiseState, Value};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{decode, run_and_respond};
use crate::api::{Api, ApiError, Response, respond};
use crate::timer::Timer;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadPayload {
    id: String,
}

/// The payload of `promises.create`, and the body of `POST /promises` (where the idempotency key,
/// strictness and fence come from headers instead).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreatePromiseRequest)]
pub(crate) struct CreatePayload {
    /// The promise id; may contain `/`.
    id: String,
    #[serde(default)]
    #[schema(ignore)]
    fence: Option<super::FencePayload>,
    #[serde(default)]
    #[schema(ignore)]
    idempotency_key: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    strict: Option<bool>,
    /// What the promise is created with.
    #[serde(default)]
    #[schema(value_type = crate::http::openapi::schemas::PromiseValue)]
    param: Value,
    /// The deadline: epoch ms, or a duration in ms from now when below 10^12 (required).
    #[serde(default)]
    #[schema(required = true)]
    timeout: Option<i64>,
    /// Free-form string tags (`resonate:invoke` names the receiver of its invoke task).
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// The payload of `promises.complete`, and the body of `PATCH /promises/{id}` (where the id is
/// the path's and the idempotency key, strictness and fence come from headers).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CompletePromiseRequest)]
pub(crate) struct CompletePayload {
    #[schema(ignore)]
    id: String,
    #[serde(default)]
    #[schema(ignore)]
    fence: Option<super::FencePayload>,
    #[serde(default)]
    #[schema(ignore)]
    idempotency_key: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    strict: Option<bool>,
    /// The state to complete to (over HTTP: RESOLVED, REJECTED or REJECTED_CANCELED).
    #[schema(value_type = crate::http::openapi::schemas::CompletionState)]
    state: PromiseState,
    /// What the promise is completed with.
    #[serde(default)]
    #[schema(value_type = crate::http::openapi::schemas::PromiseValue)]
    value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPayload {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    states: Option<Vec<PromiseState>>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `promises.read {id}`.
pub fn read<'a>(api: &'a Api, payload: &'a RawValue) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: ReadPayload = decode(payload)?;
        let done = api.answer(ReadPromise { id: p.id }).await?;
        wake_tasks_if_timed_out(api, &done.value);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// A read, create or search that times a due promise out fires its callbacks like the timer
/// would: the task timer is told, so their tasks go out at once.
pub(super) fn wake_tasks_if_timed_out(api: &Api, promise: &natsapi_core::Promise) {
    if promise.state != PromiseState::Pending && promise.completed_on == Some(promise.timeout) {
        api.announce(Timer::Tasks, 0);
    }
}

/// The deadline of a new promise, which Resonate requires: without it the promise would time out
/// the moment it was created.
pub(super) fn required_timeout(timeout: Option<i64>) -> Result<i64, ApiError> {
    timeout.ok_or_else(|| {
        ApiError::bad_request(
            "payload.timeout: missing field (the promise's deadline: epoch ms, or a duration in \
             ms from now when below 10^12)",
        )
    })
}

/// `promises.create {id, idempotencyKey?, strict?, param?, timeout, tags?}`.
pub fn create<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: CreatePayload = decode(payload)?;
        super::tasks::check_invoke_tag(api, p.tags.as_ref())?;
        let op = CreatePromise {
            id: p.id,
            idempotency_key: p.idempotency_key,
            strict: p.strict.unwrap_or(false),
            param: p.param,
            timeout: required_timeout(p.timeout)?,
            tags: p.tags.unwrap_or_default(),
        };
        let op = CreateTraced { create: op, head: crate::trace::current_head() };
        let done = api.answer(super::fenced(p.fence, op)).await?;
        if done.value.state == PromiseState::Pending {
            api.announce(Timer::PromiseTimeouts, done.value.timeout);
            if done.value.tags.contains_key(natsapi_core::task::INVOKE_TAG) {
                api.announce(Timer::Tasks, 0);
            }
        }
        wake_tasks_if_timed_out(api, &done.value);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// `promises.complete {id, idempotencyKey?, strict?, state, value?}`.
pub fn complete<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: CompletePayload = decode(payload)?;
        let op = CompletePromise {
            id: p.id,
            idempotency_key: p.idempotency_key,
            strict: p.strict.unwrap_or(false),
            state: p.state,
            value: p.value,
        };
        let done = run_and_respond(api, super::fenced(p.fence, op)).await?;
        // Completing a promise turns its callbacks into tasks.
        api.announce(Timer::Tasks, 0);
        Ok(done)
    }
    .boxed()
}

/// `promises.search {id, states?, tags?, limit?, cursor?}`; a cursor carries the search, and
/// fields sent beside it must agree with it.
pub fn search<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: SearchPayload = decode(payload)?;
        let request =
            PromiseSearchRequest { id: p.id, states: p.states, tags: p.tags, limit: p.limit };
        let mut query = SearchPromises::from_request(request, p.cursor.as_deref())?;
        // Leave room for the page's own JSON around the promises.
        query.max_bytes = api
            .max_resource_bytes()
            .saturating_sub(super::SEARCH_PAGE_OVERHEAD + query.max_cursor_len());
        let done = run_and_respond(api, query).await?;
        // A search times out every due promise it meets (not only those it returns).
        api.announce(Timer::Tasks, 0);
        Ok(done)
    }
    .boxed()
}
