//! A randomized, model-checked test of promises, callbacks, subscriptions and tasks over NATS, in
//! the style of Resonate's deterministic simulation testing (spec §15.1–§15.2).
//!
//! # Method
//!
//! A seeded RNG drives rounds. In each round, [`CLIENTS`] clients each send ONE random request
//! concurrently and the test waits for every reply; between rounds the test may move the
//! server's manual clock (not at all, a little, exactly onto or just short of a deadline, or
//! far). Within a round the clock stands still, so every request of a round runs at the same
//! `now`.
//!
//! Requests act on a small sliding window of *executions* (partitions). Execution `k` owns the
//! root promise `r<k>` and two leaves `r<k>.a`, `r<k>.b`, and every task and callback that can
//! only involve those three ids: `__invoke:<p>`, `__resume:<root>:<leaf>` and
//! `__notify:<p>:<s0|s1>`. The requests are `promises.create`, `promises.createtask` (the invoke
//! task CLAIMED at once), `promises.complete`, `promises.read`, `promises.callback` (a leaf and
//! a root of the same execution, `recv: nats://model.workers`), `promises.subscribe`
//! (`recv: nats://model.watchers`), `tasks.claim` / `tasks.complete` / `tasks.drop` on any of
//! those task ids, and `tasks.heartbeat` for a worker process.
//!
//! The reference model ([`Part`]) is written from the spec text (§4–§6, §8, §9), not from the
//! server code: per execution, its three promises, its callbacks and subscriptions not fired
//! yet, and its tasks (ready (INIT/ENQUEUED, which no request tells apart), claimed (by which
//! process), or done (COMPLETED/TIMEDOUT, which no request tells apart either), with counter and
//! deadline). Completing a promise, explicitly or by timeout, completes the live tasks whose root
//! it is and turns its callbacks and subscriptions into INIT tasks with counter 1 (§8). Given a
//! state, a request and `now`, [`Part::step`] returns the one reply the spec allows and the next
//! state.
//!
//! The server also acts on its own, and the model allows every such step before every request
//! ([`Part::views`], the closure of [`Part::background`]): a due promise times out; a task past
//! its deadline times out (the server's `tasks.claim` also does that on touch and answers 40306,
//! where §9.5 alone would let the claim through: both are accepted); a ready invoke or resume task
//! whose root is no longer pending is completed without delivery (§9.3, v0.7.20); a ready notify
//! task is completed as it is sent. Delivering a ready task (INIT → ENQUEUED) changes nothing a
//! request can see. Claim leases are a day and every task deadline at most 30 s after the request
//! that set it, so no claim window (60 s after delivery) or lease ends before the task's own
//! deadline: the server never revokes a task (counter+1) on its own in this test, and the model
//! leaves that out. A subscription without a timeout gives a notify task no deadline (the spec
//! names none); notify tasks are never ENQUEUED, so no claim window applies to them either.
//!
//! The checker partitions each round's requests by execution, as Resonate's DST partitions by
//! root promise id. The requests of one partition in one round overlap in time and may take
//! effect in any order, so it keeps the SET of model states consistent with the history so far
//! and, per round and partition, walks every order of that partition's requests (a search
//! memoized on (requests done, state)), keeping the states at the end of every order whose
//! expected replies all equal the observed ones. An empty set is a failure, reported with the
//! seed, round, clock, the states before the round, the requests, the replies and what the model
//! expected from each state.
//!
//! After each round the test waits until the server is quiet (nothing due, no delivery in
//! flight, every ENQUEUED task's message received) and reads every promise and task of every
//! tracked execution straight from the store ([`ReadAll`], one write-path transaction). A timer
//! still asleep [`NUDGE_AFTER`] into that wait is woken and counted ("timers woken" in the
//! summary): tasks made by a lazy timeout in `promises.read` / `promises.create` do not wake the
//! task timer, which then finds them on its next wake-up (at most 100 ms later on a real clock,
//! but never on a manual clock that stands still). The model keeps only the states, background steps
//! included, that equal what the store holds, so the state set stays small and the store itself
//! is checked against the spec. `tasks.heartbeat` spans executions: its `tasksAffected` must lie
//! between the CLAIMED tasks of that process that are clearly alive (root pending, task and
//! root deadlines ahead) and all its CLAIMED tasks, over every state an execution may pass
//! through in the round.
//!
//! # Backchannel invariants (§15.2), from the store and from the delivered messages
//!
//! * Never two active tasks (ENQUEUED or CLAIMED, lease and deadline ahead) with the same root,
//!   read through `active_tasks_of_root` for every root after every round. Valid-counter claims
//!   therefore go, as in Resonate's DST, to tasks the test saw delivered, plus the `s0` notify
//!   task of a promise (which is never delivered as a task), so the test itself never claims a
//!   second task of an execution while another is out.
//! * No invoke (or resume) task is delivered for a root that completed before the task was
//!   created (a task first seen in a store read after one that already showed its root done).
//! * A notify message on [`WATCHERS`] carries its promise completed (or pending and past due),
//!   the same as the store holds, and each subscription is notified at most once.
//! * A task id never changes its root promise id, across messages and store reads, and the root
//!   is the one its id names. Task messages come once per (task id, counter), with
//!   `Nats-Msg-Id: <task id>:<counter>`, and invoke tasks only for promises created with the
//!   `resonate:invoke` tag.
//!
//! Not covered: revocations by the server (see above), callbacks without a timeout (their task
//! deadline is the server's choice, the spec names none), callbacks whose root does not exist
//! (the generator always names an existing root), a successful claim of a notify task (the
//! server sends it in the same settling step that makes it), fencing headers, search, schedules
//! and locks.
//!
//! Each run prints its seed, and a failure names it; `MODEL_SEED=<n>` replays a run and
//! `MODEL_ROUNDS=<n>` changes the number of rounds. Every request draws the same count of
//! random numbers whatever the model holds, so a replay makes the same requests as long as the
//! server answers the same (concurrency can change the order requests of a round take effect
//! in). The test runs against the memory store and SQLite.
//!
//! Refusals travel over NATS as an HTTP-style code and a message; the five-digit sub-code
//! (40300–40308) is told apart by the message's wording.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use natsapi_client::Reply;
use natsapi_core::{
    Operation, Promise, Reply as DomainReply, Success, Task, TaskState, Tx, TxError,
};
use natsapi_server::timer::Timer;
use natsapi_store::StoreConfig;
use serde_json::{Value, json};

use common::{Harness, T0};

/// Requests per round, all in flight together.
const CLIENTS: usize = 8;
/// Rounds per run unless `MODEL_ROUNDS` says otherwise.
const ROUNDS: usize = 300;
/// How many executions requests choose from at a time; the window slides now and then.
const LIVE_PARTS: u32 = 3;
/// The subject invoke and resume tasks are delivered on.
const WORKERS: &str = "model.workers";
/// The subject notify messages are delivered on.
const WATCHERS: &str = "model.watchers";
/// The lease a claim (or createtask) asks for: longer than any run, so no lease ends.
const CLAIM_TTL_MS: i64 = 86_400_000;
/// Promise deadlines, ms after the request. All below the 60 s claim window (see the top).
const TIMEOUTS: [i64; 8] = [0, 1, 100, 1_000, 5_000, 30_000, 30_000, 30_000];
/// Callback and subscription deadlines, ms after the request: mostly long enough for the task
/// they become to be delivered.
const CALLBACK_TIMEOUTS: [i64; 5] = [0, 1_000, 5_000, 30_000, 30_000];
/// Idempotency keys: none, or one of two.
const KEYS: [Option<&str>; 3] = [None, Some("k1"), Some("k2")];
/// Worker processes: claims and createtask use the first two; heartbeats any (`w3` holds none).
const PROCESSES: [&str; 3] = ["w1", "w2", "w3"];
/// Subscriber ids.
const SUBSCRIBERS: [&str; 2] = ["s0", "s1"];
/// The promises of an execution: the root and two leaves.
const SUFFIXES: [&str; 3] = ["", ".a", ".b"];
/// Random numbers each request draws.
const DRAWS: usize = 20;
/// How long the server may stay busy after a round before its timers are woken.
const NUDGE_AFTER: Duration = Duration::from_millis(200);
/// How long the server may stay busy after a round at all.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

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

/// [`DRAWS`] numbers taken from the RNG at once, so that a request draws the same count whatever
/// branch it takes.
struct Draws {
    values: [u64; DRAWS],
    used: usize,
}

