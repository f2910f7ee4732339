//! `tasks.*` operations and the promise operations that make tasks (`promises.createtask`,
//! `promises.callback`, `promises.subscribe`): payloads as the NATS API documents them and the Resonate server names
//! their fields, mapped onto the core rules.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use natsapi_core::promises::{CreatePromise, CreatePromiseAndTask};
use natsapi_core::tasks::{
    ClaimTask, CompleteTask, CreateCallback, CreateSubscription, DEFAULT_CLAIM_TTL_MS, DropTask,
    HeartbeatTasks,
};
use natsapi_core::{PromiseState, Value};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{decode, run_and_respond};
use crate::api::{Api, ApiError, Response, respond};
use crate::timer::Timer;

/// A receiver as clients give it: a name or URL (`poll://any@group`, `http://…`, a configured
/// target name), or `{type, data}`.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Recv)]
pub(crate) enum RecvPayload {
    /// A receiver name or URL.
    Name(String),
    /// A receiver object `{type, data}`.
    Object(BTreeMap<String, serde_json::Value>),
}

impl RecvPayload {
    /// The receiver as stored (JSON text), refused with a 400 when nothing could be delivered
    /// to it.
    fn into_stored(self, api: &Api) -> Result<String, ApiError> {
        let stored = match self {
            RecvPayload::Name(name) => serde_json::Value::String(name).to_string(),
            RecvPayload::Object(object) => {
                serde_json::Value::Object(object.into_iter().collect()).to_string()
            }
        };
        api.check_recv("payload.recv", &stored)?;
        Ok(stored)
    }
}

/// Refuses a `resonate:invoke` tag that names no receiver a task could be delivered to.
pub(super) fn check_invoke_tag(
    api: &Api,
    tags: Option<&BTreeMap<String, String>>,
) -> Result<(), ApiError> {
    match tags.and_then(|tags| tags.get(natsapi_core::task::INVOKE_TAG)) {
        Some(value) => api.check_recv(
            &format!("payload.tags.{}", natsapi_core::task::INVOKE_TAG),
            &natsapi_core::tasks::recv_from_tag(value),
        ),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTaskPayload {
    id: String,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    strict: Option<bool>,
    #[serde(default)]
    param: Value,
    #[serde(default)]
    timeout: Option<i64>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default, alias = "taskProcessId")]
    process_id: Option<String>,
    #[serde(default, alias = "taskTtl")]
    ttl: Option<i64>,
    /// The NATS server's name for the promise deadline (the task inherits the promise's).
    #[serde(default)]
    task_timeout: Option<i64>,
}

/// `promises.createtask {id, idempotencyKey?, strict?, param?, timeout, tags?, processId, ttl}`
/// (also `taskProcessId`, `taskTtl`, `taskTimeout`): the promise and its invoke task, claimed by
/// `processId`, in one transaction.
pub fn create_task<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: CreateTaskPayload = decode(payload)?;
        check_invoke_tag(api, p.tags.as_ref())?;
        let process_id =
            p.process_id.ok_or_else(|| ApiError::bad_request("processId is required"))?;
        let op = CreatePromiseAndTask {
            promise: CreatePromise {
                id: p.id,
                idempotency_key: p.idempotency_key,
                strict: p.strict.unwrap_or(false),
                param: p.param,
                timeout: super::promises::required_timeout(p.timeout.or(p.task_timeout))?,
                tags: p.tags.unwrap_or_default(),
            },
            process_id,
            ttl: p.ttl.unwrap_or(DEFAULT_CLAIM_TTL_MS),
            head: crate::trace::current_head(),
        };
        let done = api.answer(op).await?;
        let promise = &done.value.promise;
        if promise.state == PromiseState::Pending {
            api.announce(Timer::PromiseTimeouts, promise.timeout);
        }
        if let Some(task) = &done.value.task {
            api.announce(Timer::Tasks, task.expires_at.min(task.timeout));
        }
        super::promises::wake_tasks_if_timed_out(api, promise);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// The payload of `promises.callback`, and the body of the deprecated `POST /callbacks` (where
/// the fence comes from headers).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CallbackRequest)]
pub(crate) struct CallbackPayload {
    /// The promise to wait on (the leaf).
    promise_id: String,
    #[serde(default)]
    #[schema(ignore)]
    fence: Option<super::FencePayload>,
    /// The execution to resume; must differ from `promiseId`.
    root_promise_id: String,
    /// Where the resume task goes.
    recv: RecvPayload,
    /// The deadline the task inherits, epoch ms (default: the promise's).
    #[serde(default)]
    timeout: Option<i64>,
}

