//! Promise operations with the decision tables of the Resonate v0.7 server (spec §4–§7):
//! idempotency keys, `strict`, lazy timeouts, and the 200/201/403/404/409 outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::cursor;
use crate::error::{DomainError, Reply, Success, TxError, quoted, require, require_present};
use crate::operation::Operation;
use crate::promise::{Promise, PromiseState, StateSet};
use crate::reply::{Answer, ReplyBudget, check_stored, check_stored_promise};
use crate::task::{Task, TaskState};
use crate::tasks::invoke_task;
use crate::time::deadline_from;
use crate::tx::Tx;
use crate::value::Value;

/// Largest page a search returns, and the default.
pub const MAX_SEARCH_LIMIT: usize = 100;

/// The length of a resource's JSON (a promise, a schedule), counted without building it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing plain data cannot fail; the count is then exact.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Most due promises a search times out per sweep.
const SEARCH_SWEEP_LIMIT: usize = 1_000;

/// Both keys present and equal. A missing key never matches (spec §14).
fn keys_match(stored: &Option<String>, requested: &Option<String>) -> bool {
    matches!((stored, requested), (Some(a), Some(b)) if a == b)
}

/// Completes a due promise by timeout: RESOLVED with the timeout tag, else REJECTED_TIMEDOUT;
/// empty value, no completion key, `completedOn` = the deadline.
pub fn time_out(tx: &mut dyn Tx, promise: &mut Promise) -> Result<(), TxError> {
    promise.state = promise.timeout_state();
    promise.value = Value::default();
    promise.idempotency_key_for_complete = None;
    promise.completed_on = Some(promise.timeout);
    tx.complete_promise(promise)?;
    crate::tasks::settle_waiters(tx, promise)
}

/// Times the promise out first when it is due at `now`.
fn settle(tx: &mut dyn Tx, mut promise: Promise, now: i64) -> Result<Promise, TxError> {
    if promise.is_due(now) {
        time_out(tx, &mut promise)?;
    }
    Ok(promise)
}

fn not_found(id: &str) -> DomainError {
    DomainError::new(Code::PromiseNotFound, format!("promise {} not found", quoted(id)))
}

/// `promises.read`: the promise, timed out first if due; 404 when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPromise {
    /// The promise id.
    pub id: String,
}

