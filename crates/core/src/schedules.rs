//! Schedule operations (spec §10): create (201/200/409), read, delete, search with cursors, and
//! the background operation that fires due schedules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::cron::CronSchedule;
use crate::cursor;
use crate::error::{DomainError, Reply, Success, TxError, quoted, require, require_present};
use crate::operation::Operation;
use crate::promise::{Promise, PromiseState};
use crate::promises::{CreatePromise, MAX_SEARCH_LIMIT, encoded_len};
use crate::reply::{Answer, ReplyBudget};
use crate::schedule::{
    INVOCATION_TAG, NEVER, PromiseIdTemplate, SCHEDULE_TAG, Schedule, ScheduleFilter,
};
use crate::tx::Tx;
use crate::value::Value;

fn not_found(id: &str) -> DomainError {
    DomainError::new(Code::ScheduleNotFound, format!("schedule {} not found", quoted(id)))
}

/// `schedules.read`: the schedule, or 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSchedule {
    /// The schedule id.
    pub id: String,
}

impl Operation for ReadSchedule {
    type Output = Schedule;

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Schedule>, TxError> {
        if let Err(e) = require("id", &self.id) {
            return Ok(Err(e));
        }
        Ok(match tx.schedule(&self.id)? {
            Some(schedule) => Ok(Success::ok(schedule)),
            None => Err(not_found(&self.id)),
        })
    }
}

impl Answer for ReadSchedule {}

/// `schedules.create` (spec §10): 201 with the new schedule; for an existing id, 200 with the
/// stored one when both idempotency keys are present and equal, else 409. The body is not
/// compared. The cron and the promise id template are checked first (400 naming the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSchedule {
    /// The schedule id.
    pub id: String,
    /// Free text.
    pub description: String,
    /// Cron expression or descriptor (see [`crate::cron`]).
    pub cron: String,
    /// Tags of the schedule.
    pub tags: BTreeMap<String, String>,
    /// Promise id template.
    pub promise_id: String,
    /// Each promise's timeout, ms after its tick.
    pub promise_timeout: i64,
    /// Each promise's param.
    pub promise_param: Value,
    /// Each promise's tags.
    pub promise_tags: BTreeMap<String, String>,
    /// Makes a retried create a 200 replay instead of a 409.
    pub idempotency_key: Option<String>,
}

impl CreateSchedule {
    /// The first tick after `now`, once every field is checked.
    fn validate(&self, now: i64) -> Result<i64, DomainError> {
        require("id", &self.id)?;
        let cron = CronSchedule::parse_new(&self.cron)
            .map_err(|e| DomainError::bad_request(e.to_string()))?;
        let Some(next) = cron.next_after(now) else {
            return Err(DomainError::bad_request(format!(
                "invalid cron {}: it never fires",
                quoted(&self.cron)
            )));
        };
        if self.promise_id.is_empty() {
            return Err(DomainError::bad_request("promiseId is required and must not be empty"));
        }
        PromiseIdTemplate::parse(&self.promise_id)
            .map_err(|e| DomainError::bad_request(e.to_string()))?;
        if self.promise_timeout < 0 {
            return Err(DomainError::bad_request("promiseTimeout must not be negative"));
        }
        Ok(next)
    }
}

impl Operation for CreateSchedule {
    type Output = Schedule;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<Schedule>, TxError> {
        let next_run_time = match self.validate(now) {
            Ok(next) => next,
            Err(e) => return Ok(Err(e)),
        };
        let mut schedule = Schedule {
            id: self.id,
            description: self.description,
            cron: self.cron,
            tags: self.tags,
            promise_id: self.promise_id,
            promise_timeout: self.promise_timeout,
            promise_param: self.promise_param,
            promise_tags: self.promise_tags,
            last_run_time: None,
            next_run_time,
            idempotency_key: self.idempotency_key,
            created_on: now,
            sort_id: 0,
        };
        if tx.insert_schedule(&mut schedule)? {
            return Ok(Ok(Success::created(schedule)));
        }
        let Some(existing) = tx.schedule(&schedule.id)? else {
            return Err(TxError::msg(format!("schedule {:?} both exists and not", schedule.id)));
        };
        let replay = matches!(
            (&existing.idempotency_key, &schedule.idempotency_key),
            (Some(a), Some(b)) if a == b
        );
        Ok(if replay {
            Ok(Success::ok(existing))
        } else {
            Err(DomainError::new(
                Code::ScheduleAlreadyExists,
                format!("schedule {} already exists", quoted(&schedule.id)),
            ))
        })
    }
}

/// A new schedule must fit in a reply, and so must every promise it will create (see
/// [`crate::reply`]): its promise param, tags and id template are checked here, once, instead of
/// refusing its promises tick after tick.
impl Answer for CreateSchedule {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        let len = self.promise_id.len()
            + encoded_len(&self.promise_param)
            + encoded_len(&self.promise_tags);
        budget.check_contents("their id, param and tags", len).map_err(|e| {
            DomainError::bad_request(format!("the promises of this schedule: {}", e.message))
        })
    }

    fn check(success: &Success<Schedule>, budget: &ReplyBudget) -> Result<(), DomainError> {
        if success.code == Code::Created {
            budget.check_promise(&largest_scheduled_promise(&success.value)).map_err(|e| {
                DomainError::bad_request(format!("the promises of this schedule: {}", e.message))
            })?;
        }
        budget.check_reply(encoded_len(&success.value))
    }
}

