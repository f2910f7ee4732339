//! A randomized, model-checked test of promises and invoke tasks over NATS, in the style of
//! Resonate's deterministic simulation testing (spec §15.1–§15.2).
//!
//! # Method
//!
//! A seeded RNG drives rounds. In each round, [`CLIENTS`] clients each send ONE random request
//! concurrently and the test waits for every reply; between rounds the test may move the
//! server's manual clock (not at all, a little, exactly onto or just short of a deadline, or
//! far). Within a round the clock stands still, so every request of a round runs at the same
//! `now`. Requests target a small sliding window of promise ids: `promises.create`,
//! `promises.complete`, `promises.read`, and `tasks.claim` / `tasks.complete` / `tasks.drop` on
//! the promise's invoke task `__invoke:<id>`.
//!
//! The reference model ([`Part`]) is written from the spec text (§4–§6, §9.1, §9.5), not from the
//! server code: per id, the promise (absent, or its state, keys, deadline, tags, timestamps) and
//! its invoke task (absent, or ready (INIT/ENQUEUED, which no request tells apart), claimed or
//! done (COMPLETED/TIMEDOUT, which no request tells apart either), and its counter). Given a
//! state, a request and `now`, [`Part::step`] returns the one reply the spec allows (status,
//! refusal kind, and the promise fields in the answer) and the next state.
//!
//! The server also acts on its own: its timer times out due promises (completing their tasks),
//! delivers tasks and times out tasks past their deadline. With the clock moved only between
//! rounds, a promise due at a round's `now` may or may not have been timed out by the timer yet,
//! so before every request [`Part::views`] offers both: as stored, and timed out. A lazy timeout
//! and a background one give the same result, so this only widens what task requests may see
//! (the server's `tasks.claim` also times out a task past its deadline on touch, answering 40306
//! where §9.5 alone would let the claim through: the timed-out view covers that).
//! Claim leases are an hour and promise deadlines at most 30 s after creation, so no claim window
//! (60 s after delivery) or lease ends before the task's own deadline: the timer never revokes a
//! task (counter+1) in this test, and the model leaves that out.
//!
//! The checker partitions each round's requests by promise id. The requests of one partition in
//! one round overlap in time and may take effect in any order, so it keeps the SET of model
//! states consistent with the history so far and, per round and partition, walks every order of
//! that partition's requests (a search memoized on (requests done, state)), keeping the states at
//! the end of every order whose expected replies all equal the observed ones. An empty set is a
//! failure, reported with the seed, round, clock, the states before the round, the requests, the
//! replies and what the model expected from each state.
//!
//! A subscriber on [`WORKERS`] checks two §15.2 invariants on every delivered invoke message:
//! it names the invoke task of a promise that was created with the `resonate:invoke` tag, and
//! at most one message per (task id, counter) is delivered (`Nats-Msg-Id: <task id>:<counter>`).
//!
//! Each run prints its seed, and a failure names it; `MODEL_SEED=<n>` replays a run and
//! `MODEL_ROUNDS=<n>` changes the number of rounds. Task requests mostly go to ids whose task
//! the model holds live, with its counter, and clock moves aim at pending deadlines, so a replay
//! makes the same requests as long as the server answers the same (concurrency can change the
//! order requests of a round take effect in). The test runs against the memory store and SQLite.
//!
//! Refusals travel over NATS as an HTTP-style code and a message; the five-digit sub-code
//! (40300–40308) is told apart by the message's wording.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use natsapi_client::Reply;
use natsapi_store::StoreConfig;
use serde_json::{Value, json};

use common::{Harness, T0};

/// Requests per round, all in flight together.
const CLIENTS: usize = 8;
/// Rounds per run unless `MODEL_ROUNDS` says otherwise.
const ROUNDS: usize = 300;
/// How many ids requests choose from at a time; the window slides now and then.
const LIVE_IDS: u32 = 4;
/// The subject invoke tasks are delivered on.
const WORKERS: &str = "model.workers";
/// The lease a claim asks for: longer than any run, so no lease ends.
const CLAIM_TTL_MS: i64 = 3_600_000;
/// Promise deadlines, ms after creation. All below the 60 s claim window (see the top).
const TIMEOUTS: [i64; 6] = [0, 1, 100, 1_000, 5_000, 30_000];
/// Idempotency keys: none, or one of two.
const KEYS: [Option<&str>; 3] = [None, Some("k1"), Some("k2")];

