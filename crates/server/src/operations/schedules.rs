//! `schedules.*` operations: payloads as the NATS API and the Resonate server write them (the
//! description as `description` or `desc`), mapped onto the core rules.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::Value;
use natsapi_core::schedules::{
    CreateSchedule, DeleteSchedule, ReadSchedule, ScheduleSearchRequest, SearchSchedules,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{decode, run_and_respond};
use crate::api::{Api, ApiError, Response, respond};
use crate::timer::Timer;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdPayload {
    id: String,
}

/// The payload of `schedules.create`, and the body of `POST /schedules` (where the idempotency
/// key comes from the header).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreateScheduleRequest)]
pub(crate) struct CreatePayload {
    /// The schedule id.
    id: String,
    /// Free text. The NATS API says `description`; Resonate's own JSON says `desc` (both accepted).
    #[serde(default, alias = "desc")]
    description: Option<String>,
    /// A cron expression (5 or 6 fields) or descriptor (`@daily`, `@every 1m`), in UTC; ticks
    /// fall on whole seconds (`@every` takes whole seconds, at least `1s`).
    cron: String,
    /// Free-form string tags of the schedule.
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    /// The template each promise id is rendered from (`{{.id}}`, `{{.timestamp}}`).
    promise_id: String,
    /// How long each promise may stay pending, ms after its tick.
    promise_timeout: i64,
    /// Each promise's `param`.
    #[serde(default)]
    #[schema(value_type = crate::http::openapi::schemas::PromiseValue)]
    promise_param: Value,
    /// Each promise's tags.
    #[serde(default)]
    promise_tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    #[schema(ignore)]
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPayload {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `schedules.read {id}`.
pub fn read<'a>(api: &'a Api, payload: &'a RawValue) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: IdPayload = decode(payload)?;
        run_and_respond(api, ReadSchedule { id: p.id }).await
    }
    .boxed()
}

/// `schedules.create {id, description|desc?, cron, tags?, promiseId, promiseTimeout,
/// promiseParam?, promiseTags?, idempotencyKey?}`.
pub fn create<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: CreatePayload = decode(payload)?;
        let done = api
            .answer(CreateSchedule {
                id: p.id,
                description: p.description.unwrap_or_default(),
                cron: p.cron,
                tags: p.tags.unwrap_or_default(),
                promise_id: p.promise_id,
                promise_timeout: p.promise_timeout,
                promise_param: p.promise_param,
                promise_tags: p.promise_tags.unwrap_or_default(),
                idempotency_key: p.idempotency_key,
            })
            .await?;
        api.announce(Timer::ScheduleFiring, done.value.next_run_time);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// `schedules.delete {id}`: 204 with no body.
pub fn delete<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: IdPayload = decode(payload)?;
        run_and_respond(api, DeleteSchedule { id: p.id }).await
    }
    .boxed()
}

/// `schedules.search {id, tags?, limit?, cursor?}`; a cursor carries the search, and fields sent
/// beside it must agree with it.
pub fn search<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: SearchPayload = decode(payload)?;
        let request = ScheduleSearchRequest { id: p.id, tags: p.tags, limit: p.limit };
        let mut query = SearchSchedules::from_request(request, p.cursor.as_deref())?;
        // Leave room for the page's own JSON around the schedules.
        query.max_bytes = api
            .max_resource_bytes()
            .saturating_sub(super::SEARCH_PAGE_OVERHEAD + query.max_cursor_len());
        run_and_respond(api, query).await
    }
    .boxed()
}
