//! Search (spec §7, §15.3 SearchPromisesById/ByState/ByTag, §15.4 limits and cursors): newest
//! first, `*` the only wildcard, states and tags combined, opaque cursors, lazy timeouts.

use std::collections::BTreeMap;

use natsapi_core::promise::TIMEOUT_TAG;
use natsapi_core::promises::{CreatePromise, SearchPage, SearchPromises};
use natsapi_core::{Code, Promise, PromiseState, StateSet};

use crate::fixtures::{DEADLINE, T0};
use crate::harness::{
    ALL, Env, complete, create, each, map, ok, pending, refused, same, timed_out,
};

use PromiseState::{
    Pending as PENDING, Rejected as REJECTED, RejectedCanceled as CANCELED,
    RejectedTimedout as TIMEDOUT, Resolved as RESOLVED,
};

fn query(
    pattern: &str,
    states: &[PromiseState],
    tags: BTreeMap<String, String>,
    limit: Option<i64>,
) -> SearchPromises {
    SearchPromises::new(pattern.to_owned(), states.to_vec(), tags, limit)
        .unwrap_or_else(|e| panic!("search {pattern:?} refused: {e:?}"))
}

async fn search(env: &Env, pattern: &str, limit: Option<i64>) -> SearchPage {
    ok(env.run(query(pattern, &[], BTreeMap::new(), limit)).await, Code::Ok)
}

async fn follow(env: &Env, cursor: &str) -> SearchPage {
    let next = SearchPromises::from_cursor(cursor)
        .unwrap_or_else(|e| panic!("cursor {cursor:?} refused: {e:?}"));
    ok(env.run(next).await, Code::Ok)
}

fn ids(page: &SearchPage) -> Vec<&str> {
    page.promises.iter().map(|p| p.id.as_str()).collect()
}

async fn make(env: &Env, ids: &[&str]) -> Vec<Promise> {
    let mut made = Vec::new();
    for id in ids {
        made.push(ok(env.run(create(id)).await, Code::Created));
    }
    made
}

#[tokio::test]
async fn search_by_id_pattern_is_newest_first() {
    each(ALL, |env| async move {
        let made = make(&env, &["foo.a", "foo.b", "a.bar", "b.bar"]).await;
        assert!(made.windows(2).all(|w| w[0].sort_id < w[1].sort_id), "sort ids increase");

        let page = search(&env, "foo.*", Some(2)).await;
        assert_eq!(ids(&page), ["foo.b", "foo.a"]);
        assert_eq!(page.cursor, None, "no cursor: nothing else matches");
        same(&page.promises[0], &pending("foo.b", T0));

        let page = search(&env, "*.bar", Some(2)).await;
        assert_eq!(ids(&page), ["b.bar", "a.bar"]);
        assert_eq!(page.cursor, None);

        let page = search(&env, "*", Some(2)).await;
        assert_eq!(ids(&page), ["b.bar", "a.bar"]);
        let cursor = page.cursor.expect("more promises follow");
        let page = follow(&env, &cursor).await;
        assert_eq!(ids(&page), ["foo.b", "foo.a"]);
        assert_eq!(page.cursor, None, "the last page has no cursor");

        assert_eq!(ids(&search(&env, "foo.a", None).await), ["foo.a"]);
        assert_eq!(ids(&search(&env, "foo", None).await), Vec::<&str>::new());
        assert_eq!(ids(&search(&env, "*a*", None).await), ["b.bar", "a.bar", "foo.a"]);
        assert_eq!(ids(&search(&env, "f*.*", None).await), ["foo.b", "foo.a"]);
        assert_eq!(ids(&search(&env, "*b*r", None).await), ["b.bar", "a.bar"]);
    })
    .await;
}

