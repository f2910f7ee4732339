//! The complete decision table (spec §6; durable-promise spec rows 5–16, 21–32, 39–50 and the
//! resolve/reject/cancel rows of every completed state), plus its boundary cases.

use natsapi_core::promises::CompletePromise;
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::fixtures::{ASK_AT, COLUMNS, DEADLINE, IKU, Key, Stored, T0, setup};
use crate::harness::{
    ALL, Env, complete, create, each, map, ok, pending, refused, same, table, timed_out,
};

/// What a complete answers.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// 201: the promise is now in the requested state.
    Created,
    /// 200 with the stored promise (timed out first when due).
    Replay,
    /// A refusal with this code; the stored promise is unchanged (timed out when due).
    Refused(Code),
}

const C: Want = Want::Created;
const D: Want = Want::Replay;
const N: Want = Want::Refused(Code::PromiseNotFound);
const RES: Want = Want::Refused(Code::AlreadyResolved);
const REJ: Want = Want::Refused(Code::AlreadyRejected);
const CAN: Want = Want::Refused(Code::AlreadyCanceled);
const TMO: Want = Want::Refused(Code::AlreadyTimedOut);

use PromiseState::{
    Rejected as REJECTED, RejectedCanceled as CANCELED, RejectedTimedout as TIMEDOUT,
    Resolved as RESOLVED,
};

/// One row per (stored state, requested state); columns as in [`COLUMNS`]: the complete's key
/// (null, the stored completion key IKU, another key) × strict (false, true).
#[rustfmt::skip]
const TABLE: &[(Stored, PromiseState, [Want; 6])] = &[
    //                                           ⊥,F  ⊥,T  k,F  k,T  k*,F k*,T
    (Stored::Absent,            RESOLVED,       [N,   N,   N,   N,   N,   N  ]),
    (Stored::Absent,            REJECTED,       [N,   N,   N,   N,   N,   N  ]),
    (Stored::Absent,            CANCELED,       [N,   N,   N,   N,   N,   N  ]),
    (Stored::Absent,            TIMEDOUT,       [N,   N,   N,   N,   N,   N  ]),
    (Stored::Pending,           RESOLVED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::Pending,           REJECTED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::Pending,           CANCELED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::Pending,           TIMEDOUT,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::PendingNoKey,      RESOLVED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::PendingNoKey,      REJECTED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::PendingNoKey,      CANCELED,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::PendingNoKey,      TIMEDOUT,       [C,   C,   C,   C,   C,   C  ]),
    (Stored::PendingDue,        RESOLVED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::PendingDue,        REJECTED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::PendingDue,        CANCELED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::PendingDue,        TIMEDOUT,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::PendingDueTag,     RESOLVED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::PendingDueTag,     REJECTED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::PendingDueTag,     CANCELED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::PendingDueTag,     TIMEDOUT,       [RES, RES, RES, RES, RES, RES]),
    (Stored::Resolved,          RESOLVED,       [RES, RES, D,   D,   RES, RES]),
    (Stored::Resolved,          REJECTED,       [RES, RES, D,   RES, RES, RES]),
    (Stored::Resolved,          CANCELED,       [RES, RES, D,   RES, RES, RES]),
    (Stored::Resolved,          TIMEDOUT,       [RES, RES, D,   RES, RES, RES]),
    (Stored::Rejected,          RESOLVED,       [REJ, REJ, D,   REJ, REJ, REJ]),
    (Stored::Rejected,          REJECTED,       [REJ, REJ, D,   D,   REJ, REJ]),
    (Stored::Rejected,          CANCELED,       [REJ, REJ, D,   REJ, REJ, REJ]),
    (Stored::Rejected,          TIMEDOUT,       [REJ, REJ, D,   REJ, REJ, REJ]),
    (Stored::Canceled,          RESOLVED,       [CAN, CAN, D,   CAN, CAN, CAN]),
    (Stored::Canceled,          REJECTED,       [CAN, CAN, D,   CAN, CAN, CAN]),
    (Stored::Canceled,          CANCELED,       [CAN, CAN, D,   D,   CAN, CAN]),
    (Stored::Canceled,          TIMEDOUT,       [CAN, CAN, D,   CAN, CAN, CAN]),
    (Stored::TimedOut,          RESOLVED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOut,          REJECTED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOut,          CANCELED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOut,          TIMEDOUT,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOutExplicit,  RESOLVED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOutExplicit,  REJECTED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOutExplicit,  CANCELED,       [D,   TMO, D,   TMO, D,   TMO]),
    (Stored::TimedOutExplicit,  TIMEDOUT,       [D,   TMO, D,   D,   D,   TMO]),
    (Stored::ResolvedByTimeout, RESOLVED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::ResolvedByTimeout, REJECTED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::ResolvedByTimeout, CANCELED,       [RES, RES, RES, RES, RES, RES]),
    (Stored::ResolvedByTimeout, TIMEDOUT,       [RES, RES, RES, RES, RES, RES]),
];

