//! The create decision table (spec §5; durable-promise spec rows 1–4, 17–20, 33–38 and the
//! create rows of every completed state).

use natsapi_core::promises::CreatePromise;
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::fixtures::{ASK_AT, COLUMNS, DEADLINE, HOUR, IKC, Key, Stored, setup};
use crate::harness::{ALL, Env, create, each, map, ok, refused, same, table};

/// What a create answers.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// 201 with a new PENDING promise.
    Created,
    /// 200 with the stored promise (timed out first when due).
    Replay,
    /// 409 promise already exists.
    Exists,
}

const C: Want = Want::Created;
const D: Want = Want::Replay;
const X: Want = Want::Exists;

/// One row per stored state; columns as in [`COLUMNS`]: the create's key (null, the stored
/// create key, another key) × strict (false, true).
#[rustfmt::skip]
const TABLE: &[(Stored, [Want; 6])] = &[
    //                           ⊥,F ⊥,T k,F k,T k*,F k*,T
    (Stored::Absent,            [C,  C,  C,  C,  C,   C  ]),
    (Stored::Pending,           [X,  X,  D,  D,  X,   X  ]),
    (Stored::PendingNoKey,      [X,  X,  X,  X,  X,   X  ]),
    (Stored::PendingDue,        [X,  X,  D,  X,  X,   X  ]),
    (Stored::PendingDueTag,     [X,  X,  D,  X,  X,   X  ]),
    (Stored::Resolved,          [X,  X,  D,  X,  X,   X  ]),
    (Stored::Rejected,          [X,  X,  D,  X,  X,   X  ]),
    (Stored::Canceled,          [X,  X,  D,  X,  X,   X  ]),
    (Stored::TimedOut,          [X,  X,  D,  X,  X,   X  ]),
    (Stored::TimedOutExplicit,  [X,  X,  D,  X,  X,   X  ]),
    (Stored::ResolvedByTimeout, [X,  X,  D,  X,  X,   X  ]),
];

#[derive(Debug, Clone, Copy)]
struct Row {
    stored: Stored,
    key: Key,
    strict: bool,
    want: Want,
}

fn rows() -> Vec<(String, Row)> {
    let mut rows = Vec::new();
    for &(stored, wants) in TABLE {
        for (&(key, strict), want) in COLUMNS.iter().zip(wants) {
            let name = format!("{} <- create key={key:?} strict={strict}", stored.label());
            rows.push((name, Row { stored, key, strict, want }));
        }
    }
    rows
}

async fn run_row(env: Env, row: Row) {
    let before = setup(&env, "p", row.stored).await;
    // Everything but id and key differs from the fixture: a replay must return what is stored.
    let op = CreatePromise {
        idempotency_key: row.key.send(IKC),
        strict: row.strict,
        param: Value { headers: map(&[("new", "1")]), data: b"other".to_vec() },
        timeout: DEADLINE + HOUR,
        tags: map(&[("n", "1")]),
        ..create("p")
    };
    let reply = env.run(op.clone()).await;
    let after = match row.want {
        Want::Created => {
            let got = ok(reply, Code::Created);
            let expected = Promise {
                id: "p".into(),
                state: PromiseState::Pending,
                param: op.param,
                value: Value::default(),
                timeout: DEADLINE + HOUR,
                idempotency_key_for_create: op.idempotency_key,
                idempotency_key_for_complete: None,
                tags: op.tags,
                created_on: ASK_AT,
                completed_on: None,
                sort_id: 0,
            };
            same(&got, &expected);
            assert!(got.sort_id > 0, "a created promise gets a sort id");
            expected
        }
        Want::Replay => {
            let got = ok(reply, Code::Ok);
            let before = before.expect("a replay needs a stored promise");
            same(&got, &before);
            before
        }
        Want::Exists => {
            let err = refused(reply, Code::PromiseAlreadyExists);
            assert!(err.message.contains("\"p\""), "message names the id: {}", err.message);
            before.expect("a conflict needs a stored promise")
        }
    };
    // The outcome is stored: a later read sees it (a due promise stays timed out).
    same(&env.get("p").await, &after);
}

#[tokio::test]
async fn create_decision_table() {
    table(ALL, rows(), run_row).await;
}

#[tokio::test]
async fn create_with_empty_id_is_a_bad_request() {
    each(ALL, |env| async move {
        refused(env.run(create("")).await, Code::BadRequest);
        refused(env.read("").await, Code::BadRequest);
    })
    .await;
}

#[tokio::test]
async fn ids_of_up_to_1024_bytes_are_kept_and_longer_ones_refused_on_every_store() {
    each(ALL, |env| async move {
        let longest = "i".repeat(natsapi_core::error::MAX_ID_BYTES);
        ok(env.run(create(&longest)).await, Code::Created);
        ok(env.read(&longest).await, Code::Ok);
        let too_long = format!("{longest}i");
        let refusal = refused(env.run(create(&too_long)).await, Code::BadRequest);
        assert!(refusal.message.contains("1024"), "{}", refusal.message);
    })
    .await;
}
