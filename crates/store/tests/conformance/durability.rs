//! Durable backends (SQLite, PostgreSQL): everything acknowledged survives closing and reopening the store.

use natsapi_core::promise::TIMEOUT_TAG;
use natsapi_core::promises::{CompletePromise, CreatePromise, SearchPromises};
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{DURABLE, Env, complete, create, each, map, ok, refused, same, timed_out};

async fn everything(env: &Env) -> Vec<Promise> {
    let search = SearchPromises::new("*".into(), vec![], Default::default(), None).unwrap();
    ok(env.run(search).await, Code::Ok).promises
}

#[tokio::test]
async fn promises_survive_reopening_the_store() {
    each(DURABLE, |env| async move {
        let keyed = CreatePromise {
            idempotency_key: Some("ck".into()),
            param: Value { headers: map(&[("h", "v")]), data: vec![1, 0, 2] },
            tags: map(&[("t", "1")]),
            ..create("keyed")
        };
        ok(env.run(keyed.clone()).await, Code::Created);
        ok(env.run(create("resolved")).await, Code::Created);
        ok(env.run(CreatePromise { timeout: T0 + 10, ..create("soon") }).await, Code::Created);
        let sleep = CreatePromise { tags: map(&[(TIMEOUT_TAG, "true")]), ..create("sleep") };
        ok(env.run(sleep).await, Code::Created);
        env.clock.set(T0 + 5);
        let resolve = CompletePromise {
            idempotency_key: Some("uk".into()),
            value: Value { headers: map(&[]), data: b"done".to_vec() },
            ..complete("resolved", PromiseState::Resolved)
        };
        ok(env.run(resolve.clone()).await, Code::Created);
        env.clock.set(T0 + 10);
        assert_eq!(env.get("soon").await.state, PromiseState::RejectedTimedout);

        let before = everything(&env).await;
        assert_eq!(before.len(), 4);
        let env = env.reopen();
        let after = everything(&env).await;
        assert_eq!(after, before, "same promises, same order, same sort ids");

        // Idempotent replays still recognise their keys after a restart.
        same(&ok(env.run(keyed).await, Code::Ok), &before[3]);
        same(&ok(env.run(resolve).await, Code::Ok), &env.get("resolved").await);
        refused(env.run(create("resolved")).await, Code::PromiseAlreadyExists);

        // New promises sort after the old ones.
        let new = CreatePromise { timeout: DEADLINE - 1, ..create("new") };
        let new = ok(env.run(new).await, Code::Created);
        assert!(before.iter().all(|p| p.sort_id < new.sort_id), "sort ids keep increasing");
        assert_eq!(everything(&env).await[0].id, "new");

        // Deadlines stored before the restart still fire, lazily and in the background sweep.
        env.clock.set(DEADLINE);
        let sleep = before.iter().find(|p| p.id == "sleep").unwrap();
        let keyed = before.iter().find(|p| p.id == "keyed").unwrap();
        same(&env.get("sleep").await, &timed_out(sleep, PromiseState::Resolved));
        let report =
            ok(env.run(natsapi_core::promises::TimeoutPromises { limit: 10 }).await, Code::Ok);
        let ids: Vec<&str> = report.timed_out.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["new", "keyed"], "earliest deadline first");
        same(&report.timed_out[1], &timed_out(keyed, PromiseState::RejectedTimedout));

        // And the timeouts themselves are durable.
        let settled = everything(&env).await;
        let env = env.reopen();
        assert_eq!(everything(&env).await, settled);
        assert!(settled.iter().all(|p| p.state != PromiseState::Pending));
    })
    .await;
}