impl Operation for ReadPromise {
    type Output = Promise;

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn first_promise(&self) -> Option<&str> {
        Some(&self.id)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Promise>, TxError> {
        if let Err(e) = require("id", &self.id) {
            return Ok(Err(e));
        }
        match tx.promise(&self.id)? {
            None => Ok(Err(not_found(&self.id))),
            Some(p) => Ok(Ok(Success::ok(settle(tx, p, now)?))),
        }
    }
}

impl Answer for ReadPromise {}

/// `promises.create` (spec §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePromise {
    /// The promise id.
    pub id: String,
    /// Makes a retried create a 200 replay instead of a 409.
    pub idempotency_key: Option<String>,
    /// When set, a replay on a completed promise is a 409.
    pub strict: bool,
    /// The promise's input.
    pub param: Value,
    /// Deadline: absolute epoch ms, or a duration from now when below 10^12.
    pub timeout: i64,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl CreatePromise {
    /// Creates the promise (spec §5) and, when it is new and tagged `resonate:invoke`, its invoke
    /// task: INIT, or CLAIMED by `claim` (process id, lease in ms) when given. Returns the reply
    /// and the task it created.
    pub fn create(
        self,
        tx: &mut dyn Tx,
        now: i64,
        claim: Option<(String, i64)>,
        head: BTreeMap<String, String>,
    ) -> Result<(Reply<Promise>, Option<Task>), TxError> {
        if let Err(e) = require("id", &self.id) {
            return Ok((Err(e), None));
        }
        if self.timeout < 0 {
            return Ok((Err(DomainError::bad_request("timeout must not be negative")), None));
        }
        let mut promise = Promise {
            id: self.id,
            state: PromiseState::Pending,
            param: self.param,
            value: Value::default(),
            timeout: deadline_from(self.timeout, now),
            idempotency_key_for_create: self.idempotency_key,
            idempotency_key_for_complete: None,
            tags: self.tags,
            created_on: now,
            completed_on: None,
            sort_id: 0,
        };
        // Checked before anything is written: a bad tag refuses the whole create.
        let task = match invoke_task(&promise, now, head) {
            Ok(task) => task,
            Err(e) => return Ok((Err(e), None)),
        };
        if tx.insert_promise(&mut promise)? {
            let task = match task {
                Some(mut task) => {
                    if let Some((process_id, ttl)) = claim {
                        task.state = TaskState::Claimed;
                        task.process_id = Some(process_id);
                        task.ttl = ttl;
                        task.expires_at = now.saturating_add(ttl);
                    }
                    tx.insert_task(&mut task)?;
                    Some(task)
                }
                None => None,
            };
            return Ok((Ok(Success::created(promise)), task));
        }
        let Some(existing) = tx.promise(&promise.id)? else {
            return Err(TxError::msg(format!("promise {:?} both exists and not", promise.id)));
        };
        let existing = settle(tx, existing, now)?;
        let requested_key = &promise.idempotency_key_for_create;
        let replay = (!self.strict || existing.state == PromiseState::Pending)
            && keys_match(&existing.idempotency_key_for_create, requested_key);
        let reply = if replay {
            Ok(Success::ok(existing))
        } else {
            Err(DomainError::new(
                Code::PromiseAlreadyExists,
                format!("promise {} already exists", quoted(&promise.id)),
            ))
        };
        Ok((reply, None))
    }
}

impl Operation for CreatePromise {
    type Output = Promise;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Promise>, TxError> {
        Ok(self.create(tx, now, None, BTreeMap::new())?.0)
    }
}

impl Answer for CreatePromise {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        let len = self.id.len() + encoded_len(&self.param) + encoded_len(&self.tags);
        budget.check_contents("the id, param and tags of this promise", len)
    }

    fn check(success: &Success<Promise>, budget: &ReplyBudget) -> Result<(), DomainError> {
        check_stored(success, budget)
    }
}

/// `promises.create` whose invoke task (if the promise asks for one) carries `head`: the trace
/// context of the request, passed on to the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTraced {
    /// The create.
    pub create: CreatePromise,
    /// Headers for the invoke task's message.
    pub head: BTreeMap<String, String>,
}

impl Operation for CreateTraced {
    type Output = Promise;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Promise>, TxError> {
        Ok(self.create.create(tx, now, None, self.head)?.0)
    }
}

impl Answer for CreateTraced {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        self.create.precheck(budget)
    }

    fn check(success: &Success<Promise>, budget: &ReplyBudget) -> Result<(), DomainError> {
        CreatePromise::check(success, budget)
    }
}

/// A promise and the task created with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromiseAndTask {
    /// The promise.
    pub promise: Promise,
    /// Its invoke task, claimed by the caller; absent when the promise existed already or has no
    /// `resonate:invoke` tag.
    pub task: Option<Task>,
}

/// `promises.createtask` (spec §5.1): creates a promise and its invoke task, already claimed by
/// the caller, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePromiseAndTask {
    /// The promise to create.
    pub promise: CreatePromise,
    /// The worker that claims the task.
    pub process_id: String,
    /// The claim's lease, ms.
    pub ttl: i64,
    /// Headers for the task's message (trace context).
    pub head: BTreeMap<String, String>,
}