impl Draws {
    fn new(rng: &mut Rng) -> Self {
        let mut values = [0; DRAWS];
        for value in &mut values {
            *value = rng.next();
        }
        Draws { values, used: 0 }
    }

    fn next(&mut self) -> u64 {
        let value = self.values[self.used % DRAWS];
        self.used += 1;
        value
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
// Ids

/// Promise `i` (0: the root, 1 and 2: the leaves) of execution `part`.
fn promise_id(part: u32, i: u8) -> String {
    format!("r{part}{}", SUFFIXES[usize::from(i)])
}

fn parse_promise_id(id: &str) -> Option<(u32, u8)> {
    let rest = id.strip_prefix('r')?;
    let (number, i) = match rest.split_once('.') {
        None => (rest, 0),
        Some((number, "a")) => (number, 1),
        Some((number, "b")) => (number, 2),
        Some(_) => return None,
    };
    Some((number.parse().ok()?, i))
}

/// A task of an execution, by what made it (spec §8, §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TaskKey {
    /// `__invoke:<p>`: made with promise `p`.
    Invoke(u8),
    /// `__resume:<root>:<leaf>`: made by a callback when `leaf` completes.
    Resume { root: u8, leaf: u8 },
    /// `__notify:<promise>:<sub>`: made by a subscription when `promise` completes.
    Notify { promise: u8, sub: u8 },
}

impl TaskKey {
    /// Every task an execution can have.
    fn all() -> Vec<TaskKey> {
        let mut keys = Vec::new();
        for a in 0..3 {
            keys.push(TaskKey::Invoke(a));
            for b in 0..3 {
                if a != b {
                    keys.push(TaskKey::Resume { root: a, leaf: b });
                }
            }
            for sub in 0..SUBSCRIBERS.len() as u8 {
                keys.push(TaskKey::Notify { promise: a, sub });
            }
        }
        keys
    }

    /// The promise of the execution it belongs to (its `rootPromiseId`).
    fn root(self) -> u8 {
        match self {
            TaskKey::Invoke(p) => p,
            TaskKey::Resume { root, .. } => root,
            TaskKey::Notify { promise, .. } => promise,
        }
    }

    /// The promise whose completion turns its callback into it.
    fn waits_on(self) -> Option<u8> {
        match self {
            TaskKey::Invoke(_) => None,
            TaskKey::Resume { leaf, .. } => Some(leaf),
            TaskKey::Notify { promise, .. } => Some(promise),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            TaskKey::Invoke(_) => "invoke",
            TaskKey::Resume { .. } => "resume",
            TaskKey::Notify { .. } => "notify",
        }
    }

    fn id(self, part: u32) -> String {
        match self {
            TaskKey::Invoke(p) => format!("__invoke:{}", promise_id(part, p)),
            TaskKey::Resume { root, leaf } => {
                format!("__resume:{}:{}", promise_id(part, root), promise_id(part, leaf))
            }
            TaskKey::Notify { promise, sub } => {
                format!("__notify:{}:{}", promise_id(part, promise), SUBSCRIBERS[usize::from(sub)])
            }
        }
    }

    fn parse(id: &str) -> Option<(u32, TaskKey)> {
        let mut fields = id.split(':');
        let (kind, first, second) = (fields.next()?, fields.next()?, fields.next());
        if fields.next().is_some() {
            return None;
        }
        let (part, a) = parse_promise_id(first)?;
        let key = match (kind, second) {
            ("__invoke", None) => TaskKey::Invoke(a),
            ("__resume", Some(leaf)) => {
                let (leaf_part, b) = parse_promise_id(leaf)?;
                if leaf_part != part || a == b {
                    return None;
                }
                TaskKey::Resume { root: a, leaf: b }
            }
            ("__notify", Some(sub)) => {
                let sub = SUBSCRIBERS.iter().position(|s| *s == sub)?;
                TaskKey::Notify { promise: a, sub: sub as u8 }
            }
            _ => return None,
        };
        Some((part, key))
    }
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

/// One client request. Promises are named by execution and index (see [`promise_id`]), tasks
/// by execution and [`TaskKey`]. Deadlines are absolute (epoch ms), as spec §2 has them.
#[derive(Debug, Clone)]
enum Op {
    Create {
        part: u32,
        i: u8,
        key: Option<&'static str>,
        strict: bool,
        timeout: i64,
        /// `resonate:timeout: "true"`.
        sleep: bool,
        /// `resonate:invoke: "nats://model.workers"`.
        invoke: bool,
    },
    CreateTask {
        part: u32,
        i: u8,
        key: Option<&'static str>,
        strict: bool,
        timeout: i64,
        sleep: bool,
        invoke: bool,
        process: &'static str,
    },
    Complete {
        part: u32,
        i: u8,
        state: PState,
        key: Option<&'static str>,
        strict: bool,
    },
    Read {
        part: u32,
        i: u8,
    },
    Callback {
        part: u32,
        leaf: u8,
        root: u8,
        timeout: i64,
    },
    Subscribe {
        part: u32,
        promise: u8,
        sub: u8,
        timeout: Option<i64>,
    },
    Claim {
        part: u32,
        task: TaskKey,
        counter: i64,
        process: &'static str,
    },
    TaskComplete {
        part: u32,
        task: TaskKey,
        counter: i64,
    },
    TaskDrop {
        part: u32,
        task: TaskKey,
        counter: i64,
    },
    Heartbeat {
        process: &'static str,
    },
}

/// What the generator aims task requests and callbacks at, taken from the model and the
/// deliveries before a round.
#[derive(Default)]
struct Candidates {
    /// Tasks delivered on [`WORKERS`] at the counter the model still holds them live at.
    delivered: Vec<(u32, TaskKey, i64)>,
    /// Tasks live (ready or claimed) in some model state, with their highest counter.
    live: Vec<(u32, TaskKey, i64)>,
    /// Tasks in some model state, live or done, with their highest counter.
    known: Vec<(u32, TaskKey, i64)>,
    /// Promises that exist in every model state of their execution.
    present: BTreeSet<(u32, u8)>,
    /// Promises pending in some model state.
    pending: BTreeSet<(u32, u8)>,
}

impl Op {
    /// The execution it acts on; none for a heartbeat.
    fn part(&self) -> Option<u32> {
        match *self {
            Op::Create { part, .. }
            | Op::CreateTask { part, .. }
            | Op::Complete { part, .. }
            | Op::Read { part, .. }
            | Op::Callback { part, .. }
            | Op::Subscribe { part, .. }
            | Op::Claim { part, .. }
            | Op::TaskComplete { part, .. }
            | Op::TaskDrop { part, .. } => Some(part),
            Op::Heartbeat { .. } => None,
        }
    }

    /// The operation's name (with the task kind for task requests), for the coverage summary.
    fn label(&self) -> String {
        let name = self.request().0;
        match self {
            Op::Claim { task, .. } | Op::TaskComplete { task, .. } | Op::TaskDrop { task, .. } => {
                format!("{name}[{}]", task.kind())
            }
            _ => name.to_owned(),
        }
    }

    /// A random request on the executions `base..base + LIVE_PARTS` at `now`.
    fn random(rng: &mut Rng, base: u32, now: i64, c: &Candidates) -> Op {
        let mut d = Draws::new(rng);
        let kind = d.below(100);
        let part = base + d.below(u64::from(LIVE_PARTS)) as u32;
        let i = d.below(3) as u8;
        let key = d.pick(&KEYS);
        let strict = d.percent(50);
        let state = d.pick(&[PState::Resolved, PState::Rejected, PState::Canceled]);
        // Roots mostly outlive their leaves, so that resume tasks find them pending.
        let (picked, long_root) = (d.pick(&TIMEOUTS), d.percent(75));
        let timeout = now + if i == 0 && long_root { 30_000 } else { picked };
        let sleep = d.percent(30);
        let tagged = d.below(100);
        let process = d.pick(&PROCESSES[..2]);
        let source = d.below(100);
        let which = d.next();
        let off = d.pick(&[-1, 1]);
        let keep = d.percent(80);
        let other = d.below(100);
        let aim = d.next();
        let deadline = now + d.pick(&CALLBACK_TIMEOUTS);
        match kind {
            0..13 => Op::Create { part, i, key, strict, timeout, sleep, invoke: tagged < 60 },
            13..17 => Op::CreateTask {
                part,
                i,
                key,
                strict,
                timeout,
                sleep,
                invoke: tagged < 90,
                process,
            },
            17..27 => Op::Complete { part, i, state, key, strict },
            27..32 => Op::Read { part, i },
            32..44 => callback(c, base, part, i, [other, which, aim], deadline),
            44..50 => {
                let pending: Vec<u8> = (0..3).filter(|j| c.pending.contains(&(part, *j))).collect();
                let promise = if other < 70 && !pending.is_empty() {
                    pending[(aim % pending.len() as u64) as usize]
                } else {
                    i
                };
                Op::Subscribe {
                    part,
                    promise,
                    sub: (which % SUBSCRIBERS.len() as u64) as u8,
                    timeout: other.is_multiple_of(2).then_some(deadline),
                }
            }
            50..72 => {
                let (part, task, counter) = target(c, true, part, source, which, off, keep);
                Op::Claim { part, task, counter, process }
            }
            72..84 => {
                let (part, task, counter) = target(c, false, part, source, which, off, keep);
                Op::TaskComplete { part, task, counter }
            }
            84..96 => {
                let (part, task, counter) = target(c, false, part, source, which, off, keep);
                Op::TaskDrop { part, task, counter }
            }
            _ => Op::Heartbeat { process: PROCESSES[(which % PROCESSES.len() as u64) as usize] },
        }
    }

