//! Two stores on one PostgreSQL database, as two natsapi instances would run: operations that read
//! then write, racing from both, keep their guarantees. Each store also runs several writers of
//! its own, so the races run between up to four transactions at once.
//!
//! (SQLite is one writer per file by design: a second process waits for the write lock, so the
//! question does not arise there.)

use std::collections::HashSet;

use futures::future::join_all;
use natsapi_core::locks::AcquireLock;
use natsapi_core::promises::{CreatePromise, SearchPromises, TimeoutPromises};
use natsapi_core::schedules::FireSchedules;
use natsapi_core::{Code, PromiseState};

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{Backend, all_at_once, complete, create, each, ok};
use crate::schedules::schedule;

const POSTGRES: &[Backend] = &[Backend::Postgres];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_completes_from_two_stores_have_one_winner() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        for n in 0..20 {
            let id = format!("p{n}");
            ok(env.run(create(&id)).await, Code::Created);
            let states = [PromiseState::Resolved, PromiseState::Rejected];
            let ops: Vec<_> = (0..20).map(|i| complete(&id, states[i % 2])).collect();
            let replies = all_at_once(&[&env.store, &other], ops).await;
            let winners = replies.iter().filter(|r| matches!(r, Ok(s) if s.code == Code::Created));
            assert_eq!(winners.count(), 1, "{id}: exactly one complete wins");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_from_two_stores_have_one_winner() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        for n in 0..20 {
            let keyed =
                CreatePromise { idempotency_key: Some("k".into()), ..create(&format!("k{n}")) };
            let replies = all_at_once(&[&env.store, &other], vec![keyed; 20]).await;
            let created = replies.iter().filter(|r| matches!(r, Ok(s) if s.code == Code::Created));
            assert_eq!(created.count(), 1, "one create wins");
            assert!(replies.iter().all(Result::is_ok), "the others replay it: {replies:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_lock_acquired_from_two_stores_at_once_has_one_holder() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        for n in 0..20 {
            let resource = format!("r{n}");
            let ops: Vec<_> = (0..10)
                .map(|i| AcquireLock {
                    resource_id: resource.clone(),
                    execution_id: format!("e{i}"),
                    process_id: format!("p{i}"),
                    ttl: 60_000,
                })
                .collect();
            let replies = all_at_once(&[&env.store, &other], ops).await;
            let holders: Vec<_> = replies
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .filter(|s| s.code == Code::Created)
                .collect();
            assert_eq!(holders.len(), 1, "{resource}: one acquire wins: {replies:?}");
            let refused = replies
                .iter()
                .filter(|r| matches!(r, Err(e) if e.code == Code::LockAlreadyAcquired))
                .count();
            assert_eq!(refused, 9, "{resource}: the others are refused");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_promises_swept_from_two_stores_time_out_once_each() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        const N: usize = 300;
        let creates: Vec<_> = (0..N).map(|i| create(&format!("d{i:03}"))).collect();
        for reply in all_at_once(&[&env.store, &other], creates).await {
            ok(reply, Code::Created);
        }
        env.clock.set(DEADLINE + 1);
        let mut timed_out = Vec::new();
        loop {
            let sweeps = vec![TimeoutPromises { limit: 16 }; 8];
            let reports = all_at_once(&[&env.store, &other], sweeps).await;
            let before = timed_out.len();
            for report in reports {
                timed_out.extend(ok(report, Code::Ok).timed_out.into_iter().map(|p| p.id));
            }
            if timed_out.len() == before {
                break;
            }
        }
        let unique: HashSet<&String> = timed_out.iter().collect();
        assert_eq!(unique.len(), timed_out.len(), "no promise timed out twice");
        assert_eq!(timed_out.len(), N, "every due promise timed out");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_fired_from_two_stores_make_one_promise_per_tick() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        const SCHEDULES: usize = 30;
        for n in 0..SCHEDULES {
            ok(env.run(schedule(&format!("s{n}"), "* * * * * *")).await, Code::Created);
        }
        let mut fired = Vec::new();
        for second in 1..=3 {
            env.clock.set(T0 + second * 1_000 + 500);
            let runs = vec![FireSchedules { limit: 4 }; 16];
            for report in all_at_once(&[&env.store, &other], runs).await {
                for firing in ok(report, Code::Ok).fired {
                    let created = matches!(&firing.promise, Ok(s) if s.code == Code::Created);
                    assert!(created, "{}: {:?}", firing.promise_id, firing.promise);
                    fired.push((firing.schedule_id, firing.tick));
                }
            }
        }
        let unique: HashSet<&(String, i64)> = fired.iter().collect();
        assert_eq!(unique.len(), fired.len(), "no tick fired twice");
        assert_eq!(fired.len(), SCHEDULES * 3, "every tick of every schedule fired");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_and_sweeps_racing_over_due_promises_all_answer() {
    each(POSTGRES, |env| async move {
        let other = env.another_store();
        let creates: Vec<_> = (0..200).map(|i| create(&format!("s{i:03}"))).collect();
        for reply in all_at_once(&[&env.store, &other], creates).await {
            ok(reply, Code::Created);
        }
        env.clock.set(DEADLINE + 1);
        // Searches time out the due promises they meet while the sweeps time out the same ones.
        let searches = (0..8).map(|i| {
            let store = if i % 2 == 0 { env.store.clone() } else { other.clone() };
            tokio::spawn(async move {
                let search = SearchPromises::new("s*".into(), vec![], Default::default(), None);
                store.run(search.expect("valid search")).await
            })
        });
        let stores = [&env.store, &other];
        let sweeps = all_at_once(&stores, vec![TimeoutPromises { limit: 16 }; 8]);
        let (searches, sweeps) = tokio::join!(join_all(searches), sweeps);
        for search in searches {
            let page = ok(search.expect("task").expect("store answers"), Code::Ok);
            assert!(page.promises.iter().all(|p| p.state == PromiseState::RejectedTimedout));
        }
        for sweep in sweeps {
            ok(sweep, Code::Ok);
        }
    })
    .await;
}
