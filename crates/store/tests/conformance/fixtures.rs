//! Shared times, keys and the stored states the create and complete decision tables start from.

use natsapi_core::promise::TIMEOUT_TAG;
use natsapi_core::promises::{CompletePromise, CreatePromise};
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::harness::{Env, complete, create, map, ok, pending, same, timed_out};

/// Every store starts at this absolute time, so deadlines ≥ 10^12 are absolute.
pub const T0: i64 = 1_700_000_000_000;
pub const HOUR: i64 = 3_600_000;
/// The deadline fixtures are created with.
pub const DEADLINE: i64 = T0 + HOUR;
/// When fixtures are completed explicitly.
pub const COMPLETED_AT: i64 = T0 + 1_000;
/// When a table's request runs against a promise that is not due.
pub const ASK_AT: i64 = T0 + 2_000;
/// When fixtures that time out are first touched.
pub const LATE: i64 = DEADLINE + 500;
/// The idempotency key fixtures are created with.
pub const IKC: &str = "ikc";
/// The idempotency key fixtures are completed with.
pub const IKU: &str = "iku";

/// The state a table row finds the promise in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No such promise.
    Absent,
    /// PENDING, created with key IKC, deadline in the future.
    Pending,
    /// PENDING, created without a key.
    PendingNoKey,
    /// PENDING in the store but `now == timeout`: the request times it out first.
    PendingDue,
    /// As `PendingDue`, with `resonate:timeout=true`.
    PendingDueTag,
    /// RESOLVED by a complete with key IKU.
    Resolved,
    /// REJECTED by a complete with key IKU.
    Rejected,
    /// REJECTED_CANCELED by a complete with key IKU.
    Canceled,
    /// REJECTED_TIMEDOUT by its deadline (no completion key).
    TimedOut,
    /// REJECTED_TIMEDOUT by an explicit complete with key IKU.
    TimedOutExplicit,
    /// RESOLVED by its deadline through `resonate:timeout=true` (no completion key).
    ResolvedByTimeout,
}

impl Stored {
    pub fn label(self) -> &'static str {
        match self {
            Stored::Absent => "absent",
            Stored::Pending => "PENDING(ikc)",
            Stored::PendingNoKey => "PENDING(no key)",
            Stored::PendingDue => "PENDING(ikc, due)",
            Stored::PendingDueTag => "PENDING(ikc, due, timeout tag)",
            Stored::Resolved => "RESOLVED(iku)",
            Stored::Rejected => "REJECTED(iku)",
            Stored::Canceled => "REJECTED_CANCELED(iku)",
            Stored::TimedOut => "REJECTED_TIMEDOUT(by deadline)",
            Stored::TimedOutExplicit => "REJECTED_TIMEDOUT(iku, explicit)",
            Stored::ResolvedByTimeout => "RESOLVED(by deadline, timeout tag)",
        }
    }

    fn has_timeout_tag(self) -> bool {
        matches!(self, Stored::PendingDueTag | Stored::ResolvedByTimeout)
    }
}

/// The idempotency key a table row sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// No key.
    Null,
    /// The key the stored promise was created (create table) or completed (complete table) with.
    Match,
    /// Another key.
    Mismatch,
}

impl Key {
    /// The key to send, given the one that would match.
    pub fn send(self, matching: &str) -> Option<String> {
        match self {
            Key::Null => None,
            Key::Match => Some(matching.to_owned()),
            Key::Mismatch => Some(format!("{matching}*")),
        }
    }
}

/// The columns of both decision tables, in order: (key, strict).
pub const COLUMNS: [(Key, bool); 6] = [
    (Key::Null, false),
    (Key::Null, true),
    (Key::Match, false),
    (Key::Match, true),
    (Key::Mismatch, false),
    (Key::Mismatch, true),
];

/// The param fixtures are created with (binary, with a zero byte).
pub fn fixture_param() -> Value {
    Value { headers: map(&[("h", "1")]), data: b"param\0".to_vec() }
}

/// The value fixtures are completed with.
pub fn fixture_value() -> Value {
    Value { headers: map(&[("v", "1")]), data: b"value".to_vec() }
}

/// Puts promise `id` into `stored` and leaves the clock at the time the row's request runs.
/// Returns the promise a read would return at that time (timed out when due), `None` if absent.
pub async fn setup(env: &Env, id: &str, stored: Stored) -> Option<Promise> {
    if stored == Stored::Absent {
        env.clock.set(ASK_AT);
        return None;
    }
    let mut tags = map(&[("t", "1")]);
    if stored.has_timeout_tag() {
        tags.insert(TIMEOUT_TAG.to_owned(), "true".to_owned());
    }
    let ikc = (stored != Stored::PendingNoKey).then(|| IKC.to_owned());
    let op = CreatePromise {
        idempotency_key: ikc.clone(),
        param: fixture_param(),
        tags: tags.clone(),
        ..create(id)
    };
    let created = ok(env.run(op).await, Code::Created);
    let fresh = Promise {
        param: fixture_param(),
        idempotency_key_for_create: ikc,
        tags,
        ..pending(id, T0)
    };
    same(&created, &fresh);

    let explicit = match stored {
        Stored::Resolved => PromiseState::Resolved,
        Stored::Rejected => PromiseState::Rejected,
        Stored::Canceled => PromiseState::RejectedCanceled,
        Stored::TimedOutExplicit => PromiseState::RejectedTimedout,
        Stored::Pending | Stored::PendingNoKey => {
            env.clock.set(ASK_AT);
            return Some(fresh);
        }
        Stored::PendingDue => {
            env.clock.set(DEADLINE);
            return Some(timed_out(&fresh, PromiseState::RejectedTimedout));
        }
        Stored::PendingDueTag => {
            env.clock.set(DEADLINE);
            return Some(timed_out(&fresh, PromiseState::Resolved));
        }
        Stored::TimedOut | Stored::ResolvedByTimeout => {
            env.clock.set(LATE);
            let state = if stored == Stored::TimedOut {
                PromiseState::RejectedTimedout
            } else {
                PromiseState::Resolved
            };
            let expected = timed_out(&fresh, state);
            same(&env.get(id).await, &expected);
            return Some(expected);
        }
        Stored::Absent => unreachable!(),
    };
    env.clock.set(COMPLETED_AT);
    let op = CompletePromise {
        idempotency_key: Some(IKU.to_owned()),
        value: fixture_value(),
        ..complete(id, explicit)
    };
    let completed = ok(env.run(op).await, Code::Created);
    let expected = Promise {
        state: explicit,
        value: fixture_value(),
        idempotency_key_for_complete: Some(IKU.to_owned()),
        completed_on: Some(COMPLETED_AT),
        ..fresh
    };
    same(&completed, &expected);
    env.clock.set(ASK_AT);
    Some(expected)
}