#[tokio::test]
async fn paging_yields_every_match_exactly_once() {
    each(ALL, |env| async move {
        // 250 matches, with 50 non-matching promises interleaved.
        let mut expected = Vec::new();
        for i in 0..300 {
            let id = if i % 6 == 5 { format!("q{i:03}") } else { format!("p{i:03}") };
            ok(env.run(create(&id)).await, Code::Created);
            if id.starts_with('p') {
                expected.push(id);
            }
        }
        expected.reverse();
        assert_eq!(expected.len(), 250);

        let mut seen: Vec<String> = Vec::new();
        let mut sizes = Vec::new();
        let mut page = search(&env, "p*", Some(100)).await;
        loop {
            sizes.push(page.promises.len());
            seen.extend(page.promises.iter().map(|p| p.id.clone()));
            match page.cursor {
                Some(cursor) => page = follow(&env, &cursor).await,
                None => break,
            }
        }
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(seen, expected, "every match once, newest first");

        // No limit means 100.
        let page = search(&env, "*", None).await;
        assert_eq!(page.promises.len(), 100);
        assert!(page.cursor.is_some());
        // When the matches end exactly at a page boundary, the last full page has no cursor.
        let page = search(&env, "q*", Some(50)).await;
        assert_eq!(page.promises.len(), 50);
        assert_eq!(page.cursor, None);
    })
    .await;
}

#[tokio::test]
async fn percent_and_underscore_are_literal() {
    each(ALL, |env| async move {
        make(&env, &["a_c", "abc", "abcd", "a%c"]).await;
        assert_eq!(ids(&search(&env, "a_c", None).await), ["a_c"]);
        assert_eq!(ids(&search(&env, "a%", None).await), Vec::<&str>::new());
        assert_eq!(ids(&search(&env, "_*", None).await), Vec::<&str>::new());
        assert_eq!(ids(&search(&env, "%", None).await), Vec::<&str>::new());
        assert_eq!(ids(&search(&env, "a%*", None).await), ["a%c"]);
        make(&env, &["a%"]).await;
        assert_eq!(ids(&search(&env, "a%", None).await), ["a%"]);
    })
    .await;
}

#[tokio::test]
async fn state_and_tag_filters_combine() {
    each(ALL, |env| async move {
        let prod_a = map(&[("env", "prod"), ("team", "a")]);
        let setups: &[(&str, BTreeMap<String, String>, Option<PromiseState>)] = &[
            ("r1", prod_a.clone(), Some(RESOLVED)),
            ("r2", map(&[("env", "prod")]), Some(RESOLVED)),
            ("r3", map(&[("env", "dev"), ("team", "a")]), Some(RESOLVED)),
            ("j1", prod_a.clone(), Some(REJECTED)),
            ("c1", prod_a.clone(), Some(CANCELED)),
            ("p1", prod_a.clone(), None),
            ("t1", prod_a.clone(), Some(TIMEDOUT)),
            ("x1", map(&[("env", "production"), ("team", "a")]), Some(RESOLVED)),
        ];
        for (id, tags, _) in setups {
            let timeout = if *id == "t1" { T0 + 10 } else { DEADLINE };
            let op = CreatePromise { tags: tags.clone(), timeout, ..create(id) };
            ok(env.run(op).await, Code::Created);
        }
        env.clock.set(T0 + 10);
        for (id, _, state) in setups {
            match state {
                Some(TIMEDOUT) => assert_eq!(env.get(id).await.state, TIMEDOUT),
                Some(state) => {
                    ok(env.run(complete(id, *state)).await, Code::Created);
                }
                None => {}
            }
        }
        let find = |states: &'static [PromiseState], tags: &[(&str, &str)]| {
            let op = query("*", states, map(tags), None);
            let env = &env;
            async move {
                let page = ok(env.run(op).await, Code::Ok);
                for p in &page.promises {
                    assert!(StateSet::of(states.to_vec()).contains(p.state) || states.is_empty());
                }
                page.promises.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
            }
        };
        let both = [("env", "prod"), ("team", "a")];
        assert_eq!(find(&[RESOLVED], &both).await, ["r1"]);
        assert_eq!(find(&[], &both).await, ["t1", "p1", "c1", "j1", "r1"]);
        assert_eq!(
            find(&[REJECTED, CANCELED, TIMEDOUT], &[("team", "a")]).await,
            ["t1", "c1", "j1"]
        );
        assert_eq!(find(&[PENDING], &[]).await, ["p1"]);
        assert_eq!(find(&[RESOLVED], &[("env", "prod")]).await, ["r2", "r1"]);
        assert_eq!(find(&[RESOLVED, PENDING], &[("team", "a")]).await, ["x1", "p1", "r3", "r1"]);
        assert!(find(&[], &[("team", "a"), ("missing", "x")]).await.is_empty());
        assert!(find(&[], &[("env", "")]).await.is_empty());
        assert!(find(&[], &[("env", "pro")]).await.is_empty());
        assert!(find(&[TIMEDOUT], &[("env", "dev")]).await.is_empty());

        // A cursor carries the state and tag filters to the next page.
        let op = query("*", &[RESOLVED], map(&[("team", "a")]), Some(1));
        let mut page = ok(env.run(op).await, Code::Ok);
        let mut seen = ids(&page).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        while let Some(cursor) = page.cursor.take() {
            page = follow(&env, &cursor).await;
            seen.extend(ids(&page).iter().map(|s| s.to_string()));
        }
        assert_eq!(seen, ["x1", "r3", "r1"]);
    })
    .await;
}