// ----------------------------------------------------------------------------------------------
// Randomness

/// xorshift64*: small, seedable, good enough to pick requests.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Any seed works; the state must not be zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `MODEL_SEED`, or a fresh seed from the wall clock.
fn seed() -> u64 {
    match std::env::var("MODEL_SEED") {
        Ok(text) => text.trim().parse().expect("MODEL_SEED is an unsigned integer"),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos();
            (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

fn rounds() -> usize {
    std::env::var("MODEL_ROUNDS")
        .map(|text| text.trim().parse().expect("MODEL_ROUNDS is an unsigned integer"))
        .unwrap_or(ROUNDS)
}

// ----------------------------------------------------------------------------------------------
// Requests

/// Promise states (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PState {
    Pending,
    Resolved,
    Rejected,
    Canceled,
    TimedOut,
}

impl PState {
    fn name(self) -> &'static str {
        match self {
            PState::Pending => "PENDING",
            PState::Resolved => "RESOLVED",
            PState::Rejected => "REJECTED",
            PState::Canceled => "REJECTED_CANCELED",
            PState::TimedOut => "REJECTED_TIMEDOUT",
        }
    }

    fn parse(text: &str) -> Option<PState> {
        [PState::Pending, PState::Resolved, PState::Rejected, PState::Canceled, PState::TimedOut]
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(text))
    }
}

/// One client request. `id` is the promise's number (`p<id>`); task requests act on its
/// invoke task `__invoke:p<id>`.
#[derive(Debug, Clone)]
enum Op {
    Create {
        id: u32,
        key: Option<&'static str>,
        strict: bool,
        /// ms after `now`.
        timeout: i64,
        /// `resonate:timeout: "true"`.
        sleep: bool,
        /// `resonate:invoke: "nats://model.workers"`.
        invoke: bool,
    },
    Complete {
        id: u32,
        state: PState,
        key: Option<&'static str>,
        strict: bool,
    },
    Read {
        id: u32,
    },
    Claim {
        id: u32,
        counter: i64,
    },
    TaskComplete {
        id: u32,
        counter: i64,
    },
    TaskDrop {
        id: u32,
        counter: i64,
    },
}

fn promise_id(id: u32) -> String {
    format!("p{id}")
}

fn task_id(id: u32) -> String {
    format!("__invoke:p{id}")
}

