//! Read (spec §7): 200 with the promise, timed out lazily when due; 404 when absent.

use natsapi_core::promise::TIMEOUT_TAG;
use natsapi_core::promises::{CompletePromise, CreatePromise};
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{ALL, complete, create, each, map, ok, pending, refused, same, timed_out};

#[tokio::test]
async fn read_of_an_absent_promise_is_not_found() {
    each(ALL, |env| async move {
        let err = refused(env.read("nope").await, Code::PromiseNotFound);
        assert!(err.message.contains("\"nope\""), "message names the id: {}", err.message);
        // A read never creates anything.
        refused(env.read("nope").await, Code::PromiseNotFound);
    })
    .await;
}

#[tokio::test]
async fn read_returns_the_pending_promise_until_its_deadline() {
    each(ALL, |env| async move {
        ok(env.run(create("p")).await, Code::Created);
        same(&ok(env.read("p").await, Code::Ok), &pending("p", T0));
        env.clock.set(DEADLINE - 1);
        same(&ok(env.read("p").await, Code::Ok), &pending("p", T0));
    })
    .await;
}

#[tokio::test]
async fn read_at_the_deadline_times_the_promise_out_and_stores_it() {
    each(ALL, |env| async move {
        let op = CreatePromise {
            idempotency_key: Some("k".into()),
            param: Value { headers: map(&[("a", "b")]), data: b"in".to_vec() },
            tags: map(&[("x", "y")]),
            ..create("p")
        };
        let created = ok(env.run(op).await, Code::Created);
        env.clock.set(DEADLINE);
        let got = ok(env.read("p").await, Code::Ok);
        let expected = Promise {
            state: PromiseState::RejectedTimedout,
            completed_on: Some(DEADLINE),
            ..created
        };
        same(&got, &expected);
        // Later reads see the stored timeout, still completed at the deadline.
        env.clock.set(DEADLINE + 10_000);
        same(&ok(env.read("p").await, Code::Ok), &expected);
    })
    .await;
}

#[tokio::test]
async fn read_of_a_due_promise_with_the_timeout_tag_resolves_it() {
    each(ALL, |env| async move {
        let op = CreatePromise { tags: map(&[(TIMEOUT_TAG, "true")]), ..create("sleep") };
        let created = ok(env.run(op).await, Code::Created);
        env.clock.set(DEADLINE + 7);
        let got = ok(env.read("sleep").await, Code::Ok);
        same(&got, &timed_out(&created, PromiseState::Resolved));
    })
    .await;
}

#[tokio::test]
async fn read_of_a_completed_promise_is_unchanged_after_its_deadline() {
    each(ALL, |env| async move {
        ok(env.run(create("p")).await, Code::Created);
        env.clock.set(T0 + 5);
        let op = CompletePromise {
            idempotency_key: Some("u".into()),
            value: Value { headers: map(&[("r", "s")]), data: b"out".to_vec() },
            ..complete("p", PromiseState::RejectedCanceled)
        };
        let done = ok(env.run(op).await, Code::Created);
        env.clock.set(DEADLINE + 1);
        same(&ok(env.read("p").await, Code::Ok), &done);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_reads_at_once_each_get_their_own_answer() {
    each(ALL, |env| async move {
        // Pending, completed, due (timed out by its read) and absent promises, read all at once
        // (a backend may fetch a batch of them in one statement).
        for i in 0..60 {
            let op = CreatePromise {
                timeout: if i % 3 == 0 { T0 + 10 } else { DEADLINE },
                ..create(&format!("r{i}"))
            };
            ok(env.run(op).await, Code::Created);
        }
        for i in (1..60).step_by(3) {
            ok(env.run(complete(&format!("r{i}"), PromiseState::Resolved)).await, Code::Created);
        }
        env.clock.set(T0 + 20);
        let reads = (0..80).map(|i| {
            let store = env.store.clone();
            tokio::spawn(async move {
                let id = format!("r{i}");
                let reply = store.run(natsapi_core::promises::ReadPromise { id }).await;
                reply.expect("store answers")
            })
        });
        let replies = futures::future::join_all(reads).await;
        for (i, reply) in replies.into_iter().enumerate() {
            let reply = reply.expect("task");
            if i >= 60 {
                refused(reply, Code::PromiseNotFound);
                continue;
            }
            let promise = ok(reply, Code::Ok);
            assert_eq!(promise.id, format!("r{i}"));
            let expected = match i % 3 {
                0 => PromiseState::RejectedTimedout,
                1 => PromiseState::Resolved,
                _ => PromiseState::Pending,
            };
            assert_eq!(promise.state, expected, "r{i}");
        }
    })
    .await;
}