/// `promises.callback {promiseId, rootPromiseId, recv, timeout?}`: resume the execution of
/// `rootPromiseId` when `promiseId` completes. The server derives the callback's id and message.
pub fn callback<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: CallbackPayload = decode(payload)?;
        let op = CreateCallback {
            promise_id: p.promise_id,
            root_promise_id: p.root_promise_id,
            recv: p.recv.into_stored(api)?,
            timeout: p.timeout,
            head: crate::trace::current_head(),
        };
        run_and_respond(api, super::fenced(p.fence, op)).await
    }
    .boxed()
}

/// The payload of `promises.subscribe`, and the body of the deprecated `POST /subscriptions`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SubscriptionRequest)]
pub(crate) struct SubscribePayload {
    /// The promise to watch.
    promise_id: String,
    /// The subscription's id, unique per promise.
    id: String,
    /// Where the notify task goes.
    recv: RecvPayload,
    /// The deadline the task inherits, epoch ms (default: the promise's).
    #[serde(default)]
    timeout: Option<i64>,
}

/// `promises.subscribe {promiseId, id, recv, timeout?}`: notify `recv` when the promise
/// completes.
pub fn subscribe<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: SubscribePayload = decode(payload)?;
        let op = CreateSubscription {
            promise_id: p.promise_id,
            id: p.id,
            recv: p.recv.into_stored(api)?,
            timeout: p.timeout,
            head: crate::trace::current_head(),
        };
        run_and_respond(api, op).await
    }
    .boxed()
}

/// The payload of `tasks.claim` and body of `POST /tasks/claim`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ClaimTaskRequest)]
pub(crate) struct ClaimPayload {
    /// The task id.
    id: String,
    /// The counter the task was delivered with.
    counter: i64,
    /// The claiming worker process (default `<id>/<counter>`).
    #[serde(default)]
    process_id: Option<String>,
    /// The lease, ms (default a minute; also accepted as `frequency`).
    #[serde(default, alias = "frequency")]
    ttl: Option<i64>,
}

/// `tasks.claim {id, counter, processId?, ttl?}` (also `frequency`): the process id defaults to
/// `<id>/<counter>` and the lease to a minute, as the Resonate server's GET form does.
pub fn claim<'a>(api: &'a Api, payload: &'a RawValue) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: ClaimPayload = decode(payload)?;
        let process_id = p.process_id.unwrap_or_else(|| format!("{}/{}", p.id, p.counter));
        let op = ClaimTask {
            id: p.id,
            counter: p.counter,
            process_id,
            ttl: p.ttl.unwrap_or(DEFAULT_CLAIM_TTL_MS),
        };
        let done = api.answer(op).await?;
        api.announce(Timer::Tasks, done.value.task.expires_at);
        respond(done.code.status(), &done.value)
    }
    .boxed()
}

/// The payload of `tasks.complete` and `tasks.drop`, and their POST bodies.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TaskRefRequest)]
pub(crate) struct TaskRefPayload {
    /// The task id.
    id: String,
    /// The counter of the caller's claim.
    counter: i64,
}

/// `tasks.complete {id, counter}`.
pub fn complete<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: TaskRefPayload = decode(payload)?;
        let done = run_and_respond(api, CompleteTask { id: p.id, counter: p.counter }).await?;
        // The execution may have another task waiting for this one to finish.
        api.announce(Timer::Tasks, 0);
        Ok(done)
    }
    .boxed()
}

/// `tasks.drop {id, counter}`: the task is delivered again under the next counter.
pub fn drop_task<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: TaskRefPayload = decode(payload)?;
        let done = run_and_respond(api, DropTask { id: p.id, counter: p.counter }).await?;
        api.announce(Timer::Tasks, 0);
        Ok(done)
    }
    .boxed()
}

/// `tasks.heartbeat {processId}`: extends every lease the process holds.
pub fn heartbeat<'a>(
    api: &'a Api,
    payload: &'a RawValue,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    async move {
        let p: super::HeartbeatPayload = decode(payload)?;
        run_and_respond(api, HeartbeatTasks { process_id: p.process_id }).await
    }
    .boxed()
}