#[tokio::test]
async fn invalid_searches_are_bad_requests() {
    let tags = BTreeMap::new;
    let err = SearchPromises::new(String::new(), vec![], tags(), None).unwrap_err();
    assert_eq!(err.code, Code::BadRequest);
    for limit in [0, 101, -1, i64::MIN, i64::MAX] {
        let err = SearchPromises::new("*".into(), vec![], tags(), Some(limit)).unwrap_err();
        assert_eq!(err.code, Code::BadRequest, "limit {limit}");
        assert!(err.message.contains("limit"), "{}", err.message);
    }
    for limit in [1, 100] {
        let search = SearchPromises::new("*".into(), vec![], tags(), Some(limit)).unwrap();
        assert_eq!(search.limit, limit as usize);
    }
    let search = SearchPromises::new("*".into(), vec![], tags(), None).unwrap();
    assert_eq!(search.limit, 100);
    assert_eq!(search.filter.states, StateSet::ALL, "no states means all five");
    assert_eq!(search.before, None);
}

/// URL-safe base64 without padding, to forge cursors.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[tokio::test]
async fn cursors_are_validated_and_continue_below_their_sort_id() {
    each(ALL, |env| async move {
        let made = make(&env, &["foo.a", "foo.b", "a.bar", "b.bar"]).await;
        // §15.3: `*` continued below a.bar's sort id gives [foo.b, foo.a].
        let forged = format!(
            r#"{{"id":"*","states":["PENDING"],"tags":{{}},"limit":10,"sortId":{}}}"#,
            made[2].sort_id
        );
        let page = follow(&env, &b64url(forged.as_bytes())).await;
        assert_eq!(ids(&page), ["foo.b", "foo.a"]);
        assert_eq!(page.cursor, None);

        let real = search(&env, "*", Some(1)).await.cursor.expect("a cursor");
        let corrupt = [
            String::new(),
            "!!!".to_owned(),
            "not a cursor".to_owned(),
            real[..real.len() / 2].to_owned(),
            format!("{real}A"),
            b64url(b"{}"),
            b64url(b"[1,2]"),
            b64url(br#"{"id":"*","states":[],"tags":{},"limit":0,"sortId":5}"#),
            b64url(br#"{"id":"*","states":[],"tags":{},"limit":101,"sortId":5}"#),
            b64url(br#"{"id":"","states":[],"tags":{},"limit":10,"sortId":5}"#),
            b64url(br#"{"id":"*","states":["DONE"],"tags":{},"limit":10,"sortId":5}"#),
            b64url(br#"{"id":"*","states":[],"tags":{},"limit":10,"sortId":5,"x":1}"#),
            b64url(br#"{"id":"*","states":[],"tags":{},"limit":10}"#),
        ];
        for cursor in corrupt {
            let err = SearchPromises::from_cursor(&cursor).unwrap_err();
            assert_eq!(err.code, Code::BadRequest, "cursor {cursor:?}");
            assert!(err.message.contains("cursor"), "cursor {cursor:?}: {}", err.message);
        }
    })
    .await;
}

#[tokio::test]
async fn search_times_out_due_promises_before_answering() {
    each(ALL, |env| async move {
        let due = |id: &str| CreatePromise { timeout: T0 + 10, ..create(id) };
        let d1 = ok(env.run(due("a.due1")).await, Code::Created);
        let live = ok(env.run(create("a.live")).await, Code::Created);
        let d2 = ok(env.run(due("a.due2")).await, Code::Created);
        let d3 = ok(env.run(due("a.due3")).await, Code::Created);
        env.clock.set(T0 + 10);
        // The newest pending rows are overdue: a PENDING search must skip past them.
        let op = query("a.*", &[PENDING], BTreeMap::new(), Some(1));
        let page = ok(env.run(op).await, Code::Ok);
        assert_eq!(ids(&page), ["a.live"]);
        same(&page.promises[0], &live);
        assert_eq!(page.cursor, None, "no other promise is pending");
        let page = search(&env, "a.*", None).await;
        assert_eq!(ids(&page), ["a.due3", "a.due2", "a.live", "a.due1"]);
        same(&page.promises[0], &timed_out(&d3, TIMEDOUT));
        same(&page.promises[1], &timed_out(&d2, TIMEDOUT));
        same(&page.promises[3], &timed_out(&d1, TIMEDOUT));

        // An unfiltered search reports due promises in their timed-out state, and stores it.
        let sleep = CreatePromise { tags: map(&[(TIMEOUT_TAG, "true")]), ..due("b.sleep") };
        let sleep = ok(env.run(sleep).await, Code::Created);
        let b_due = ok(env.run(due("b.due")).await, Code::Created);
        let b_live = ok(env.run(create("b.live")).await, Code::Created);
        let page = search(&env, "b.*", None).await;
        assert_eq!(ids(&page), ["b.live", "b.due", "b.sleep"]);
        same(&page.promises[0], &b_live);
        same(&page.promises[1], &timed_out(&b_due, TIMEDOUT));
        same(&page.promises[2], &timed_out(&sleep, RESOLVED));
        same(&env.get("b.sleep").await, &timed_out(&sleep, RESOLVED));
        let op = query("b.*", &[RESOLVED], BTreeMap::new(), None);
        assert_eq!(ids(&ok(env.run(op).await, Code::Ok)), ["b.sleep"]);
    })
    .await;
}

#[tokio::test]
async fn search_with_an_empty_store_is_an_empty_page() {
    each(ALL, |env| async move {
        let page = search(&env, "*", Some(1)).await;
        assert!(page.promises.is_empty());
        assert_eq!(page.cursor, None);
        let err = refused(env.read("*").await, Code::PromiseNotFound);
        assert!(err.message.contains('*'));
    })
    .await;
}

#[tokio::test]
async fn a_byte_budget_ends_pages_early_and_paging_stays_exact() {
    each(ALL, |env| async move {
        for i in 0..30 {
            ok(env.run(create(&format!("budget-{i:02}"))).await, Code::Created);
        }
        let one = natsapi_core::promises::encoded_len(&env.get("budget-00").await);
        let mut query =
            SearchPromises::new("budget-*".into(), vec![], Default::default(), Some(100)).unwrap();
        query.max_bytes = one * 7 + one / 2;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = ok(env.run(query.clone()).await, Code::Ok);
            pages += 1;
            assert!(page.promises.len() <= 7, "page of {}", page.promises.len());
            seen.extend(page.promises.iter().map(|p| p.id.clone()));
            let Some(cursor) = page.cursor else { break };
            query = SearchPromises::from_cursor(&cursor).unwrap();
            query.max_bytes = one * 7 + one / 2;
        }
        assert_eq!(pages, 5);
        let expected: Vec<String> = (0..30).rev().map(|i| format!("budget-{i:02}")).collect();
        assert_eq!(seen, expected);
    })
    .await;
}