impl Operation for CreatePromiseAndTask {
    type Output = PromiseAndTask;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<PromiseAndTask>, TxError> {
        if self.process_id.is_empty() {
            return Ok(Err(DomainError::bad_request(
                "processId is required and must not be empty",
            )));
        }
        if self.ttl < 0 {
            return Ok(Err(DomainError::bad_request("ttl must not be negative")));
        }
        let (reply, task) =
            self.promise.create(tx, now, Some((self.process_id, self.ttl)), self.head)?;
        Ok(reply.map(|done| Success {
            code: done.code,
            value: PromiseAndTask { promise: done.value, task },
        }))
    }
}

impl Answer for CreatePromiseAndTask {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        self.promise.precheck(budget)
    }

    fn check(success: &Success<PromiseAndTask>, budget: &ReplyBudget) -> Result<(), DomainError> {
        check_stored_promise(success, &success.value.promise, budget)
    }
}

/// `promises.complete` (spec §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletePromise {
    /// The promise id.
    pub id: String,
    /// Makes a retried complete a 200 replay instead of a 403.
    pub idempotency_key: Option<String>,
    /// When set, a replay must ask for the stored state, and a timeout does not satisfy it.
    pub strict: bool,
    /// RESOLVED, REJECTED, REJECTED_CANCELED or REJECTED_TIMEDOUT.
    pub state: PromiseState,
    /// The result.
    pub value: Value,
}

/// The 403 for a promise already completed in `state`.
fn already_completed(id: &str, state: PromiseState) -> DomainError {
    let (code, what) = match state {
        PromiseState::Resolved => (Code::AlreadyResolved, "resolved"),
        PromiseState::Rejected => (Code::AlreadyRejected, "rejected"),
        PromiseState::RejectedCanceled => (Code::AlreadyCanceled, "canceled"),
        PromiseState::RejectedTimedout | PromiseState::Pending => {
            (Code::AlreadyTimedOut, "timed out")
        }
    };
    DomainError::new(code, format!("promise {} is already {what}", quoted(id)))
}

impl Operation for CompletePromise {
    type Output = Promise;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Promise>, TxError> {
        if let Err(e) = require("id", &self.id) {
            return Ok(Err(e));
        }
        if self.state == PromiseState::Pending {
            return Ok(Err(DomainError::bad_request(
                "state must be RESOLVED, REJECTED, REJECTED_CANCELED or REJECTED_TIMEDOUT",
            )));
        }
        let Some(mut promise) = tx.promise(&self.id)? else {
            return Ok(Err(not_found(&self.id)));
        };
        if promise.state == PromiseState::Pending {
            if !promise.is_due(now) {
                promise.state = self.state;
                promise.value = self.value;
                promise.idempotency_key_for_complete = self.idempotency_key;
                promise.completed_on = Some(now);
                tx.complete_promise(&promise)?;
                crate::tasks::settle_waiters(tx, &promise)?;
                return Ok(Ok(Success::created(promise)));
            }
            time_out(tx, &mut promise)?;
            return Ok(if promise.state == PromiseState::Resolved || self.strict {
                Err(already_completed(&self.id, promise.state))
            } else {
                Ok(Success::ok(promise))
            });
        }
        let replay = (keys_match(&promise.idempotency_key_for_complete, &self.idempotency_key)
            && (!self.strict || promise.state == self.state))
            || (!self.strict && promise.state == PromiseState::RejectedTimedout);
        Ok(if replay {
            Ok(Success::ok(promise))
        } else {
            Err(already_completed(&self.id, promise.state))
        })
    }
}

impl Answer for CompletePromise {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        budget.check_contents("the value of this completion", encoded_len(&self.value))
    }

    fn check(success: &Success<Promise>, budget: &ReplyBudget) -> Result<(), DomainError> {
        check_stored(success, budget)
    }
}

/// Which promises a search selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseFilter {
    /// Id pattern; `*` is the only wildcard.
    pub id: String,
    /// States to include.
    pub states: StateSet,
    /// Tags that must all be present with exactly these values.
    pub tags: BTreeMap<String, String>,
}