/// `schedules.delete`: 204, or 404. Promises the schedule created stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSchedule {
    /// The schedule id.
    pub id: String,
}

impl Operation for DeleteSchedule {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        if let Err(e) = require("id", &self.id) {
            return Ok(Err(e));
        }
        Ok(if tx.delete_schedule(&self.id)? {
            Ok(Success { code: Code::NoContent, value: () })
        } else {
            Err(not_found(&self.id))
        })
    }
}

impl Answer for DeleteSchedule {}

/// The query a cursor carries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CursorQuery {
    id: String,
    tags: BTreeMap<String, String>,
    limit: usize,
    sort_id: i64,
}

/// `schedules.search` (spec §7): id glob and tags, newest first, paged by an opaque cursor.
///
/// Rows are whole schedules (Resonate's search fills only some fields of each row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSchedules {
    /// What to select.
    pub filter: ScheduleFilter,
    /// Page size, 1..=100.
    pub limit: usize,
    /// Continue below this sort id (from a cursor).
    pub before: Option<i64>,
    /// Most bytes of schedule JSON in one page: a page that would grow past it ends early, with
    /// a cursor at its last schedule (always at least one schedule per page).
    pub max_bytes: usize,
}

/// The fields of a `schedules.search` request besides its cursor; `None` where the request left
/// one out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleSearchRequest {
    /// Id pattern.
    pub id: Option<String>,
    /// Tags that must match.
    pub tags: Option<BTreeMap<String, String>>,
    /// Page size.
    pub limit: Option<i64>,
}

/// One page of schedule search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulePage {
    /// The matching schedules, newest first.
    pub schedules: Vec<Schedule>,
    /// Present when more matches follow.
    pub cursor: Option<String>,
}

impl SearchSchedules {
    /// A first-page search; `limit` absent means 100.
    pub fn new(
        id: String,
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
        Ok(SearchSchedules {
            filter: ScheduleFilter { id, tags },
            limit,
            before: None,
            max_bytes: usize::MAX,
        })
    }

    /// The search a cursor continues (see `from_request` for the fields a request sends beside
    /// it).
    pub fn from_cursor(text: &str) -> Result<Self, DomainError> {
        let q: CursorQuery = cursor::decode(text)?;
        let mut search = SearchSchedules::new(q.id, q.tags, Some(q.limit as i64))
            .map_err(|e| DomainError::bad_request(format!("invalid cursor: {}", e.message)))?;
        search.before = Some(q.sort_id);
        Ok(search)
    }

    /// The search a request asks for: the first page of `request`, or, with a non-empty
    /// `cursor`, the page it continues, provided every field `request` also sends agrees with the
    /// cursor (a 400 naming each that does not). An empty `id` counts as absent.
    pub fn from_request(
        request: ScheduleSearchRequest,
        cursor: Option<&str>,
    ) -> Result<Self, DomainError> {
        let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
            return SearchSchedules::new(
                request.id.unwrap_or_default(),
                request.tags.unwrap_or_default(),
                request.limit,
            );
        };
        let search = SearchSchedules::from_cursor(cursor)?;
        cursor::agree(
            cursor::Common {
                id: request.id.as_deref(),
                tags: request.tags.as_ref(),
                limit: request.limit,
                cursor_id: &search.filter.id,
                cursor_tags: &search.filter.tags,
                cursor_limit: search.limit as i64,
            }
            .conflicts(),
        )?;
        Ok(search)
    }

    /// The longest cursor this search can return, in bytes (a page must leave room for it).
    pub fn max_cursor_len(&self) -> usize {
        self.cursor_at(i64::MIN).len()
    }

    fn cursor_at(&self, sort_id: i64) -> String {
        cursor::encode(&CursorQuery {
            id: self.filter.id.clone(),
            tags: self.filter.tags.clone(),
            limit: self.limit,
            sort_id,
        })
    }
}

impl Operation for SearchSchedules {
    type Output = SchedulePage;

