//! Many operations in flight at once (SQLite commits them in groups): each is still atomic, and
//! racing requests on one id get exactly one winner.

use std::collections::HashSet;

use natsapi_core::promises::{CreatePromise, SearchPromises};
use natsapi_core::{Code, PromiseState};

use crate::harness::{ALL, all_at_once, complete, create, each, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_creates_all_succeed() {
    each(ALL, |env| async move {
        const N: usize = 2_000;
        let ops: Vec<_> = (0..N).map(|i| create(&format!("c{i:04}"))).collect();
        let replies = all_at_once(&[&env.store], ops).await;
        let mut sort_ids = HashSet::new();
        for (i, reply) in replies.into_iter().enumerate() {
            let p = ok(reply, Code::Created);
            assert_eq!(p.id, format!("c{i:04}"));
            assert_eq!(p.state, PromiseState::Pending);
            assert!(sort_ids.insert(p.sort_id), "sort id {} given twice", p.sort_id);
        }

        let mut found = Vec::new();
        let search = SearchPromises::new("c*".into(), vec![], Default::default(), None).unwrap();
        let mut page = ok(env.run(search).await, Code::Ok);
        loop {
            found.extend(page.promises.iter().map(|p| (p.sort_id, p.id.clone())));
            let Some(cursor) = page.cursor.take() else { break };
            page = ok(env.run(SearchPromises::from_cursor(&cursor).unwrap()).await, Code::Ok);
        }
        assert_eq!(found.len(), N, "search finds every promise");
        assert!(found.windows(2).all(|w| w[0].0 > w[1].0), "newest first, no repeats");
        let found_sort_ids: HashSet<i64> = found.iter().map(|(s, _)| *s).collect();
        assert_eq!(found_sort_ids, sort_ids);
        let ids: HashSet<String> = found.into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids.len(), N);
    })
    .await;
}

/// New and existing ids, and the same new id twice, in flight together (PostgreSQL inserts a
/// group's new promises in one statement): each create gets the answer it would get alone, and
/// what it answers is what is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_new_existing_and_repeated_ids_answer_as_alone() {
    each(ALL, |env| async move {
        const N: usize = 200;
        let keyed = |id: String| CreatePromise { idempotency_key: Some("k".into()), ..create(&id) };
        for i in 0..N {
            ok(env.run(create(&format!("old{i}"))).await, Code::Created);
        }
        let mut ops = Vec::new();
        for i in 0..N {
            ops.push(create(&format!("old{i}")));
            ops.push(keyed(format!("new{i}")));
            ops.push(keyed(format!("new{i}")));
        }
        let replies = all_at_once(&[&env.store], ops).await;
        for (i, triple) in replies.chunks(3).enumerate() {
            match &triple[0] {
                Err(e) => assert_eq!(e.code, Code::PromiseAlreadyExists, "old{i}: {e:?}"),
                Ok(s) => panic!("old{i} exists, yet a create answered {:?}", s.code),
            }
            let (a, b) = (triple[1].as_ref().unwrap(), triple[2].as_ref().unwrap());
            let mut codes = [a.code, b.code];
            codes.sort_by_key(|c| *c as u32);
            assert_eq!(codes, [Code::Ok, Code::Created], "new{i}: one creates, one replays");
            assert_eq!(a.value, b.value, "new{i}: the replay shows the promise created");
            assert_eq!(env.get(&format!("new{i}")).await, a.value, "new{i}: stored as answered");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_of_one_id_have_one_winner() {
    each(ALL, |env| async move {
        let keyed = CreatePromise { idempotency_key: Some("k".into()), ..create("keyed") };
        let replies = all_at_once(&[&env.store], vec![keyed; 200]).await;
        let (created, replays): (Vec<_>, Vec<_>) = replies
            .into_iter()
            .map(|r| r.expect("no refusal"))
            .partition(|s| s.code == Code::Created);
        assert_eq!(created.len(), 1, "exactly one create wins");
        assert!(replays.iter().all(|s| s.code == Code::Ok && s.value == created[0].value));

        let replies = all_at_once(&[&env.store], vec![create("bare"); 200]).await;
        let created = replies.iter().filter(|r| matches!(r, Ok(s) if s.code == Code::Created));
        assert_eq!(created.count(), 1, "exactly one create wins");
        let conflicts =
            replies.iter().filter(|r| matches!(r, Err(e) if e.code == Code::PromiseAlreadyExists));
        assert_eq!(conflicts.count(), 199, "every other create conflicts");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_completes_of_one_promise_have_one_winner() {
    each(ALL, |env| async move {
        ok(env.run(create("p")).await, Code::Created);
        let states =
            [PromiseState::Resolved, PromiseState::Rejected, PromiseState::RejectedCanceled];
        let ops: Vec<_> = (0..300).map(|i| complete("p", states[i % 3])).collect();
        let replies = all_at_once(&[&env.store], ops).await;
        let winners: Vec<_> = replies
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|s| s.code == Code::Created)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one complete wins");
        let winner = winners[0].value.clone();
        let refusal = match winner.state {
            PromiseState::Resolved => Code::AlreadyResolved,
            PromiseState::Rejected => Code::AlreadyRejected,
            _ => Code::AlreadyCanceled,
        };
        let refused = replies.iter().filter(|r| matches!(r, Err(e) if e.code == refusal));
        assert_eq!(refused.count(), 299, "the others see the winner's state");
        assert_eq!(env.get("p").await, winner);
    })
    .await;
}