impl PromiseFilter {
    /// Whether `promise` passes the filter.
    pub fn matches(&self, promise: &Promise) -> bool {
        self.states.contains(promise.state)
            && crate::glob::matches(&self.id, &promise.id)
            && self.tags.iter().all(|(k, v)| promise.tags.get(k) == Some(v))
    }
}

/// The query a cursor carries (Resonate's field names).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CursorQuery {
    id: String,
    states: Vec<PromiseState>,
    tags: BTreeMap<String, String>,
    limit: usize,
    sort_id: i64,
}

/// `promises.search` (spec §7): newest first, paged by an opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPromises {
    /// What to select.
    pub filter: PromiseFilter,
    /// Page size, 1..=100.
    pub limit: usize,
    /// Continue below this sort id (from a cursor).
    pub before: Option<i64>,
    /// Most bytes of promise JSON in one page: a page that would grow past it ends early, with a
    /// cursor at its last promise (always at least one promise per page).
    pub max_bytes: usize,
}

/// The fields of a `promises.search` request besides its cursor; `None` where the request left
/// one out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromiseSearchRequest {
    /// Id pattern.
    pub id: Option<String>,
    /// States to include (empty: all).
    pub states: Option<Vec<PromiseState>>,
    /// Tags that must match.
    pub tags: Option<BTreeMap<String, String>>,
    /// Page size.
    pub limit: Option<i64>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// The matching promises, newest first.
    pub promises: Vec<Promise>,
    /// Present when more matches follow.
    pub cursor: Option<String>,
}

impl SearchPromises {
    /// A first-page search. `states` empty means all; `limit` absent means 100.
    pub fn new(
        id: String,
        states: Vec<PromiseState>,
        tags: BTreeMap<String, String>,
        limit: Option<i64>,
    ) -> Result<Self, DomainError> {
        // A pattern, not a stored id: no length limit but the request's.
        require_present("id", &id)?;
        let limit = match limit {
            None => MAX_SEARCH_LIMIT,
            Some(n) if (1..=MAX_SEARCH_LIMIT as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(DomainError::bad_request(format!(
                    "limit must be between 1 and {MAX_SEARCH_LIMIT}, got {n}"
                )));
            }
        };
        let states = if states.is_empty() { StateSet::ALL } else { StateSet::of(states) };
        Ok(SearchPromises {
            filter: PromiseFilter { id, states, tags },
            limit,
            before: None,
            max_bytes: usize::MAX,
        })
    }

    /// The search a cursor continues (see `from_request` for the fields a request sends beside
    /// it).
    pub fn from_cursor(text: &str) -> Result<Self, DomainError> {
        let q: CursorQuery = cursor::decode(text)?;
        let mut search = SearchPromises::new(q.id, q.states, q.tags, Some(q.limit as i64))
            .map_err(|e| DomainError::bad_request(format!("invalid cursor: {}", e.message)))?;
        search.before = Some(q.sort_id);
        Ok(search)
    }