impl Op {
    /// The operation's name, for the coverage summary.
    fn name(&self) -> &'static str {
        self.request().0
    }

    fn id(&self) -> u32 {
        match *self {
            Op::Create { id, .. }
            | Op::Complete { id, .. }
            | Op::Read { id }
            | Op::Claim { id, .. }
            | Op::TaskComplete { id, .. }
            | Op::TaskDrop { id, .. } => id,
        }
    }

    /// A random request on the ids `base..base + LIVE_IDS`. `tasks` lists the ids whose invoke
    /// task is live in some model state, with its highest counter: task requests mostly go there,
    /// and mostly with that counter, so claims and drops do succeed now and then.
    ///
    /// Every call draws the same numbers from `rng` whatever `tasks` holds, so the requests of
    /// a replay stay in step with the original as far as the model does.
    fn random(rng: &mut Rng, base: u32, tasks: &[(u32, i64)]) -> Op {
        let kind = rng.below(100);
        let mut id = base + rng.below(u64::from(LIVE_IDS)) as u32;
        let mut counter = rng.pick(&[1, 1, 2, 3]);
        let (to_live_task, which_task, same_counter) =
            (rng.percent(80), rng.next(), rng.percent(75));
        let (key, strict, state) = (
            rng.pick(&KEYS),
            rng.percent(50),
            rng.pick(&[PState::Resolved, PState::Rejected, PState::Canceled]),
        );
        let (timeout, sleep, invoke) = (rng.pick(&TIMEOUTS), rng.percent(30), rng.percent(70));
        if kind >= 40 && to_live_task && !tasks.is_empty() {
            let (task, current) = tasks[(which_task % tasks.len() as u64) as usize];
            id = task;
            if same_counter {
                counter = current;
            }
        }
        match kind {
            0..20 => Op::Create { id, key, strict, timeout, sleep, invoke },
            20..32 => Op::Complete { id, state, key, strict },
            32..40 => Op::Read { id },
            40..70 => Op::Claim { id, counter },
            70..85 => Op::TaskComplete { id, counter },
            _ => Op::TaskDrop { id, counter },
        }
    }

    /// The operation name and payload.
    fn request(&self) -> (&'static str, Value) {
        match *self {
            Op::Create { id, key, strict, timeout, sleep, invoke } => {
                let mut tags = serde_json::Map::new();
                if sleep {
                    tags.insert("resonate:timeout".into(), json!("true"));
                }
                if invoke {
                    tags.insert("resonate:invoke".into(), json!(format!("nats://{WORKERS}")));
                }
                let mut payload = json!({
                    "id": promise_id(id), "timeout": timeout, "strict": strict, "tags": tags,
                });
                if let Some(key) = key {
                    payload["idempotencyKey"] = json!(key);
                }
                ("promises.create", payload)
            }
            Op::Complete { id, state, key, strict } => {
                let mut payload =
                    json!({"id": promise_id(id), "state": state.name(), "strict": strict});
                if let Some(key) = key {
                    payload["idempotencyKey"] = json!(key);
                }
                ("promises.complete", payload)
            }
            Op::Read { id } => ("promises.read", json!({"id": promise_id(id)})),
            Op::Claim { id, counter } => (
                "tasks.claim",
                json!({"id": task_id(id), "counter": counter, "processId": "model-worker",
                       "ttl": CLAIM_TTL_MS}),
            ),
            Op::TaskComplete { id, counter } => {
                ("tasks.complete", json!({"id": task_id(id), "counter": counter}))
            }
            Op::TaskDrop { id, counter } => {
                ("tasks.drop", json!({"id": task_id(id), "counter": counter}))
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Replies, as the checker compares them

/// A refusal, by five-digit code (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// 40400 / 40403.
    NotFound,
    /// 40900.
    Exists,
    /// 40300.
    AlreadyResolved,
    /// 40301.
    AlreadyRejected,
    /// 40302.
    AlreadyCanceled,
    /// 40303.
    AlreadyTimedOut,
    /// 40305.
    TaskClaimed,
    /// 40306.
    TaskCompleted,
    /// 40307.
    TaskCounter,
    /// 40308.
    TaskNotClaimed,
}

/// The promise fields an answer is checked on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenPromise {
    state: PState,
    timeout: i64,
    key_create: Option<String>,
    key_complete: Option<String>,
    sleep: bool,
    invoke: bool,
    created_on: i64,
    completed_on: Option<i64>,
}

/// A reply reduced to what the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// create / complete / read success.
    Promise {
        status: u16,
        promise: SeenPromise,
    },
    /// claim success (201), with the state of the root promise in the answer.
    Claimed {
        root: PState,
    },
    /// tasks.complete success, with the task's counter.
    TaskDone {
        status: u16,
        counter: i64,
    },
    /// tasks.drop success.
    Dropped {
        status: u16,
    },
    Refused(Refusal),
    /// Anything the model never predicts (bad shapes, other errors).
    Other(String),
}

fn refusal(code: u16, message: &str) -> Option<Refusal> {
    let kind = match code {
        404 => Refusal::NotFound,
        409 => Refusal::Exists,
        403 if message.contains("already resolved") => Refusal::AlreadyResolved,
        403 if message.contains("already rejected") => Refusal::AlreadyRejected,
        403 if message.contains("already canceled") => Refusal::AlreadyCanceled,
        403 if message.contains("already timed out") => Refusal::AlreadyTimedOut,
        403 if message.contains("already claimed") => Refusal::TaskClaimed,
        403 if message.contains("already completed") => Refusal::TaskCompleted,
        403 if message.contains("at counter") => Refusal::TaskCounter,
        403 if message.contains("not claimed") => Refusal::TaskNotClaimed,
        _ => return None,
    };
    Some(kind)
}