    fn read_attempt(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn scans(&self) -> bool {
        true
    }

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<SchedulePage>, TxError> {
        // One extra row tells whether another page follows.
        let mut rows = tx.search_schedules(&self.filter, self.before, self.limit + 1)?;
        let mut more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let mut bytes = 0usize;
        if let Some(fit) = rows.iter().position(|s| {
            bytes = bytes.saturating_add(crate::promises::encoded_len(s));
            bytes > self.max_bytes
        }) {
            let keep = fit.max(1);
            if keep < rows.len() {
                rows.truncate(keep);
                more = true;
            }
        }
        let cursor = match rows.last() {
            Some(last) if more => Some(self.cursor_at(last.sort_id)),
            _ => None,
        };
        Ok(Ok(Success::ok(SchedulePage { schedules: rows, cursor })))
    }
}

impl Answer for SearchSchedules {}

/// Background work: fires up to `limit` due schedules, one tick each, and reports the next tick.
///
/// For each due schedule, in one transaction: the promise id is rendered from the template
/// (`{{.timestamp}}` is the due tick), the promise is created by the rules of
/// [`CreatePromise`] (no idempotency key, `timeout` = tick + `promiseTimeout`, saturating; the
/// schedule's promise tags plus `resonate:schedule=<id>` and `resonate:invocation=true`), and
/// the schedule always advances: `lastRunTime` = the tick, `nextRunTime` = the first cron tick
/// after it. Counting from the old tick catches missed ticks up, one per schedule per run.
/// Unlike Resonate, a promise id that already exists does not hold the schedule back.
///
/// The promise's `createdOn` is the time the tick fired (Resonate writes the tick itself). As
/// with any create, a `timeout` below 10^12 would read as relative to now; tick +
/// `promiseTimeout` is above that for every tick after 2001.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FireSchedules {
    /// Most schedules to fire in this transaction.
    pub limit: usize,
}

/// One schedule tick that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The schedule.
    pub schedule_id: String,
    /// The tick that fired, epoch ms.
    pub tick: i64,
    /// The rendered promise id.
    pub promise_id: String,
    /// What creating the promise answered: 201 with the new promise, or the refusal (409 when
    /// the id already existed).
    pub promise: Reply<Promise>,
}

/// What a [`FireSchedules`] run did.
#[derive(Debug, Clone, PartialEq)]
pub struct FireReport {
    /// Each tick fired, in due order.
    pub fired: Vec<Firing>,
    /// The earliest `nextRunTime` of any schedule, after this run.
    pub next_run: Option<i64>,
}

/// The id of the promise `schedule` creates at `tick`.
fn scheduled_promise_id(schedule: &Schedule, tick: i64) -> String {
    match PromiseIdTemplate::parse(&schedule.promise_id) {
        Ok(template) => template.render(&schedule.id, tick),
        // Only a template accepted at create is stored; should one be unreadable, its text is
        // used as it is rather than stopping the schedule.
        Err(_) => schedule.promise_id.clone(),
    }
}

/// The tags of the promises `schedule` creates: its promise tags plus the schedule and
/// invocation tags.
fn scheduled_promise_tags(
    schedule_id: &str,
    mut tags: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    tags.insert(SCHEDULE_TAG.to_owned(), schedule_id.to_owned());
    tags.insert(INVOCATION_TAG.to_owned(), "true".to_owned());
    tags
}

/// The largest promise `schedule` can create: every number in it (the tick in its id, the
/// deadline, the creation time) as long as a number can be.
fn largest_scheduled_promise(schedule: &Schedule) -> Promise {
    Promise {
        id: scheduled_promise_id(schedule, i64::MAX),
        state: PromiseState::Pending,
        param: schedule.promise_param.clone(),
        value: Value::default(),
        timeout: i64::MAX,
        idempotency_key_for_create: None,
        idempotency_key_for_complete: None,
        tags: scheduled_promise_tags(&schedule.id, schedule.promise_tags.clone()),
        created_on: i64::MAX,
        completed_on: None,
        sort_id: 0,
    }
}

/// Fires one due tick of `schedule` at `now` and advances it.
fn fire(tx: &mut dyn Tx, schedule: Schedule, now: i64) -> Result<Firing, TxError> {
    let tick = schedule.next_run_time;
    let promise_id = scheduled_promise_id(&schedule, tick);
    let create = CreatePromise {
        id: promise_id.clone(),
        idempotency_key: None,
        strict: false,
        param: schedule.promise_param,
        timeout: tick.saturating_add(schedule.promise_timeout),
        tags: scheduled_promise_tags(&schedule.id, schedule.promise_tags),
    };
    let promise = create.apply(tx, now)?;
    let next = CronSchedule::parse(&schedule.cron)
        .ok()
        .and_then(|cron| cron.next_after(tick))
        .unwrap_or(NEVER);
    tx.advance_schedule(&schedule.id, tick, next)?;
    Ok(Firing { schedule_id: schedule.id, tick, promise_id, promise })
}

impl Operation for FireSchedules {
    type Output = FireReport;

    /// Usually nothing is due: the check then never takes the write lock.
    fn read_attempt(&self) -> Option<Self> {
        Some(*self)
    }

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<FireReport>, TxError> {
        // A schedule with no further tick is never due, even at the end of time.
        let due = tx.due_schedules(now.min(NEVER - 1), self.limit)?;
        let mut fired = Vec::with_capacity(due.len());
        for schedule in due {
            fired.push(fire(tx, schedule, now)?);
        }
        let next_run = tx.next_schedule_run()?;
        Ok(Ok(Success::ok(FireReport { fired, next_run })))
    }
}