    /// The search a request asks for: the first page of `request`, or, with a non-empty
    /// `cursor`, the page it continues, provided every field `request` also sends agrees with the
    /// cursor (a 400 naming each that does not). An empty `id` counts as absent.
    pub fn from_request(
        request: PromiseSearchRequest,
        cursor: Option<&str>,
    ) -> Result<Self, DomainError> {
        let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
            return SearchPromises::new(
                request.id.unwrap_or_default(),
                request.states.unwrap_or_default(),
                request.tags.unwrap_or_default(),
                request.limit,
            );
        };
        let search = SearchPromises::from_cursor(cursor)?;
        let states = request
            .states
            .map(|states| if states.is_empty() { StateSet::ALL } else { StateSet::of(states) });
        let show_states = |set: &StateSet| {
            let names: Vec<&str> = PromiseState::ALL
                .into_iter()
                .filter(|s| set.contains(*s))
                .map(|s| s.name())
                .collect();
            format!("[{}]", names.join(", "))
        };
        let common = cursor::Common {
            id: request.id.as_deref(),
            tags: request.tags.as_ref(),
            limit: request.limit,
            cursor_id: &search.filter.id,
            cursor_tags: &search.filter.tags,
            cursor_limit: search.limit as i64,
        };
        let states =
            cursor::conflict("states", states.as_ref(), &search.filter.states, show_states);
        let [id, tags, limit] = common.conflicts();
        cursor::agree([id, states, tags, limit])?;
        Ok(search)
    }

    /// The longest cursor this search can return, in bytes (a page must leave room for it).
    pub fn max_cursor_len(&self) -> usize {
        self.cursor_at(i64::MIN).len()
    }

    fn cursor_after(&self, last: &Promise) -> String {
        self.cursor_at(last.sort_id)
    }

    fn cursor_at(&self, sort_id: i64) -> String {
        cursor::encode(&CursorQuery {
            id: self.filter.id.clone(),
            states: PromiseState::ALL
                .into_iter()
                .filter(|s| self.filter.states.contains(*s))
                .collect(),
            tags: self.filter.tags.clone(),
            limit: self.limit,
            sort_id,
        })
    }
}

impl Operation for SearchPromises {
    type Output = SearchPage;

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn scans(&self) -> bool {
        true
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<SearchPage>, TxError> {
        // Due promises are timed out first, so a state filter sees the state a read would report
        // (spec §4). The background timer keeps this set small.
        // One bounded sweep: should more be due, the rows below that are due are timed out
        // and the query re-run, and the timer takes care of the rest.
        for mut due in tx.due_promises(now, SEARCH_SWEEP_LIMIT)? {
            time_out(tx, &mut due)?;
        }
        // Fetch one extra row to know whether another page follows.
        let mut rows = loop {
            let mut rows = tx.search_promises(&self.filter, self.before, self.limit + 1)?;
            let mut changed = false;
            for row in rows.iter_mut().filter(|p| p.is_due(now)) {
                // Read again by id, which holds the row on a store with concurrent writers: the
                // timer (of this or another instance) may have timed it out meanwhile.
                if let Some(current) = tx.promise(&row.id)? {
                    *row = current;
                }
                if row.is_due(now) {
                    time_out(tx, row)?;
                }
                changed = true;
            }
            if !changed || rows.iter().all(|p| self.filter.matches(p)) {
                break rows;
            }
        };
        let mut more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let mut bytes = 0usize;
        if let Some(fit) = rows.iter().position(|p| {
            bytes = bytes.saturating_add(encoded_len(p));
            bytes > self.max_bytes
        }) {
            let keep = fit.max(1);
            if keep < rows.len() {
                rows.truncate(keep);
                more = true;
            }
        }
        let cursor = match rows.last() {
            Some(last) if more => Some(self.cursor_after(last)),
            _ => None,
        };
        Ok(Ok(Success::ok(SearchPage { promises: rows, cursor })))
    }
}

impl Answer for SearchPromises {}

/// Background work: times out up to `limit` due promises and reports the next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPromises {
    /// Most promises to time out in this transaction.
    pub limit: usize,
}

/// What a [`TimeoutPromises`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutReport {
    /// The promises it completed.
    pub timed_out: Vec<Promise>,
    /// The earliest deadline still pending.
    pub next_deadline: Option<i64>,
}

impl Operation for TimeoutPromises {
    type Output = TimeoutReport;

    /// Usually nothing is due: the check then never takes the write lock.
    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<TimeoutReport>, TxError> {
        let mut timed_out = tx.due_promises(now, self.limit)?;
        for promise in &mut timed_out {
            time_out(tx, promise)?;
        }
        let next_deadline = tx.next_promise_deadline()?;
        Ok(Ok(Success::ok(TimeoutReport { timed_out, next_deadline })))
    }
}