fn seen_promise(value: &Value) -> Option<SeenPromise> {
    let key = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_owned);
    let tags = value.get("tags");
    let tag = |name: &str| tags.and_then(|t| t.get(name)).and_then(Value::as_str);
    Some(SeenPromise {
        state: PState::parse(value.get("state")?.as_str()?)?,
        timeout: value.get("timeout")?.as_i64()?,
        key_create: key("idempotencyKeyForCreate"),
        key_complete: key("idempotencyKeyForComplete"),
        sleep: tag("resonate:timeout") == Some("true"),
        invoke: tag("resonate:invoke").is_some(),
        created_on: value.get("createdOn")?.as_i64()?,
        completed_on: value.get("completedOn").and_then(Value::as_i64),
    })
}

fn observe(op: &Op, reply: &Reply) -> Seen {
    let other = || Seen::Other(format!("{reply:?}"));
    if !reply.success {
        return match &reply.error {
            Some(e) => refusal(e.code, &e.message).map_or_else(other, Seen::Refused),
            None => other(),
        };
    }
    let status = reply.status.unwrap_or(0);
    let body = reply.response.as_ref();
    let seen = match op {
        Op::Create { .. } | Op::Complete { .. } | Op::Read { .. } => {
            body.and_then(seen_promise).map(|promise| Seen::Promise { status, promise })
        }
        Op::Claim { .. } => body
            .and_then(|b| b.pointer("/promises/root/data/state"))
            .and_then(Value::as_str)
            .and_then(PState::parse)
            .filter(|_| status == 201)
            .map(|root| Seen::Claimed { root }),
        Op::TaskComplete { .. } => body
            .and_then(|b| b.get("counter"))
            .and_then(Value::as_i64)
            .map(|counter| Seen::TaskDone { status, counter }),
        Op::TaskDrop { .. } => Some(Seen::Dropped { status }),
    };
    seen.unwrap_or_else(other)
}