    /// The operation name and payload.
    fn request(&self) -> (&'static str, Value) {
        let create = |part, i, key: Option<&str>, strict, timeout, sleep, invoke| {
            let mut tags = serde_json::Map::new();
            if sleep {
                tags.insert("resonate:timeout".into(), json!("true"));
            }
            if invoke {
                tags.insert("resonate:invoke".into(), json!(format!("nats://{WORKERS}")));
            }
            let mut payload = json!({
                "id": promise_id(part, i), "timeout": timeout, "strict": strict, "tags": tags,
            });
            if let Some(key) = key {
                payload["idempotencyKey"] = json!(key);
            }
            payload
        };
        match *self {
            Op::Create { part, i, key, strict, timeout, sleep, invoke } => {
                ("promises.create", create(part, i, key, strict, timeout, sleep, invoke))
            }
            Op::CreateTask { part, i, key, strict, timeout, sleep, invoke, process } => {
                let mut payload = create(part, i, key, strict, timeout, sleep, invoke);
                payload["taskProcessId"] = json!(process);
                payload["taskTtl"] = json!(CLAIM_TTL_MS);
                ("promises.createtask", payload)
            }
            Op::Complete { part, i, state, key, strict } => {
                let mut payload =
                    json!({"id": promise_id(part, i), "state": state.name(), "strict": strict});
                if let Some(key) = key {
                    payload["idempotencyKey"] = json!(key);
                }
                ("promises.complete", payload)
            }
            Op::Read { part, i } => ("promises.read", json!({"id": promise_id(part, i)})),
            Op::Callback { part, leaf, root, timeout } => (
                "promises.callback",
                json!({"promiseId": promise_id(part, leaf), "rootPromiseId": promise_id(part, root),
                       "recv": format!("nats://{WORKERS}"), "timeout": timeout}),
            ),
            Op::Subscribe { part, promise, sub, timeout } => {
                let mut payload = json!({"promiseId": promise_id(part, promise),
                    "id": SUBSCRIBERS[usize::from(sub)], "recv": format!("nats://{WATCHERS}")});
                if let Some(timeout) = timeout {
                    payload["timeout"] = json!(timeout);
                }
                ("promises.subscribe", payload)
            }
            Op::Claim { part, task, counter, process } => (
                "tasks.claim",
                json!({"id": task.id(part), "counter": counter, "processId": process,
                       "ttl": CLAIM_TTL_MS}),
            ),
            Op::TaskComplete { part, task, counter } => {
                ("tasks.complete", json!({"id": task.id(part), "counter": counter}))
            }
            Op::TaskDrop { part, task, counter } => {
                ("tasks.drop", json!({"id": task.id(part), "counter": counter}))
            }
            Op::Heartbeat { process } => ("tasks.heartbeat", json!({"processId": process})),
        }
    }
}

/// A callback on a leaf and a root of one execution. The root exists in every model state (a
/// real execution's root always does, see the top). Mostly a pending leaf and a pending root
/// (so the resume task can be delivered), from the first execution of the window, starting at
/// `part`, that has such a pair; 1 in 10 names the root as its own leaf (400).
fn callback(c: &Candidates, base: u32, part: u32, i: u8, draws: [u64; 3], deadline: i64) -> Op {
    let [other, which, aim] = draws;
    let ids = |part: u32, set: &BTreeSet<(u32, u8)>| -> Vec<u8> {
        (0..3).filter(|j| set.contains(&(part, *j))).collect()
    };
    // (root, leaf) pairs with the root present and the leaf pending, pending roots first.
    let pairs = |part: u32| -> Vec<(u8, u8)> {
        let pending = ids(part, &c.pending);
        let mut pairs: Vec<(bool, u8, u8)> = ids(part, &c.present)
            .into_iter()
            .flat_map(|root| {
                let pending_root = pending.contains(&root);
                pending.iter().filter(move |l| **l != root).map(move |l| (!pending_root, root, *l))
            })
            .collect();
        pairs.sort_unstable();
        let best = pairs.first().map(|p| p.0);
        let keep = |p: &&(bool, u8, u8)| other >= 70 || Some(p.0) == best;
        pairs.iter().filter(keep).map(|(_, root, leaf)| (*root, *leaf)).collect()
    };
    let window = (0..LIVE_PARTS).map(|n| base + (part - base + n) % LIVE_PARTS);
    if aim % 10 != 0
        && let Some((part, pairs)) = window.map(|p| (p, pairs(p))).find(|(_, p)| !p.is_empty())
    {
        let (root, leaf) = pairs[(which % pairs.len() as u64) as usize];
        return Op::Callback { part, leaf, root, timeout: deadline };
    }
    let window = (0..LIVE_PARTS).map(|n| base + (part - base + n) % LIVE_PARTS);
    let Some((part, roots)) =
        window.map(|p| (p, ids(p, &c.present))).find(|(_, roots)| !roots.is_empty())
    else {
        // No promise exists anywhere yet: a callback on itself (400), as any other root could
        // be created by a request of this round.
        return Op::Callback { part, leaf: i, root: i, timeout: deadline };
    };
    let root = roots[(which % roots.len() as u64) as usize];
    let leaf = if aim % 10 == 0 { root } else { (root + 1 + i % 2) % 3 };
    Op::Callback { part, leaf, root, timeout: deadline }
}

/// The task a task request goes to, and its counter: mostly a delivered task at its delivered
/// counter (sometimes one below, DST style), else a live task of the model, else any task id of
/// execution `part`. A claim uses a valid counter only for a delivered task or a notify task of
/// subscriber `s0` (see the top), so the test never makes two active tasks of one root itself.
fn target(
    c: &Candidates,
    claim: bool,
    part: u32,
    source: u64,
    which: u64,
    off: i64,
    keep: bool,
) -> (u32, TaskKey, i64) {
    let nth = |len: usize| (which % len as u64) as usize;
    if source < 55 && !c.delivered.is_empty() {
        let (part, task, counter) = c.delivered[nth(c.delivered.len())];
        return (part, task, if keep { counter } else { counter - 1 });
    }
    if source < 90 && !c.live.is_empty() {
        let (part, task, counter) = c.live[nth(c.live.len())];
        let may_claim = matches!(task, TaskKey::Notify { sub: 0, .. });
        let valid = keep && (!claim || may_claim);
        return (part, task, if valid { counter } else { counter + off });
    }
    if source < 97 && !c.known.is_empty() {
        let (part, task, counter) = c.known[nth(c.known.len())];
        return (part, task, if claim { counter + off } else { counter });
    }
    let keys = TaskKey::all();
    (part, keys[nth(keys.len())], if claim { 0 } else { 1 })
}

// ----------------------------------------------------------------------------------------------
// Replies, as the checker compares them

/// A refusal, by five-digit code (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// 40000.
    BadRequest,
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
    /// createtask success, with the new task's counter and process.
    PromiseTask {
        status: u16,
        promise: SeenPromise,
        task: Option<(i64, Option<String>)>,
    },
    /// callback / subscribe success, with the new registration's id and deadline.
    Registered {
        status: u16,
        promise: SeenPromise,
        callback: Option<(String, i64)>,
    },
    /// claim success (201): the task kind and the states of its root and (resume) leaf.
    Claimed {
        kind: String,
        root: Option<PState>,
        leaf: Option<PState>,
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
    /// tasks.heartbeat success.
    Affected(i64),
    Refused(Refusal),
    /// Anything the model never predicts (bad shapes, other errors).
    Other(String),
}

fn refusal(code: u16, message: &str) -> Option<Refusal> {
    let kind = match code {
        400 => Refusal::BadRequest,
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

/// A stored promise as the checker compares it.
fn stored_promise(p: &Promise) -> SeenPromise {
    SeenPromise {
        state: PState::parse(p.state.name()).expect("a known state"),
        timeout: p.timeout,
        key_create: p.idempotency_key_for_create.clone(),
        key_complete: p.idempotency_key_for_complete.clone(),
        sleep: p.tags.get("resonate:timeout").map(String::as_str) == Some("true"),
        invoke: p.tags.contains_key("resonate:invoke"),
        created_on: p.created_on,
        completed_on: p.completed_on,
    }
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
        Op::CreateTask { .. } => body.and_then(|b| {
            let promise = seen_promise(b.get("promise")?)?;
            let task = match b.get("task") {
                None | Some(Value::Null) => None,
                Some(t) => Some((
                    t.get("counter")?.as_i64()?,
                    t.get("processId").and_then(Value::as_str).map(str::to_owned),
                )),
            };
            Some(Seen::PromiseTask { status, promise, task })
        }),
        Op::Callback { .. } | Op::Subscribe { .. } => body.and_then(|b| {
            let promise = seen_promise(b.get("promise")?)?;
            let callback = match b.get("callback") {
                None | Some(Value::Null) => None,
                Some(c) => Some((c.get("id")?.as_str()?.to_owned(), c.get("timeout")?.as_i64()?)),
            };
            Some(Seen::Registered { status, promise, callback })
        }),
        Op::Claim { .. } => body.filter(|_| status == 201).and_then(|b| {
            let state =
                |pointer: &str| b.pointer(pointer).and_then(Value::as_str).and_then(PState::parse);
            Some(Seen::Claimed {
                kind: b.get("type")?.as_str()?.to_owned(),
                root: state("/promises/root/data/state"),
                leaf: state("/promises/leaf/data/state"),
            })
        }),
        Op::TaskComplete { .. } => body
            .and_then(|b| b.get("counter"))
            .and_then(Value::as_i64)
            .map(|counter| Seen::TaskDone { status, counter }),
        Op::TaskDrop { .. } => Some(Seen::Dropped { status }),
        Op::Heartbeat { .. } => {
            body.and_then(|b| b.get("tasksAffected")).and_then(Value::as_i64).map(Seen::Affected)
        }
    };
    seen.unwrap_or_else(other)
}

impl Seen {
    /// The reply's kind, for the coverage summary.
    fn kind(&self) -> String {
        match self {
            Seen::Promise { status, promise } => format!("{status} {}", promise.state.name()),
            Seen::PromiseTask { status, promise, task } => format!(
                "{status} {}{}",
                promise.state.name(),
                if task.is_some() { " +task" } else { "" }
            ),
            Seen::Registered { status, callback, .. } => {
                format!("{status}{}", if callback.is_some() { "" } else { " null" })
            }
            Seen::Claimed { .. } => "201".into(),
            Seen::TaskDone { status, .. } | Seen::Dropped { status } => status.to_string(),
            Seen::Affected(n) => format!("200 n={}", (*n).min(2)),
            Seen::Refused(refusal) => format!("{refusal:?}"),
            Seen::Other(_) => "other".into(),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The reference model (spec §4–§6, §8, §9)

/// Task states as requests can tell them apart (spec §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TState {
    /// INIT or ENQUEUED.
    Ready,
    Claimed,
    /// COMPLETED or TIMEDOUT.
    Done,
}

impl TState {
    fn of(state: TaskState) -> TState {
        match state {
            TaskState::Init | TaskState::Enqueued => TState::Ready,
            TaskState::Claimed => TState::Claimed,
            TaskState::Completed | TaskState::Timedout => TState::Done,
        }
    }
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
    /// The claiming process, while claimed.
    process: Option<&'static str>,
    /// Absolute deadline.
    timeout: i64,
}

/// One partition of the model: an execution's promises, pending callbacks and tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Part {
    promises: [Option<MPromise>; 3],
    /// Callbacks and subscriptions waiting on a pending promise, keyed by the task they become,
    /// with that task's deadline.
    waiting: BTreeMap<TaskKey, i64>,
    tasks: BTreeMap<TaskKey, MTask>,
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
    fn promise(&self, i: u8) -> Option<&MPromise> {
        self.promises[usize::from(i)].as_ref()
    }

    fn pending(&self, i: u8) -> bool {
        self.promise(i).is_some_and(|p| p.state == PState::Pending)
    }

    /// PENDING with `timeout <= now` (spec §4: at `now == timeout` it counts as timed out).
    fn is_due(&self, i: u8, now: i64) -> bool {
        self.promise(i).is_some_and(|p| p.state == PState::Pending && p.timeout <= now)
    }

    /// Stores promise `i` completed as `done` and does what completion does (spec §8): the live
    /// tasks whose root it is are completed, and its callbacks and subscriptions become INIT
    /// tasks with counter 1 (in that order, so its new notify tasks stay live).
    fn complete(&mut self, i: u8, done: MPromise) {
        self.promises[usize::from(i)] = Some(done);
        for (key, task) in &mut self.tasks {
            if key.root() == i && task.state != TState::Done {
                task.state = TState::Done;
                task.process = None;
            }
        }
        let fired: Vec<(TaskKey, i64)> = self
            .waiting
            .iter()
            .filter(|(key, _)| key.waits_on() == Some(i))
            .map(|(key, timeout)| (*key, *timeout))
            .collect();
        for (key, timeout) in fired {
            self.waiting.remove(&key);
            self.tasks.entry(key).or_insert(MTask {
                state: TState::Ready,
                counter: 1,
                process: None,
                timeout,
            });
        }
    }

    /// A timeout completion (spec §4): RESOLVED with the timeout tag, else REJECTED_TIMEDOUT; no
    /// completion key; completedOn is the deadline.
    fn time_out(&mut self, i: u8) {
        if let Some(p) = self.promise(i).filter(|p| p.state == PState::Pending) {
            let state = if p.sleep { PState::Resolved } else { PState::TimedOut };
            let done =
                MPromise { state, key_complete: None, completed_on: Some(p.timeout), ..p.clone() };
            self.complete(i, done);
        }
    }

    /// The lazy timeout of a touch.
    fn settle(&mut self, i: u8, now: i64) {
        if self.is_due(i, now) {
            self.time_out(i);
        }
    }

    /// Every single step the server may take on its own at `now` (see the top).
    fn background(&self, now: i64) -> Vec<Part> {
        let mut steps = Vec::new();
        for i in 0..3 {
            if self.is_due(i, now) {
                let mut next = self.clone();
                next.time_out(i);
                steps.push(next);
            }
        }
        for (key, task) in &self.tasks {
            let ends = task.state != TState::Done
                && (task.timeout <= now
                    || (task.state == TState::Ready
                        && (matches!(key, TaskKey::Notify { .. }) || !self.pending(key.root()))));
            if ends {
                let mut next = self.clone();
                let task = next.tasks.get_mut(key).expect("the task is there");
                task.state = TState::Done;
                task.process = None;
                steps.push(next);
            }
        }
        steps
    }

    /// The states the server may hold at `now`: this one and every one the background steps
    /// lead to.
    fn views(&self, now: i64) -> Vec<Part> {
        let mut seen = HashSet::from([self.clone()]);
        let mut queue = vec![self.clone()];
        while let Some(part) = queue.pop() {
            for next in part.background(now) {
                if seen.insert(next.clone()) {
                    queue.push(next);
                }
            }
        }
        seen.into_iter().collect()
    }

    /// Nothing left to happen without a request: no pending promise, no live task.
    fn quiet(&self) -> bool {
        !(0..3).any(|i| self.pending(i)) && self.tasks.values().all(|t| t.state == TState::Done)
    }

    /// The CLAIMED tasks of `process`: how many are clearly alive (task and root deadlines
    /// ahead, root pending; leases never end here), and how many in all.
    fn held(&self, process: &str, now: i64) -> (usize, usize) {
        let mut held = (0, 0);
        for (key, task) in &self.tasks {
            if task.state == TState::Claimed && task.process == Some(process) {
                held.1 += 1;
                let root = self.promise(key.root());
                if task.timeout > now
                    && root.is_some_and(|r| r.state == PState::Pending && r.timeout > now)
                {
                    held.0 += 1;
                }
            }
        }
        held
    }

    /// Whether this state is what the store holds.
    fn matches(&self, stored: &PartSnap) -> bool {
        let promises_match = (0..3).all(|i| {
            self.promise(i).map(MPromise::seen)
                == stored.promises[usize::from(i)].as_ref().map(stored_promise)
        });
        promises_match
            && self.tasks.len() == stored.tasks.len()
            && self.tasks.iter().all(|(key, task)| {
                stored.tasks.get(key).is_some_and(|s| {
                    TState::of(s.state) == task.state
                        && s.counter == task.counter
                        && s.timeout == task.timeout
                        && (task.state != TState::Claimed
                            || s.process_id.as_deref() == task.process)
                })
            })
    }

    /// Create (spec §5) or createtask (§5.1, with `claim` naming the process): absent → PENDING
    /// (even with a deadline already due) with its invoke task when tagged, INIT, or CLAIMED by
    /// `claim`; present → lazy timeout, then 200 on a replay, else 409.
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        i: u8,
        key: Option<&'static str>,
        strict: bool,
        timeout: i64,
        sleep: bool,
        invoke: bool,
        now: i64,
        claim: Option<&'static str>,
    ) -> Result<(u16, SeenPromise, Option<MTask>), Refusal> {
        if self.promise(i).is_none() {
            let promise = MPromise {
                state: PState::Pending,
                key_create: key,
                key_complete: None,
                timeout,
                sleep,
                invoke,
                created_on: now,
                completed_on: None,
            };
            let seen = promise.seen();
            self.promises[usize::from(i)] = Some(promise);
            let task = invoke.then_some(MTask {
                state: if claim.is_some() { TState::Claimed } else { TState::Ready },
                counter: 1,
                process: claim,
                timeout,
            });
            if let Some(task) = task {
                self.tasks.insert(TaskKey::Invoke(i), task);
            }
            return Ok((201, seen, task));
        }
        self.settle(i, now);
        match self.promise(i) {
            Some(p) if (!strict || p.state == PState::Pending) && keys_match(p.key_create, key) => {
                Ok((200, p.seen(), None))
            }
            _ => Err(Refusal::Exists),
        }
    }

    /// Callback or subscription (spec §8): 404 when the promise is absent; 200 without a
    /// registration when it is completed (no lazy timeout: an overdue pending promise still
    /// takes it) or the registration exists; else 201.
    fn register(&mut self, part: u32, on: u8, key: TaskKey, timeout: i64) -> Seen {
        let Some(p) = self.promise(on) else { return Seen::Refused(Refusal::NotFound) };
        let promise = p.seen();
        if p.state != PState::Pending || self.waiting.contains_key(&key) {
            return Seen::Registered { status: 200, promise, callback: None };
        }
        self.waiting.insert(key, timeout);
        Seen::Registered { status: 201, promise, callback: Some((key.id(part), timeout)) }
    }

    /// The reply the spec allows for `op` at `now`, and the next state.
    fn step(&self, op: &Op, now: i64) -> (Seen, Part) {
        let mut next = self.clone();
        let seen = match *op {
            Op::Create { i, key, strict, timeout, sleep, invoke, .. } => {
                match next.create(i, key, strict, timeout, sleep, invoke, now, None) {
                    Ok((status, promise, _)) => Seen::Promise { status, promise },
                    Err(refusal) => Seen::Refused(refusal),
                }
            }
            Op::CreateTask { i, key, strict, timeout, sleep, invoke, process, .. } => {
                match next.create(i, key, strict, timeout, sleep, invoke, now, Some(process)) {
                    Ok((status, promise, task)) => Seen::PromiseTask {
                        status,
                        promise,
                        task: task.map(|t| (t.counter, t.process.map(str::to_owned))),
                    },
                    Err(refusal) => Seen::Refused(refusal),
                }
            }
            // Complete (spec §6): 404; PENDING before its deadline → the requested state, 201;
            // due → timed out first; completed → 200 on a replay, else 403 by state.
            Op::Complete { i, state, key, strict, .. } => match next.promise(i).cloned() {
                None => Seen::Refused(Refusal::NotFound),
                Some(p) if p.state == PState::Pending && now < p.timeout => {
                    let done = MPromise { state, key_complete: key, completed_on: Some(now), ..p };
                    let seen = Seen::Promise { status: 201, promise: done.seen() };
                    next.complete(i, done);
                    seen
                }
                Some(p) if p.state == PState::Pending => {
                    // Due: timed out first; a timeout satisfies only a non-strict complete,
                    // and never when it resolved the promise.
                    next.time_out(i);
                    match next.promise(i) {
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
            Op::Read { i, .. } => {
                next.settle(i, now);
                match next.promise(i) {
                    None => Seen::Refused(Refusal::NotFound),
                    Some(p) => Seen::Promise { status: 200, promise: p.seen() },
                }
            }
            // A resume callback on its own root is refused (spec §8, §15.2).
            Op::Callback { leaf, root, .. } if leaf == root => Seen::Refused(Refusal::BadRequest),
            Op::Callback { part, leaf, root, timeout } => {
                next.register(part, leaf, TaskKey::Resume { root, leaf }, timeout)
            }
            Op::Subscribe { part, promise, sub, timeout } => next.register(
                part,
                promise,
                TaskKey::Notify { promise, sub },
                timeout.unwrap_or(i64::MAX),
            ),
            // Claim (spec §9.5): 404; CLAIMED 40305; COMPLETED/TIMEDOUT 40306; counter 40307;
            // INIT/ENQUEUED → CLAIMED, 201 with the root promise (and the leaf for a resume)
            // as stored.
            Op::Claim { task: key, counter, process, .. } => {
                let root = self.promise(key.root()).map(|p| p.state);
                let leaf = match key {
                    TaskKey::Resume { leaf, .. } => self.promise(leaf).map(|p| p.state),
                    _ => None,
                };
                match next.tasks.get_mut(&key) {
                    None => Seen::Refused(Refusal::NotFound),
                    Some(t) if t.state == TState::Claimed => Seen::Refused(Refusal::TaskClaimed),
                    Some(t) if t.state == TState::Done => Seen::Refused(Refusal::TaskCompleted),
                    Some(t) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                    Some(t) => {
                        t.state = TState::Claimed;
                        t.process = Some(process);
                        Seen::Claimed { kind: key.kind().to_owned(), root, leaf }
                    }
                }
            }
            // Complete (spec §9.5): 404; COMPLETED/TIMEDOUT 200 (no counter check);
            // INIT/ENQUEUED 40308; counter 40307; CLAIMED → COMPLETED, 201.
            Op::TaskComplete { task: key, counter, .. } => match next.tasks.get_mut(&key) {
                None => Seen::Refused(Refusal::NotFound),
                Some(t) if t.state == TState::Done => {
                    Seen::TaskDone { status: 200, counter: t.counter }
                }
                Some(t) if t.state == TState::Ready => Seen::Refused(Refusal::TaskNotClaimed),
                Some(t) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                Some(t) => {
                    t.state = TState::Done;
                    t.process = None;
                    Seen::TaskDone { status: 201, counter: t.counter }
                }
            },
            // Drop (spec §9.5): 404; INIT/ENQUEUED/COMPLETED/TIMEDOUT 200; counter 40307;
            // CLAIMED → INIT with counter+1, 201.
            Op::TaskDrop { task: key, counter, .. } => match next.tasks.get_mut(&key) {
                None => Seen::Refused(Refusal::NotFound),
                Some(t) if t.state != TState::Claimed => Seen::Dropped { status: 200 },
                Some(t) if t.counter != counter => Seen::Refused(Refusal::TaskCounter),
                Some(t) => {
                    t.state = TState::Ready;
                    t.counter += 1;
                    t.process = None;
                    Seen::Dropped { status: 201 }
                }
            },
            Op::Heartbeat { .. } => Seen::Other("a heartbeat spans executions".into()),
        };
        (seen, next)
    }
}

// ----------------------------------------------------------------------------------------------
// The checker

/// Per worker process, over the states an execution may pass through in a round: the fewest
/// clearly alive claims and the most claims.
#[derive(Debug, Clone, Copy)]
struct Span {
    alive: [usize; PROCESSES.len()],
    claimed: [usize; PROCESSES.len()],
}

impl Span {
    fn empty() -> Self {
        Span { alive: [usize::MAX; PROCESSES.len()], claimed: [0; PROCESSES.len()] }
    }

    fn add(&mut self, part: &Part, now: i64) {
        for (n, process) in PROCESSES.iter().enumerate() {
            let (alive, claimed) = part.held(process, now);
            self.alive[n] = self.alive[n].min(alive);
            self.claimed[n] = self.claimed[n].max(claimed);
        }
    }
}

/// The states reachable from any of `start` by running every request of `history` once, in
/// some order, with each step's expected reply equal to the observed one. Every state met on
/// the way, background steps included, goes into `span`.
fn explore(
    start: &HashSet<Part>,
    history: &[(Op, Seen)],
    now: i64,
    span: &mut Span,
) -> HashSet<Part> {
    let all = (1u32 << history.len()) - 1;
    let mut views: HashMap<Part, Vec<Part>> = HashMap::new();
    let mut visited: HashSet<(u32, Part)> = HashSet::new();
    let mut stack: Vec<(u32, Part)> = start.iter().map(|p| (0, p.clone())).collect();
    let mut end = HashSet::new();
    while let Some((done, part)) = stack.pop() {
        if !visited.insert((done, part.clone())) {
            continue;
        }
        let now_views = views.entry(part.clone()).or_insert_with(|| part.views(now)).clone();
        for view in &now_views {
            span.add(view, now);
        }
        if done == all {
            end.insert(part);
            continue;
        }
        for (i, (op, observed)) in history.iter().enumerate() {
            if done & (1 << i) != 0 {
                continue;
            }
            for view in &now_views {
                let (expected, next) = view.step(op, now);
                if expected == *observed {
                    stack.push((done | (1 << i), next));
                }
            }
        }
    }
    end
}

/// The model: per execution, every state consistent with the history so far.
#[derive(Default)]
struct Checker {
    parts: BTreeMap<u32, HashSet<Part>>,
}

impl Checker {
    /// Starts tracking the executions of the window.
    fn open(&mut self, parts: std::ops::Range<u32>) {
        for part in parts {
            self.parts.entry(part).or_insert_with(|| HashSet::from([Part::default()]));
        }
    }

    /// Checks one round's requests and replies at `now`; explains a mismatch.
    fn round(&mut self, now: i64, history: &[(Op, Seen)]) -> Result<(), String> {
        let mut by_part: BTreeMap<u32, Vec<(Op, Seen)>> = BTreeMap::new();
        let mut heartbeats = Vec::new();
        for (op, seen) in history {
            match (op, op.part()) {
                (_, Some(part)) => {
                    by_part.entry(part).or_default().push((op.clone(), seen.clone()))
                }
                (Op::Heartbeat { process }, None) => heartbeats.push((*process, seen.clone())),
                (_, None) => unreachable!("only heartbeats span executions"),
            }
        }
        for part in by_part.keys() {
            self.parts.entry(*part).or_insert_with(|| HashSet::from([Part::default()]));
        }
        let mut total = Span { alive: [0; PROCESSES.len()], claimed: [0; PROCESSES.len()] };
        for (part, states) in &mut self.parts {
            let mut span = Span::empty();
            match by_part.get(part) {
                Some(requests) => {
                    let next = explore(states, requests, now, &mut span);
                    if next.is_empty() {
                        return Err(explain(*part, states, requests, now));
                    }
                    *states = next;
                }
                None => {
                    for state in states.iter() {
                        for view in state.views(now) {
                            span.add(&view, now);
                        }
                    }
                }
            }
            for n in 0..PROCESSES.len() {
                total.alive[n] += span.alive[n];
                total.claimed[n] += span.claimed[n];
            }
        }
        for (process, seen) in heartbeats {
            let n = PROCESSES.iter().position(|p| *p == process).expect("a known process");
            let (low, high) = (total.alive[n], total.claimed[n]);
            match seen {
                Seen::Affected(count) if (low as i64..=high as i64).contains(&count) => {}
                seen => {
                    return Err(format!(
                        "tasks.heartbeat {{processId: {process}}} at now = T0 + {} ms answered \
                         {seen:?}; the model allows tasksAffected in {low}..={high} (claims \
                         clearly alive ..= all claims of {process})",
                        now - T0
                    ));
                }
            }
        }
        Ok(())
    }

    /// Keeps the states (background steps included) that equal what the store holds at `now`.
    fn observe(&mut self, now: i64, snapshot: &Snapshot) -> Result<(), String> {
        for (part, states) in &mut self.parts {
            let Some(stored) = snapshot.parts.get(part) else { continue };
            let next: HashSet<Part> = states
                .iter()
                .flat_map(|state| state.views(now))
                .filter(|view| view.matches(stored))
                .collect();
            if next.is_empty() {
                let mut text = format!(
                    "the store holds, for execution r{part} at now = T0 + {} ms, a state no \
                     model state leads to\nstore:\n{}model states ({}):\n",
                    now - T0,
                    stored.describe(*part),
                    states.len()
                );
                for state in states.iter() {
                    let _ = writeln!(text, "  {state:?}");
                }
                return Err(text);
            }
            *states = next;
        }
        Ok(())
    }

    /// Stops tracking executions left of the window that nothing can change any more.
    fn retire(&mut self, base: u32) {
        self.parts.retain(|part, states| *part >= base || !states.iter().all(Part::quiet));
    }

    /// What the generator aims at (see [`Candidates`]).
    fn candidates(&self, monitor: &Monitor) -> Candidates {
        let mut c = Candidates::default();
        let mut live: BTreeMap<(u32, TaskKey), i64> = BTreeMap::new();
        let mut known: BTreeMap<(u32, TaskKey), i64> = BTreeMap::new();
        for (part, states) in &self.parts {
            for state in states {
                for (key, task) in &state.tasks {
                    let counter = known.entry((*part, *key)).or_insert(task.counter);
                    *counter = (*counter).max(task.counter);
                    if task.state != TState::Done {
                        let counter = live.entry((*part, *key)).or_insert(task.counter);
                        *counter = (*counter).max(task.counter);
                    }
                }
            }
            for i in 0..3 {
                if states.iter().all(|s| s.promise(i).is_some()) {
                    c.present.insert((*part, i));
                }
                if states.iter().any(|s| s.pending(i)) {
                    c.pending.insert((*part, i));
                }
            }
        }
        c.live = live.iter().map(|((part, key), counter)| (*part, *key, *counter)).collect();
        c.known = known.iter().map(|((part, key), counter)| (*part, *key, *counter)).collect();
        for (id, counter) in &monitor.latest {
            let Some((part, key)) = TaskKey::parse(id) else { continue };
            let live_there = self.parts.get(&part).is_some_and(|states| {
                states.iter().any(|s| {
                    s.tasks
                        .get(&key)
                        .is_some_and(|t| t.state != TState::Done && t.counter == *counter)
                })
            });
            if live_there {
                c.delivered.push((part, key, *counter));
            }
        }
        c.delivered.sort_unstable();
        c
    }

    /// The deadlines of promises PENDING and tasks live in some state, earliest first.
    fn deadlines(&self) -> Vec<i64> {
        let mut deadlines: Vec<i64> = Vec::new();
        for state in self.parts.values().flatten() {
            for p in state.promises.iter().flatten() {
                if p.state == PState::Pending {
                    deadlines.push(p.timeout);
                }
            }
            for task in state.tasks.values() {
                if task.state != TState::Done && task.timeout != i64::MAX {
                    deadlines.push(task.timeout);
                }
            }
        }
        deadlines.sort_unstable();
        deadlines.dedup();
        deadlines
    }
}

fn explain(part: u32, states: &HashSet<Part>, requests: &[(Op, Seen)], now: i64) -> String {
    let mut text = format!(
        "no order of the requests on execution r{part} at now = T0 + {} ms matches the replies\n",
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
// The store, read directly

/// One execution as the store holds it.
#[derive(Debug, Default)]
struct PartSnap {
    promises: [Option<Promise>; 3],
    /// By the task ids an execution can have.
    tasks: BTreeMap<TaskKey, Task>,
    /// `active_tasks_of_root` of each of the three promises: every live task whose root it is,
    /// whatever its id.
    active: [Vec<Task>; 3],
}

impl PartSnap {
    fn describe(&self, part: u32) -> String {
        let mut text = String::new();
        for (i, promise) in self.promises.iter().enumerate() {
            if let Some(p) = promise {
                let _ = writeln!(text, "  {} {:?}", promise_id(part, i as u8), stored_promise(p));
            }
        }
        for task in self.tasks.values() {
            let _ = writeln!(
                text,
                "  {} {:?} counter {} process {:?} timeout T0{:+} expiresAt {} root {}",
                task.id,
                task.state,
                task.counter,
                task.process_id,
                task.timeout.saturating_sub(T0),
                task.expires_at,
                task.root_promise_id
            );
        }
        text
    }
}

/// Every tracked execution as the store holds it, and what background work is still to do.
#[derive(Debug)]
struct Snapshot {
    parts: BTreeMap<u32, PartSnap>,
    busy: Vec<String>,
}

/// Reads the promises and tasks of `parts`, and whether the server has work due.
#[derive(Clone)]
struct ReadAll {
    parts: Vec<u32>,
}

impl Operation for ReadAll {
    type Output = Snapshot;

    // No read attempt: PostgreSQL's read path runs each statement on its own (it serves reads
    // of one query), and this read must see one state; the writer runs it as one transaction.
    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<DomainReply<Snapshot>, TxError> {
        let mut parts = BTreeMap::new();
        let mut busy = Vec::new();
        for part in self.parts {
            let mut stored = PartSnap::default();
            for i in 0..3u8 {
                let id = promise_id(part, i);
                stored.promises[usize::from(i)] = tx.promise(&id)?;
                stored.active[usize::from(i)] = tx.active_tasks_of_root(&id)?;
            }
            for key in TaskKey::all() {
                if let Some(task) = tx.task(&key.id(part))? {
                    // Picked for delivery, not yet recorded as delivered.
                    if task.state == TaskState::Init && task.attempt == 0 && task.expires_at > now {
                        busy.push(format!("delivery of {} in flight", task.id));
                    }
                    stored.tasks.insert(key, task);
                }
            }
            parts.insert(part, stored);
        }
        if !tx.due_promises(now, 1)?.is_empty() {
            busy.push("a promise is due".into());
        }
        if !tx.deliverable_tasks(now, 1)?.is_empty() {
            busy.push("a task is due for delivery".into());
        }
        if !tx.expired_tasks(now, 1)?.is_empty() {
            busy.push("a task's window or deadline passed".into());
        }
        Ok(Ok(Success::ok(Snapshot { parts, busy })))
    }
}

/// Waits until the server has nothing due and every ENQUEUED task's message has arrived, then
/// returns what the store holds. Timers still asleep after [`NUDGE_AFTER`] are woken once and
/// the reasons counted in `nudges`.
async fn settle(
    h: &Harness,
    inbox: &Inbox,
    parts: Vec<u32>,
    nudges: &mut BTreeMap<String, usize>,
) -> Result<Snapshot, String> {
    let started = Instant::now();
    let mut nudged = false;
    loop {
        let snapshot = h
            .server()
            .api()
            .store()
            .run(ReadAll { parts: parts.clone() })
            .await
            .expect("the store answers")
            .expect("the read succeeds")
            .value;
        let mut busy = snapshot.busy.clone();
        {
            let inbox = inbox.lock().expect("inbox lock");
            let ids: HashSet<&str> = inbox.iter().filter_map(|m| m.msg_id.as_deref()).collect();
            for task in snapshot.parts.values().flat_map(|p| p.tasks.values()) {
                let msg_id = format!("{}:{}", task.id, task.counter);
                if task.state == TaskState::Enqueued && !ids.contains(msg_id.as_str()) {
                    busy.push(format!("the message of ENQUEUED {msg_id} has not arrived"));
                }
            }
        }
        if busy.is_empty() {
            return Ok(snapshot);
        }
        if !nudged && started.elapsed() > NUDGE_AFTER {
            nudged = true;
            for reason in &busy {
                let reason = reason.split(['_', '(']).next().unwrap_or(reason).trim_end();
                *nudges.entry(reason.to_owned()).or_default() += 1;
            }
            let api = h.server().api();
            api.announce(Timer::Tasks, 0);
            api.announce(Timer::PromiseTimeouts, 0);
        }
        if started.elapsed() > SETTLE_LIMIT {
            return Err(format!(
                "the server did not settle within {SETTLE_LIMIT:?}: {}",
                busy.join("; ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The §15.2 invariants read from the store: at most one active task per root, and every task
/// with the root its id names (and kept, in `roots`).
fn check_store(
    snapshot: &Snapshot,
    now: i64,
    roots: &mut HashMap<String, String>,
) -> Result<(), String> {
    for (part, stored) in &snapshot.parts {
        for (i, live) in stored.active.iter().enumerate() {
            let root = promise_id(*part, i as u8);
            let active: Vec<&Task> = live
                .iter()
                .filter(|t| matches!(t.state, TaskState::Enqueued | TaskState::Claimed))
                .filter(|t| (t.expires_at == 0 || t.expires_at > now) && t.timeout > now)
                .collect();
            if active.len() > 1 {
                let ids: Vec<String> =
                    active.iter().map(|t| format!("{} {:?}", t.id, t.state)).collect();
                return Err(format!(
                    "two active tasks for root {root} at now = T0 + {} ms: {}\nstore:\n{}",
                    now - T0,
                    ids.join(", "),
                    stored.describe(*part)
                ));
            }
            for task in live {
                if TaskKey::parse(&task.id)
                    .is_none_or(|(p, key)| p != *part || key.root() as usize != i)
                {
                    return Err(format!("root {root} has an unexpected live task {task:?}"));
                }
            }
        }
        for (key, task) in &stored.tasks {
            let root = promise_id(*part, key.root());
            if task.root_promise_id != root {
                return Err(format!(
                    "task {} has root {} in the store",
                    task.id, task.root_promise_id
                ));
            }
            same_root(roots, &task.id, &root)?;
        }
    }
    Ok(())
}

/// A task id keeps its root promise id.
fn same_root(roots: &mut HashMap<String, String>, id: &str, root: &str) -> Result<(), String> {
    let known = roots.entry(id.to_owned()).or_insert_with(|| root.to_owned());
    if known != root {
        return Err(format!("task {id} had root {known} and now has root {root}"));
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Delivered messages (spec §15.2 backchannel invariants)

/// A message delivered on [`WORKERS`] or [`WATCHERS`].
struct Delivery {
    subject: String,
    msg_id: Option<String>,
    body: Value,
}

type Inbox = Arc<Mutex<Vec<Delivery>>>;

/// What the messages and store reads so far showed.
#[derive(Default)]
struct Monitor {
    /// Messages checked so far.
    checked: usize,
    /// `<task id>:<counter>` of every task message.
    delivered: HashSet<String>,
    /// Subscriptions notified.
    notified: HashSet<String>,
    /// The root promise id of every task id seen.
    roots: HashMap<String, String>,
    /// Promises created with the invoke tag.
    invoked: HashSet<String>,
    /// The round whose store read first showed each task.
    created_round: HashMap<String, usize>,
    /// The round whose store read first showed each promise completed.
    done_round: HashMap<String, usize>,
    /// The latest counter each task was delivered at, for the generator.
    latest: BTreeMap<String, i64>,
    /// Messages by kind.
    counts: BTreeMap<&'static str, usize>,
}

impl Monitor {
    fn record(&mut self, round: usize, snapshot: &Snapshot) {
        for (part, stored) in &snapshot.parts {
            for (i, promise) in stored.promises.iter().enumerate() {
                if promise.as_ref().is_some_and(|p| p.state.name() != PState::Pending.name()) {
                    self.done_round.entry(promise_id(*part, i as u8)).or_insert(round);
                }
            }
            for task in stored.tasks.values() {
                self.created_round.entry(task.id.clone()).or_insert(round);
            }
        }
    }

    /// Checks the messages that arrived since the last call.
    fn check(&mut self, inbox: &Inbox, now: i64, snapshot: &Snapshot) -> Result<(), String> {
        let messages = inbox.lock().expect("inbox lock");
        for message in &messages[self.checked..] {
            if message.subject == WORKERS {
                self.check_task(message)?;
            } else {
                self.check_notify(message, now, snapshot)?;
            }
        }
        self.checked = messages.len();
        Ok(())
    }

    /// An invoke or resume message: its id names a task of that kind and root, it comes once
    /// per counter with that message id, an invoke only for a promise tagged for it, and never
    /// for a root that completed before the task was created.
    fn check_task(&mut self, message: &Delivery) -> Result<(), String> {
        let body = &message.body;
        let task = &body["task"];
        let (Some(id), Some(counter), Some(root)) =
            (task["id"].as_str(), task["counter"].as_i64(), task["rootPromiseId"].as_str())
        else {
            return Err(format!("a task message without id/counter/rootPromiseId: {body}"));
        };
        let Some((part, key)) = TaskKey::parse(id) else {
            return Err(format!("a message for a task the test never made: {body}"));
        };
        if body["type"].as_str() != Some(key.kind()) || matches!(key, TaskKey::Notify { .. }) {
            return Err(format!("task {id} came on {WORKERS} as {body}"));
        }
        if root != promise_id(part, key.root()) {
            return Err(format!("task {id} came with rootPromiseId {root}"));
        }
        same_root(&mut self.roots, id, root)?;
        let expected = format!("{id}:{counter}");
        if message.msg_id.as_deref() != Some(expected.as_str()) {
            return Err(format!(
                "task {id} counter {counter} came with Nats-Msg-Id {:?}",
                message.msg_id
            ));
        }
        if !self.delivered.insert(expected.clone()) {
            return Err(format!("task message {expected} was delivered twice"));
        }
        if matches!(key, TaskKey::Invoke(_)) && !self.invoked.contains(root) {
            return Err(format!(
                "task {id} was delivered, but no promise {root} was created with the \
                 resonate:invoke tag"
            ));
        }
        if let (Some(created), Some(done)) = (self.created_round.get(id), self.done_round.get(root))
            && created > done
        {
            return Err(format!(
                "task {id} (counter {counter}) was delivered, but its root {root} was already \
                 completed in the store read of round {done}, before the task existed (round \
                 {created})"
            ));
        }
        let latest = self.latest.entry(id.to_owned()).or_insert(counter);
        *latest = (*latest).max(counter);
        *self.counts.entry(key.kind()).or_default() += 1;
        Ok(())
    }

    /// A notify message: its subscription's promise, completed (or pending and past due) as the
    /// store holds it, once per subscription.
    fn check_notify(
        &mut self,
        message: &Delivery,
        now: i64,
        snapshot: &Snapshot,
    ) -> Result<(), String> {
        let body = &message.body;
        let task_id = message.msg_id.as_deref().and_then(|m| m.rsplit_once(':')).map(|(t, _)| t);
        let Some((task_id, (part, key))) =
            task_id.and_then(|t| TaskKey::parse(t).map(|parsed| (t, parsed)))
        else {
            return Err(format!("a notify with Nats-Msg-Id {:?}: {body}", message.msg_id));
        };
        let TaskKey::Notify { promise, .. } = key else {
            return Err(format!("task {task_id} came on {WATCHERS}: {body}"));
        };
        let id = promise_id(part, promise);
        let seen = seen_promise(&body["promise"]);
        if body["type"] != "notify" || body["promise"]["id"].as_str() != Some(id.as_str()) {
            return Err(format!("subscription {task_id} was notified with {body}"));
        }
        let Some(seen) = seen else {
            return Err(format!("subscription {task_id} was notified with {body}"));
        };
        if seen.state == PState::Pending && seen.timeout > now {
            return Err(format!(
                "subscription {task_id} was notified of a promise pending and not yet due: {body}"
            ));
        }
        if !self.notified.insert(task_id.to_owned()) {
            return Err(format!("subscription {task_id} was notified twice: {body}"));
        }
        same_root(&mut self.roots, task_id, &id)?;
        let stored = snapshot
            .parts
            .get(&part)
            .and_then(|s| s.promises[usize::from(promise)].as_ref())
            .map(stored_promise);
        if let Some(stored) = stored.filter(|s| s.state != PState::Pending)
            && stored != seen
        {
            return Err(format!(
                "subscription {task_id} was notified with {seen:?}, but the store holds {stored:?}"
            ));
        }
        *self.counts.entry("notify").or_default() += 1;
        Ok(())
    }
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

fn failed(label: &str, seed: u64, round: usize, history: &[(Op, Seen)], why: String) -> ! {
    let mut requests = String::new();
    for (op, seen) in history {
        let _ = writeln!(requests, "  {op:?}\n    -> {seen:?}");
    }
    panic!(
        "model test ({label}) failed: MODEL_SEED={seed}, round {round}\n{why}\nthe round's \
         requests:\n{requests}"
    )
}

async fn run(store: StoreConfig, label: &str) {
    let seed = seed();
    let rounds = rounds();
    println!("model test ({label}): MODEL_SEED={seed} MODEL_ROUNDS={rounds}");
    let started = Instant::now();
    let h = Harness::start_with(store).await;
    let nats = h.client.nats().clone();
    let workers = nats.subscribe(WORKERS).await.expect("subscribe to the workers");
    let watchers = nats.subscribe(WATCHERS).await.expect("subscribe to the watchers");
    nats.flush().await.expect("flush the subscriptions");
    let inbox: Inbox = Arc::default();
    let collector = {
        let inbox = inbox.clone();
        let mut messages = futures::stream::select(workers, watchers);
        tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                let msg_id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.as_str().to_owned());
                let body = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
                let subject = message.subject.to_string();
                inbox.lock().expect("inbox lock").push(Delivery { subject, msg_id, body });
            }
        })
    };

    let mut rng = Rng::new(seed);
    let mut checker = Checker::default();
    let mut monitor = Monitor::default();
    let mut base = 0;
    let mut now = T0;
    let mut coverage: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut nudges: BTreeMap<String, usize> = BTreeMap::new();
    let mut widest = 0;
    let mut history = Vec::new();
    for round in 0..rounds {
        checker.open(base..base + LIVE_PARTS);
        let candidates = checker.candidates(&monitor);
        let ops: Vec<Op> =
            (0..CLIENTS).map(|_| Op::random(&mut rng, base, now, &candidates)).collect();
        let calls = ops.iter().map(|op| {
            let client = h.client.clone();
            let (operation, payload) = op.request();
            async move { client.call(operation, payload).await }
        });
        let replies = futures::future::join_all(calls).await;
        history.clear();
        for (op, reply) in ops.iter().zip(replies) {
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => {
                    let why = format!("{op:?} got no reply: {e}\nthe round sent: {ops:?}");
                    failed(label, seed, round, &history, why)
                }
            };
            let seen = observe(op, &reply);
            if let (
                Op::Create { part, i, invoke: true, .. }
                | Op::CreateTask { part, i, invoke: true, .. },
                Seen::Promise { status: 201, .. } | Seen::PromiseTask { status: 201, .. },
            ) = (op, &seen)
            {
                monitor.invoked.insert(promise_id(*part, *i));
            }
            *coverage.entry((op.label(), seen.kind())).or_default() += 1;
            history.push((op.clone(), seen));
        }
        if let Err(why) = checker.round(now, &history) {
            failed(label, seed, round, &history, why);
        }
        let tracked: Vec<u32> = checker.parts.keys().copied().collect();
        let snapshot = match settle(&h, &inbox, tracked, &mut nudges).await {
            Ok(snapshot) => snapshot,
            Err(why) => failed(label, seed, round, &history, why),
        };
        let checks = checker
            .observe(now, &snapshot)
            .and_then(|()| check_store(&snapshot, now, &mut monitor.roots))
            .and_then(|()| {
                monitor.record(round, &snapshot);
                monitor.check(&inbox, now, &snapshot)
            });
        if let Err(why) = checks {
            failed(label, seed, round, &history, why);
        }
        widest = widest.max(checker.parts.values().map(HashSet::len).max().unwrap_or(0));
        if rng.percent(20) {
            base += 1;
        }
        checker.retire(base);
        let step = advance(&mut rng, now, &checker.deadlines());
        if step > 0 {
            h.time.advance(step);
            now += step;
        }
    }
    // Let deliveries still in flight arrive before the last look.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tracked: Vec<u32> = checker.parts.keys().copied().collect();
    let last = settle(&h, &inbox, tracked, &mut nudges).await;
    let checks = last.and_then(|snapshot| {
        check_store(&snapshot, now, &mut monitor.roots)?;
        monitor.record(rounds, &snapshot);
        monitor.check(&inbox, now, &snapshot)
    });
    if let Err(why) = checks {
        failed(label, seed, rounds, &[], why);
    }
    println!(
        "model test ({label}): {rounds} rounds, {} executions, messages {:?}, clock +{} ms, at \
         most {widest} model states per execution, timers woken after a round {nudges:?}, {:?}",
        base + LIVE_PARTS,
        monitor.counts,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_postgres() {
    let store = common::store::TestStore::of("postgres");
    run(store.config.clone(), "postgres").await;
}