#[derive(Debug, Clone, Copy)]
struct Row {
    stored: Stored,
    state: PromiseState,
    key: Key,
    strict: bool,
    want: Want,
}

fn rows() -> Vec<(String, Row)> {
    let mut rows = Vec::new();
    for &(stored, state, wants) in TABLE {
        for (&(key, strict), want) in COLUMNS.iter().zip(wants) {
            let name =
                format!("{} <- complete {state} key={key:?} strict={strict}", stored.label());
            rows.push((name, Row { stored, state, key, strict, want }));
        }
    }
    rows
}

fn request_value() -> Value {
    Value { headers: map(&[("req", "1")]), data: vec![0, 1, 2, 0] }
}

async fn run_row(env: Env, row: Row) {
    let before = setup(&env, "p", row.stored).await;
    let op = CompletePromise {
        idempotency_key: row.key.send(IKU),
        strict: row.strict,
        value: request_value(),
        ..complete("p", row.state)
    };
    let reply = env.run(op.clone()).await;
    let after = match row.want {
        Want::Created => {
            let got = ok(reply, Code::Created);
            let expected = Promise {
                state: row.state,
                value: request_value(),
                idempotency_key_for_complete: op.idempotency_key,
                completed_on: Some(ASK_AT),
                ..before.expect("a completion needs a stored promise")
            };
            same(&got, &expected);
            Some(expected)
        }
        Want::Replay => {
            let got = ok(reply, Code::Ok);
            let before = before.expect("a replay needs a stored promise");
            same(&got, &before);
            Some(before)
        }
        Want::Refused(code) => {
            let err = refused(reply, code);
            assert!(err.message.contains("\"p\""), "message names the id: {}", err.message);
            before
        }
    };
    match after {
        Some(after) => same(&env.get("p").await, &after),
        None => {
            refused(env.read("p").await, Code::PromiseNotFound);
        }
    }
}

#[tokio::test]
async fn complete_decision_table() {
    table(ALL, rows(), run_row).await;
}

#[tokio::test]
async fn complete_to_pending_is_a_bad_request() {
    each(ALL, |env| async move {
        ok(env.run(create("p")).await, Code::Created);
        refused(env.run(complete("p", PromiseState::Pending)).await, Code::BadRequest);
        refused(env.run(complete("absent", PromiseState::Pending)).await, Code::BadRequest);
        refused(env.run(complete("", PromiseState::Resolved)).await, Code::BadRequest);
        same(&env.get("p").await, &pending("p", T0));
    })
    .await;
}

#[tokio::test]
async fn complete_one_ms_before_the_deadline_succeeds() {
    each(ALL, |env| async move {
        ok(env.run(create("p")).await, Code::Created);
        env.clock.set(DEADLINE - 1);
        let got = ok(env.run(complete("p", PromiseState::Rejected)).await, Code::Created);
        let expected = Promise {
            state: PromiseState::Rejected,
            completed_on: Some(DEADLINE - 1),
            ..pending("p", T0)
        };
        same(&got, &expected);
        env.clock.set(DEADLINE + 1);
        same(&env.get("p").await, &expected);
    })
    .await;
}

#[tokio::test]
async fn complete_at_the_deadline_finds_the_promise_timed_out() {
    each(ALL, |env| async move {
        for id in ["lenient", "strict"] {
            ok(env.run(create(id)).await, Code::Created);
        }
        env.clock.set(DEADLINE);
        let lenient = ok(env.run(complete("lenient", PromiseState::Resolved)).await, Code::Ok);
        let expected = timed_out(&pending("lenient", T0), TIMEDOUT);
        same(&lenient, &expected);
        assert_eq!(lenient.completed_on, Some(DEADLINE));
        let strict = CompletePromise { strict: true, ..complete("strict", PromiseState::Resolved) };
        refused(env.run(strict).await, Code::AlreadyTimedOut);
        same(&env.get("strict").await, &timed_out(&pending("strict", T0), TIMEDOUT));
    })
    .await;
}