impl Seen {
    /// The reply's kind, for the coverage summary.
    fn kind(&self) -> String {
        match self {
            Seen::Promise { status, promise } => format!("{status} {}", promise.state.name()),
            Seen::Claimed { .. } => "201".into(),
            Seen::TaskDone { status, .. } | Seen::Dropped { status } => status.to_string(),
            Seen::Refused(refusal) => format!("{refusal:?}"),
            Seen::Other(_) => "other".into(),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The reference model (spec §4–§6, §9.5)

/// Task states as requests can tell them apart (spec §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TState {
    /// INIT or ENQUEUED.
    Ready,
    Claimed,
    /// COMPLETED or TIMEDOUT.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MPromise {
    state: PState,
    key_create: Option<&'static str>,
    key_complete: Option<&'static str>,
    /// Absolute deadline.
    timeout: i64,
    sleep: bool,
    invoke: bool,
    created_on: i64,
    completed_on: Option<i64>,
}

impl MPromise {
    fn seen(&self) -> SeenPromise {
        SeenPromise {
            state: self.state,
            timeout: self.timeout,
            key_create: self.key_create.map(str::to_owned),
            key_complete: self.key_complete.map(str::to_owned),
            sleep: self.sleep,
            invoke: self.invoke,
            created_on: self.created_on,
            completed_on: self.completed_on,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MTask {
    state: TState,
    counter: i64,
}

/// One partition of the model: a promise id and its invoke task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Part {
    promise: Option<MPromise>,
    task: Option<MTask>,
}

/// Both keys present and equal (spec §5, §6).
fn keys_match(stored: Option<&str>, requested: Option<&str>) -> bool {
    stored.is_some() && stored == requested
}

fn already(state: PState) -> Refusal {
    match state {
        PState::Resolved => Refusal::AlreadyResolved,
        PState::Rejected => Refusal::AlreadyRejected,
        PState::Canceled => Refusal::AlreadyCanceled,
        PState::TimedOut | PState::Pending => Refusal::AlreadyTimedOut,
    }
}

impl Part {
    /// PENDING with `timeout <= now` (spec §4: at `now == timeout` it counts as timed out).
    fn is_due(&self, now: i64) -> bool {
        self.promise.as_ref().is_some_and(|p| p.state == PState::Pending && p.timeout <= now)
    }

    /// Completing the promise completes its execution's live tasks (spec §8 (2)).
    fn end_task(&mut self) {
        if let Some(task) = &mut self.task {
            task.state = TState::Done;
        }
    }

    /// A timeout completion (spec §4): RESOLVED with the timeout tag, else REJECTED_TIMEDOUT; no
    /// completion key; completedOn is the deadline.
    fn time_out(&mut self) {
        if let Some(p) = &mut self.promise {
            p.state = if p.sleep { PState::Resolved } else { PState::TimedOut };
            p.key_complete = None;
            p.completed_on = Some(p.timeout);
        }
        self.end_task();
    }

    /// The lazy timeout of a touch.
    fn settle(&mut self, now: i64) {
        if self.is_due(now) {
            self.time_out();
        }
    }

    /// The states the server may hold at `now`: as the model has it and, when the promise is
    /// due, also timed out by the background timer.
    fn views(&self, now: i64) -> Vec<Part> {
        let mut views = vec![self.clone()];
        if self.is_due(now) {
            let mut timed_out = self.clone();
            timed_out.time_out();
            views.push(timed_out);
        }
        views
    }

    /// The reply the spec allows for `op` at `now`, and the next state.
    fn step(&self, op: &Op, now: i64) -> (Seen, Part) {
        let mut next = self.clone();
        let seen = match *op {
            Op::Create { key, strict, timeout, sleep, invoke, .. } => match next.promise {
                // Absent: created PENDING (even with a deadline already due), with its invoke
                // task when tagged (spec §5, §9.2 (a)).
                None => {
                    let promise = MPromise {
                        state: PState::Pending,
                        key_create: key,
                        key_complete: None,
                        timeout: now + timeout,
                        sleep,
                        invoke,
                        created_on: now,
                        completed_on: None,
                    };
                    let seen = Seen::Promise { status: 201, promise: promise.seen() };
                    next.promise = Some(promise);
                    if invoke {
                        next.task = Some(MTask { state: TState::Ready, counter: 1 });
                    }
                    seen
                }
                // Present: lazy timeout, then 200 on a replay, else 409.
                Some(_) => {
                    next.settle(now);
                    match &next.promise {
                        Some(p)
                            if (!strict || p.state == PState::Pending)
                                && keys_match(p.key_create, key) =>
                        {
                            Seen::Promise { status: 200, promise: p.seen() }
                        }
                        _ => Seen::Refused(Refusal::Exists),
                    }
                }
            },
            Op::Complete { state, key, strict, .. } => match next.promise.clone() {
                None => Seen::Refused(Refusal::NotFound),
                Some(p) if p.state == PState::Pending && now < p.timeout => {
                    let done = MPromise { state, key_complete: key, completed_on: Some(now), ..p };
                    let seen = Seen::Promise { status: 201, promise: done.seen() };
                    next.promise = Some(done);
                    next.end_task();
                    seen
                }
                Some(p) if p.state == PState::Pending => {
                    // Due: timed out first; a timeout satisfies only a non-strict complete,
                    // and never when it resolved the promise.
                    next.time_out();
                    match &next.promise {
                        Some(p) if p.state == PState::Resolved => {
                            Seen::Refused(Refusal::AlreadyResolved)
                        }
                        Some(_) if strict => Seen::Refused(Refusal::AlreadyTimedOut),
                        Some(p) => Seen::Promise { status: 200, promise: p.seen() },
                        None => Seen::Other("the model lost the promise".into()),
                    }
                }
                Some(p) => {
                    let replay = (keys_match(p.key_complete, key) && (!strict || p.state == state))
                        || (!strict && p.state == PState::TimedOut);
                    if replay {
                        Seen::Promise { status: 200, promise: p.seen() }
                    } else {
                        Seen::Refused(already(p.state))
                    }
                }
            },
            Op::Read { .. } => {
                next.settle(now);
                match &next.promise {
                    None => Seen::Refused(Refusal::NotFound),
                    Some(p) => Seen::Promise { status: 200, promise: p.seen() },
                }
            }
            // Claim (spec §9.5): 404; CLAIMED 40305; COMPLETED/TIMEDOUT 40306; counter 40307;
            // INIT/ENQUEUED → CLAIMED, 201 with the root promise as stored.
            Op::Claim { counter, .. } => match (&mut next.task, &next.promise) {
                (None, _) => Seen::Refused(Refusal::NotFound),
                (Some(t), _) if t.state == TState::Claimed => Seen::Refused(Refusal::TaskClaimed),
                (Some(t), _) if t.state == TState::Done => Seen::Refused(Refusal::TaskCompleted),
                (Some(t), _) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                (Some(t), Some(root)) => {
                    t.state = TState::Claimed;
                    Seen::Claimed { root: root.state }
                }
                (Some(_), None) => Seen::Other("the model has a task without a promise".into()),
            },
            // Complete (spec §9.5): 404; COMPLETED/TIMEDOUT 200 (no counter check);
            // INIT/ENQUEUED 40308; counter 40307; CLAIMED → COMPLETED, 201.
            Op::TaskComplete { counter, .. } => match &mut next.task {
                None => Seen::Refused(Refusal::NotFound),
                Some(t) if t.state == TState::Done => {
                    Seen::TaskDone { status: 200, counter: t.counter }
                }
                Some(t) if t.state == TState::Ready => Seen::Refused(Refusal::TaskNotClaimed),
                Some(t) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                Some(t) => {
                    t.state = TState::Done;
                    Seen::TaskDone { status: 201, counter: t.counter }
                }
            },
            // Drop (spec §9.5): 404; INIT/ENQUEUED/COMPLETED/TIMEDOUT 200; counter 40307;
            // CLAIMED → INIT with counter+1, 201.
            Op::TaskDrop { counter, .. } => match &mut next.task {
                None => Seen::Refused(Refusal::NotFound),
                Some(t) if t.state != TState::Claimed => Seen::Dropped { status: 200 },
                Some(t) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                Some(t) => {
                    t.state = TState::Ready;
                    t.counter += 1;
                    Seen::Dropped { status: 201 }
                }
            },
        };
        (seen, next)
    }
}

// ----------------------------------------------------------------------------------------------
// The checker

/// The states reachable from any of `start` by running every request of `history` once, in
/// some order, with each step's expected reply equal to the observed one.
fn explore(start: &HashSet<Part>, history: &[(Op, Seen)], now: i64) -> HashSet<Part> {
    let all = (1u32 << history.len()) - 1;
    let mut visited: HashSet<(u32, Part)> = HashSet::new();
    let mut stack: Vec<(u32, Part)> = start.iter().map(|p| (0, p.clone())).collect();
    let mut end = HashSet::new();
    while let Some((done, part)) = stack.pop() {
        if !visited.insert((done, part.clone())) {
            continue;
        }
        if done == all {
            end.insert(part);
            continue;
        }
        for (i, (op, observed)) in history.iter().enumerate() {
            if done & (1 << i) != 0 {
                continue;
            }
            for view in part.views(now) {
                let (expected, next) = view.step(op, now);
                if expected == *observed {
                    stack.push((done | (1 << i), next));
                }
            }
        }
    }
    end
}

/// The model: per promise id, every state consistent with the history so far.
#[derive(Default)]
struct Checker {
    parts: HashMap<u32, HashSet<Part>>,
}

impl Checker {
    /// Checks one round's requests and replies at `now`; explains a mismatch.
    fn round(&mut self, now: i64, history: &[(Op, Seen)]) -> Result<(), String> {
        let mut by_id: BTreeMap<u32, Vec<(Op, Seen)>> = BTreeMap::new();
        for (op, seen) in history {
            by_id.entry(op.id()).or_default().push((op.clone(), seen.clone()));
        }
        for (id, requests) in by_id {
            let states = self.parts.entry(id).or_insert_with(|| HashSet::from([Part::default()]));
            let next = explore(states, &requests, now);
            if next.is_empty() {
                return Err(explain(id, states, &requests, now));
            }
            *states = next;
        }
        Ok(())
    }

    /// The ids whose invoke task is live (ready or claimed) in some state, each with its highest
    /// counter.
    fn tasks(&self) -> Vec<(u32, i64)> {
        let mut tasks: Vec<(u32, i64)> = self
            .parts
            .iter()
            .filter_map(|(id, states)| {
                let live = states.iter().filter_map(|part| part.task);
                let live = live.filter(|t| t.state != TState::Done);
                live.map(|t| t.counter).max().map(|c| (*id, c))
            })
            .collect();
        tasks.sort_unstable();
        tasks
    }

    /// The deadlines of promises PENDING in some state, earliest first.
    fn pending_deadlines(&self) -> Vec<i64> {
        let mut deadlines: Vec<i64> = self
            .parts
            .values()
            .flatten()
            .filter_map(|part| part.promise.as_ref())
            .filter(|p| p.state == PState::Pending)
            .map(|p| p.timeout)
            .collect();
        deadlines.sort_unstable();
        deadlines.dedup();
        deadlines
    }
}

fn explain(id: u32, states: &HashSet<Part>, requests: &[(Op, Seen)], now: i64) -> String {
    let mut text = format!(
        "no order of the requests on p{id} at now = T0 + {} ms matches the replies\n",
        now - T0
    );
    let _ = writeln!(text, "model states before the round ({}):", states.len());
    for state in states {
        let _ = writeln!(text, "  {state:?}");
    }
    let _ = writeln!(text, "requests and replies:");
    for (op, seen) in requests {
        let _ = writeln!(text, "  {op:?}\n    observed {seen:?}");
        for state in states {
            for view in state.views(now) {
                let _ =
                    writeln!(text, "    from {view:?}\n      expected {:?}", view.step(op, now).0);
            }
        }
    }
    text
}

// ----------------------------------------------------------------------------------------------
// Delivered invoke messages (spec §15.2 backchannel invariants)

/// Every message delivered on [`WORKERS`]: its `Nats-Msg-Id` and body.
type Inbox = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Checks the messages after `checked`: each names the invoke task of a promise created with
/// the invoke tag, with a matching message id, and no (task id, counter) comes twice.
fn check_deliveries(
    inbox: &Inbox,
    checked: &mut usize,
    ids: &mut HashSet<String>,
    invoked: &HashSet<u32>,
) -> Result<(), String> {
    let messages = inbox.lock().expect("inbox lock");
    for (msg_id, body) in &messages[*checked..] {
        let task = &body["task"];
        let (Some(id), Some(counter), Some(root)) =
            (task["id"].as_str(), task["counter"].as_i64(), task["rootPromiseId"].as_str())
        else {
            return Err(format!("a task message without id/counter/rootPromiseId: {body}"));
        };
        if body["type"] != "invoke" {
            return Err(format!("only invoke tasks go to {WORKERS}, got {body}"));
        }
        let number = root.strip_prefix('p').and_then(|n| n.parse::<u32>().ok());
        if id != format!("__invoke:{root}") || !number.is_some_and(|n| invoked.contains(&n)) {
            return Err(format!(
                "task {id} (root {root}) was delivered, but no promise {root} was created with \
                 the resonate:invoke tag"
            ));
        }
        let expected = format!("{id}:{counter}");
        if msg_id.as_deref() != Some(expected.as_str()) {
            return Err(format!("task {id} counter {counter} came with Nats-Msg-Id {msg_id:?}"));
        }
        if !ids.insert(expected.clone()) {
            return Err(format!("task message {expected} was delivered twice"));
        }
    }
    *checked = messages.len();
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// The run

/// How far to move the clock after a round: mostly not at all or a little; sometimes exactly
/// onto a pending deadline or 1 ms short of it; sometimes far.
/// Draws the same numbers from `rng` whatever the deadlines are (see [`Op::random`]).
fn advance(rng: &mut Rng, now: i64, deadlines: &[i64]) -> i64 {
    let ahead: Vec<i64> = deadlines.iter().copied().filter(|d| *d > now).collect();
    let (kind, little, which, far) =
        (rng.below(100), 1 + rng.below(50) as i64, rng.next(), rng.pick(&[100, 500, 1_000]));
    let farther = rng.pick(&[5_000, 31_000]);
    match (kind, ahead.first()) {
        (0..40, _) => 0,
        (40..65, _) => little,
        (65..75, Some(nearest)) => nearest - now,
        (75..85, Some(nearest)) => nearest - now - 1,
        (85..90, Some(_)) => ahead[(which % ahead.len() as u64) as usize] - now,
        (90..97, _) => far,
        _ => farther,
    }
}

fn failed(label: &str, seed: u64, round: usize, why: String) -> ! {
    panic!("model test ({label}) failed: MODEL_SEED={seed}, round {round}\n{why}")
}

async fn run(store: StoreConfig, label: &str) {
    let seed = seed();
    let rounds = rounds();
    println!("model test ({label}): MODEL_SEED={seed} MODEL_ROUNDS={rounds}");
    let started = Instant::now();
    let h = Harness::start_with(store).await;
    let nats = h.client.nats().clone();
    let mut subscription = nats.subscribe(WORKERS).await.expect("subscribe to the workers");
    nats.flush().await.expect("flush the subscription");
    let inbox: Inbox = Arc::default();
    let collector = {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let msg_id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.as_str().to_owned());
                let body = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
                inbox.lock().expect("inbox lock").push((msg_id, body));
            }
        })
    };

    let mut rng = Rng::new(seed);
    let mut checker = Checker::default();
    let mut invoked: HashSet<u32> = HashSet::new();
    let mut delivered: HashSet<String> = HashSet::new();
    let mut checked = 0;
    let mut base = 0;
    let mut now = T0;
    let mut coverage: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut widest = 0;
    for round in 0..rounds {
        let tasks = checker.tasks();
        let ops: Vec<Op> = (0..CLIENTS).map(|_| Op::random(&mut rng, base, &tasks)).collect();
        let calls = ops.iter().map(|op| {
            let client = h.client.clone();
            let (operation, payload) = op.request();
            async move { client.call(operation, payload).await }
        });
        let replies = futures::future::join_all(calls).await;
        let mut history = Vec::with_capacity(ops.len());
        for (op, reply) in ops.iter().zip(replies) {
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => failed(label, seed, round, format!("{op:?} got no reply: {e}")),
            };
            let seen = observe(op, &reply);
            if let (Op::Create { id, invoke: true, .. }, Seen::Promise { status: 201, .. }) =
                (op, &seen)
            {
                invoked.insert(*id);
            }
            *coverage.entry((op.name(), seen.kind())).or_default() += 1;
            history.push((op.clone(), seen));
        }
        if let Err(why) = checker.round(now, &history) {
            failed(label, seed, round, why);
        }
        if let Err(why) = check_deliveries(&inbox, &mut checked, &mut delivered, &invoked) {
            failed(label, seed, round, why);
        }
        widest = widest.max(checker.parts.values().map(HashSet::len).max().unwrap_or(0));
        if rng.percent(20) {
            base += 1;
            checker.parts.retain(|id, _| *id >= base);
        }
        let step = advance(&mut rng, now, &checker.pending_deadlines());
        if step > 0 {
            h.time.advance(step);
            now += step;
        }
    }
    // Let deliveries still in flight arrive before the last look.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Err(why) = check_deliveries(&inbox, &mut checked, &mut delivered, &invoked) {
        failed(label, seed, rounds, why);
    }
    println!(
        "model test ({label}): {rounds} rounds, {} ids, {} invoke messages, clock +{} ms, at \
         most {widest} model states per id, {:?}",
        base + LIVE_IDS,
        delivered.len(),
        now - T0,
        started.elapsed()
    );
    let summary: Vec<String> =
        coverage.iter().map(|((op, kind), n)| format!("{op} {kind}: {n}")).collect();
    println!("model test ({label}) replies: {}", summary.join(", "));
    collector.abort();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_memory() {
    run(StoreConfig::memory(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(StoreConfig::sqlite(dir.path().join("model.db")), "sqlite").await;
}
