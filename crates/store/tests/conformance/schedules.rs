//! Schedules (spec §10, §15.2, §15.4): create (201, 200 on a matching idempotency key, 409),
//! read, delete, cron validation, descriptors and 6-field crons, search with tags and cursors.

use std::collections::BTreeMap;

use natsapi_core::schedules::{
    CreateSchedule, DeleteSchedule, ReadSchedule, SchedulePage, SearchSchedules,
};
use natsapi_core::{Code, Schedule, Value};

use crate::fixtures::{HOUR, T0};
use crate::harness::{ALL, Env, each, map, ok, refused, table};

/// A create of schedule `id` on `cron`: promise ids `{{.id}}.{{.timestamp}}`, an hour to run.
pub fn schedule(id: &str, cron: &str) -> CreateSchedule {
    CreateSchedule {
        id: id.to_owned(),
        description: String::new(),
        cron: cron.to_owned(),
        tags: BTreeMap::new(),
        promise_id: "{{.id}}.{{.timestamp}}".to_owned(),
        promise_timeout: HOUR,
        promise_param: Value::default(),
        promise_tags: BTreeMap::new(),
        idempotency_key: None,
    }
}

/// The schedule `op` stores when created at `now` with its first tick at `next`.
pub fn stored(op: &CreateSchedule, now: i64, next: i64) -> Schedule {
    Schedule {
        id: op.id.clone(),
        description: op.description.clone(),
        cron: op.cron.clone(),
        tags: op.tags.clone(),
        promise_id: op.promise_id.clone(),
        promise_timeout: op.promise_timeout,
        promise_param: op.promise_param.clone(),
        promise_tags: op.promise_tags.clone(),
        last_run_time: None,
        next_run_time: next,
        idempotency_key: op.idempotency_key.clone(),
        created_on: now,
        sort_id: 0,
    }
}

/// Asserts two schedules are equal in every field but the internal `sort_id`.
#[track_caller]
pub fn same_schedule(actual: &Schedule, expected: &Schedule) {
    let strip = |s: &Schedule| Schedule { sort_id: 0, ..s.clone() };
    assert_eq!(strip(actual), strip(expected), "schedule differs from the expected one");
}

/// Reads a schedule that must exist.
pub async fn get_schedule(env: &Env, id: &str) -> Schedule {
    ok(env.run(ReadSchedule { id: id.to_owned() }).await, Code::Ok)
}

/// T0 is 2023-11-14T22:13:20Z: the next whole minute is 40 s away.
const NEXT_MINUTE: i64 = T0 + 40_000;

/// What a create answers when the id is taken.
#[derive(Debug, Clone, Copy)]
enum Want {
    Created,
    Replay,
    Exists,
}

/// The schedule a create row finds: none, or one stored with this key.
type StoredKey = Option<Option<&'static str>>;

/// (stored key, request key, outcome): absent → 201; present → 200 only when both keys are
/// present and equal, else 409.
const CREATE_TABLE: &[(StoredKey, Option<&str>, Want)] = &[
    (None, None, Want::Created),
    (None, Some("k"), Want::Created),
    (Some(Some("k")), Some("k"), Want::Replay),
    (Some(Some("k")), Some("k*"), Want::Exists),
    (Some(Some("k")), None, Want::Exists),
    (Some(None), None, Want::Exists),
    (Some(None), Some("k"), Want::Exists),
];

#[tokio::test]
async fn create_decision_table() {
    let rows = CREATE_TABLE.iter().map(|row| (format!("stored={:?} key={:?}", row.0, row.1), *row));
    table(ALL, rows, |env, (stored_key, key, want)| async move {
        let mut before = None;
        if let Some(stored_key) = stored_key {
            let first = CreateSchedule {
                idempotency_key: stored_key.map(str::to_owned),
                tags: map(&[("first", "1")]),
                ..schedule("s", "* * * * *")
            };
            let created = ok(env.run(first.clone()).await, Code::Created);
            same_schedule(&created, &stored(&first, T0, NEXT_MINUTE));
            assert!(created.sort_id > 0, "a created schedule gets a sort id");
            before = Some(created);
        }
        env.clock.set(T0 + 1_000);
        // Everything but id and key differs: a replay returns what is stored.
        let op = CreateSchedule {
            idempotency_key: key.map(str::to_owned),
            description: "other".into(),
            promise_timeout: 5,
            ..schedule("s", "*/5 * * * * *")
        };
        let after = match want {
            Want::Created => {
                let got = ok(env.run(op.clone()).await, Code::Created);
                let expected = stored(&op, T0 + 1_000, T0 + 5_000);
                same_schedule(&got, &expected);
                expected
            }
            Want::Replay => {
                let before = before.expect("a replay needs a stored schedule");
                same_schedule(&ok(env.run(op).await, Code::Ok), &before);
                before
            }
            Want::Exists => {
                let err = refused(env.run(op).await, Code::ScheduleAlreadyExists);
                assert!(err.message.contains("\"s\""), "message names the id: {}", err.message);
                before.expect("a conflict needs a stored schedule")
            }
        };
        same_schedule(&get_schedule(&env, "s").await, &after);
    })
    .await;
}

#[tokio::test]
async fn read_and_delete() {
    each(ALL, |env| async move {
        let err = refused(env.run(ReadSchedule { id: "s".into() }).await, Code::ScheduleNotFound);
        assert!(err.message.contains("\"s\""), "{}", err.message);
        let op = CreateSchedule {
            description: "nightly".into(),
            tags: map(&[("team", "a")]),
            promise_param: Value { headers: map(&[("h", "1")]), data: b"in\0put".to_vec() },
            promise_tags: map(&[("p", "q")]),
            idempotency_key: Some("k".into()),
            ..schedule("s", "@daily")
        };
        let created = ok(env.run(op.clone()).await, Code::Created);
        let expected = stored(&op, T0, 1_700_006_400_000);
        same_schedule(&created, &expected);
        same_schedule(&get_schedule(&env, "s").await, &expected);

        let delete = || DeleteSchedule { id: "s".into() };
        assert_eq!(env.run(delete()).await.map(|s| s.code), Ok(Code::NoContent));
        refused(env.run(ReadSchedule { id: "s".into() }).await, Code::ScheduleNotFound);
        let err = refused(env.run(delete()).await, Code::ScheduleNotFound);
        assert!(err.message.contains("\"s\""), "{}", err.message);

        // The id is free again; the new schedule is a new one (no replay of the old key).
        env.clock.set(T0 + 5);
        let again = ok(env.run(op.clone()).await, Code::Created);
        assert!(again.sort_id > created.sort_id, "sort ids are not reused");
        same_schedule(&again, &stored(&op, T0 + 5, 1_700_006_400_000));
    })
    .await;
}

/// Crons and the first tick after T0 (2023-11-14T22:13:20Z, a Tuesday).
const FIRST_TICKS: &[(&str, i64)] = &[
    ("* * * * *", NEXT_MINUTE),
    ("0 * * * *", T0 + 2_800_000),
    ("15 22 * * *", T0 + 100_000),
    ("10 22 * * *", T0 + 24 * HOUR - 200_000),
    ("* * * * * *", T0 + 1_000),
    ("*/15 * * * * *", T0 + 10_000),
    ("30 13 22 * * *", T0 + 10_000),
    ("0 0 0 * * *", 1_700_006_400_000),
    ("@every 1s", T0 + 1_000),
    ("@every 1m30s", T0 + 90_000),
    ("@every 1.5h", T0 + 90 * 60_000),
    ("@hourly", T0 + 2_800_000),
    ("@daily", 1_700_006_400_000),
    ("@midnight", 1_700_006_400_000),
    ("@weekly", 1_700_006_400_000 + 4 * 24 * HOUR),
    ("@monthly", 1_701_388_800_000),
    ("@yearly", 1_704_067_200_000),
    ("@annually", 1_704_067_200_000),
    ("0 0 * * 3", 1_700_006_400_000),
    ("0 0 1 1 *", 1_704_067_200_000),
    ("  * * * * *  ", NEXT_MINUTE),
];

#[tokio::test]
async fn crons_descriptors_and_seconds_set_the_first_tick() {
    let rows = FIRST_TICKS.iter().map(|row| (format!("{:?}", row.0), *row));
    table(ALL, rows, |env, (cron, first)| async move {
        let op = schedule("s", cron);
        let got = ok(env.run(op.clone()).await, Code::Created);
        assert_eq!(got.next_run_time, first, "first tick of {cron:?}");
        assert_eq!(got.cron, cron, "the cron is stored as given");
        same_schedule(&got, &stored(&op, T0, first));
    })
    .await;
}

/// Creates that are refused with 400, and a word the message must contain.
fn invalid_creates() -> Vec<(String, (CreateSchedule, &'static str))> {
    let base = || schedule("s", "* * * * *");
    let cases: Vec<(CreateSchedule, &str)> = vec![
        (CreateSchedule { id: String::new(), ..base() }, "id"),
        (schedule("s", ""), "cron"),
        (schedule("s", "not a cron"), "\"not a cron\""),
        (schedule("s", "* * *"), "got 3"),
        (schedule("s", "0 0 0 * * * 2030"), "got 7"),
        (schedule("s", "61 * * * *"), "cron"),
        (schedule("s", "* 24 * * *"), "cron"),
        (schedule("s", "* * 32 * *"), "cron"),
        (schedule("s", "* * * 13 *"), "cron"),
        (schedule("s", "*/0 * * * *"), "cron"),
        (schedule("s", "@fortnightly"), "unknown descriptor"),
        (schedule("s", "@every"), "duration"),
        (schedule("s", "@every 1y"), "unknown unit"),
        (schedule("s", "@every -1s"), "positive"),
        (schedule("s", "@every 1ms"), "granularity of one second"),
        (schedule("s", "@every 2500ms"), "not a whole number of seconds"),
        (schedule("s", "0 0 30 2 *"), "never fires"),
        (CreateSchedule { promise_id: String::new(), ..base() }, "promiseId"),
        (CreateSchedule { promise_id: "p-{{.when}}".into(), ..base() }, "{{.when}}"),
        (CreateSchedule { promise_id: "p-{{.id".into(), ..base() }, "promiseId"),
        (CreateSchedule { promise_timeout: -1, ..base() }, "promiseTimeout"),
    ];
    cases
        .into_iter()
        .map(|(op, needle)| (format!("{:?}/{:?}", op.cron, op.promise_id), (op, needle)))
        .collect()
}

#[tokio::test]
async fn invalid_creates_are_bad_requests_that_name_the_problem() {
    table(ALL, invalid_creates(), |env, (op, needle)| async move {
        let err = refused(env.run(op.clone()).await, Code::BadRequest);
        assert!(err.message.contains(needle), "{needle:?} not in {:?}", err.message);
        if !op.id.is_empty() {
            refused(env.run(ReadSchedule { id: op.id }).await, Code::ScheduleNotFound);
        }
    })
    .await;
}

fn query(pattern: &str, tags: &[(&str, &str)], limit: Option<i64>) -> SearchSchedules {
    SearchSchedules::new(pattern.to_owned(), map(tags), limit)
        .unwrap_or_else(|e| panic!("search {pattern:?} refused: {e:?}"))
}

fn ids(page: &SchedulePage) -> Vec<&str> {
    page.schedules.iter().map(|s| s.id.as_str()).collect()
}

async fn follow(env: &Env, cursor: &str) -> SchedulePage {
    let next = SearchSchedules::from_cursor(cursor)
        .unwrap_or_else(|e| panic!("cursor {cursor:?} refused: {e:?}"));
    ok(env.run(next).await, Code::Ok)
}

#[tokio::test]
async fn search_by_id_and_tags_is_newest_first_with_cursors() {
    each(ALL, |env| async move {
        for (id, tags) in [
            ("foo.a", map(&[("env", "prod")])),
            ("foo.b", map(&[("env", "dev")])),
            ("a.bar", map(&[("env", "prod"), ("team", "x")])),
            ("b.bar", map(&[])),
        ] {
            let op = CreateSchedule { tags, ..schedule(id, "@hourly") };
            ok(env.run(op).await, Code::Created);
        }
        let find = |pattern: &'static str, tags: &'static [(&str, &str)], limit| {
            let env = &env;
            async move { ok(env.run(query(pattern, tags, limit)).await, Code::Ok) }
        };
        let page = find("foo.*", &[], Some(2)).await;
        assert_eq!(ids(&page), ["foo.b", "foo.a"]);
        assert_eq!(page.cursor, None);
        same_schedule(&page.schedules[1], &get_schedule(&env, "foo.a").await);
        assert_eq!(ids(&find("*.bar", &[], Some(2)).await), ["b.bar", "a.bar"]);
        assert_eq!(ids(&find("*", &[("env", "prod")], None).await), ["a.bar", "foo.a"]);
        assert_eq!(ids(&find("*", &[("env", "prod"), ("team", "x")], None).await), ["a.bar"]);
        assert!(find("*", &[("env", "pro")], None).await.schedules.is_empty());
        assert!(find("foo", &[], None).await.schedules.is_empty());

        // §15.3: `*` with limit 2 gives the two newest, then the cursor the other two.
        let page = find("*", &[], Some(2)).await;
        assert_eq!(ids(&page), ["b.bar", "a.bar"]);
        let page = follow(&env, &page.cursor.expect("more follow")).await;
        assert_eq!(ids(&page), ["foo.b", "foo.a"]);
        assert_eq!(page.cursor, None, "the last page has no cursor");

        // A cursor carries the tag filter.
        let page = find("*", &[("env", "prod")], Some(1)).await;
        assert_eq!(ids(&page), ["a.bar"]);
        let page = follow(&env, &page.cursor.expect("more follow")).await;
        assert_eq!(ids(&page), ["foo.a"]);
        assert_eq!(page.cursor, None);

        // A deleted schedule leaves no hole in paging.
        ok(env.run(DeleteSchedule { id: "a.bar".into() }).await, Code::NoContent);
        let page = find("*", &[], Some(1)).await;
        let page = follow(&env, &page.cursor.expect("more follow")).await;
        assert_eq!(ids(&page), ["foo.b"]);
    })
    .await;
}

#[tokio::test]
async fn paging_yields_every_match_exactly_once() {
    each(ALL, |env| async move {
        let mut expected = Vec::new();
        for i in 0..130 {
            let id = format!("s{i:03}");
            ok(env.run(schedule(&id, "@daily")).await, Code::Created);
            expected.push(id);
        }
        expected.reverse();
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut page = ok(env.run(query("s*", &[], None)).await, Code::Ok);
        loop {
            sizes.push(page.schedules.len());
            seen.extend(page.schedules.iter().map(|s| s.id.clone()));
            match page.cursor {
                Some(cursor) => page = follow(&env, &cursor).await,
                None => break,
            }
        }
        assert_eq!(sizes, [100, 30], "no limit means 100");
        assert_eq!(seen, expected);
    })
    .await;
}

#[tokio::test]
async fn invalid_searches_and_cursors_are_bad_requests() {
    let err = SearchSchedules::new(String::new(), BTreeMap::new(), None).unwrap_err();
    assert_eq!(err.code, Code::BadRequest);
    assert!(err.message.contains("id"), "{}", err.message);
    for limit in [0, 101, -1, i64::MIN, i64::MAX] {
        let err = SearchSchedules::new("*".into(), BTreeMap::new(), Some(limit)).unwrap_err();
        assert_eq!(err.code, Code::BadRequest, "limit {limit}");
        assert!(err.message.contains("limit"), "{}", err.message);
    }
    assert_eq!(SearchSchedules::new("*".into(), BTreeMap::new(), None).unwrap().limit, 100);
    // {}, an empty id, limit 0, and a promise cursor (it has `states`).
    for cursor in [
        "",
        "!!!",
        "e30",
        "eyJpZCI6IiIsInRhZ3MiOnt9LCJsaW1pdCI6MTAsInNvcnRJZCI6NX0",
        "eyJpZCI6IioiLCJ0YWdzIjp7fSwibGltaXQiOjAsInNvcnRJZCI6NX0",
        "eyJpZCI6IioiLCJzdGF0ZXMiOltdLCJ0YWdzIjp7fSwibGltaXQiOjEwLCJzb3J0SWQiOjV9",
    ] {
        let err = SearchSchedules::from_cursor(cursor).unwrap_err();
        assert_eq!(err.code, Code::BadRequest, "cursor {cursor:?}");
        assert!(err.message.contains("cursor"), "{}", err.message);
    }
}

#[tokio::test]
async fn a_byte_budget_ends_pages_early() {
    each(ALL, |env| async move {
        for i in 0..10 {
            ok(env.run(schedule(&format!("b{i}"), "@daily")).await, Code::Created);
        }
        let one = serde_json::to_vec(&get_schedule(&env, "b0").await).unwrap().len();
        let mut search = query("b*", &[], None);
        search.max_bytes = one * 3 + one / 2;
        let mut seen = Vec::new();
        loop {
            let page = ok(env.run(search.clone()).await, Code::Ok);
            assert!(page.schedules.len() <= 3, "page of {}", page.schedules.len());
            seen.extend(page.schedules.iter().map(|s| s.id.clone()));
            let Some(cursor) = page.cursor else { break };
            search = SearchSchedules::from_cursor(&cursor).unwrap();
            search.max_bytes = one * 3 + one / 2;
        }
        let expected: Vec<String> = (0..10).rev().map(|i| format!("b{i}")).collect();
        assert_eq!(seen, expected);
    })
    .await;
}

#[tokio::test]
async fn schedules_and_locks_survive_reopening_the_store() {
    use natsapi_core::locks::{AcquireLock, ExpireLocks};
    use natsapi_core::schedules::FireSchedules;

    each(crate::harness::DURABLE, |env| async move {
        let op = CreateSchedule {
            description: "d".into(),
            tags: map(&[("t", "1")]),
            promise_param: Value { headers: map(&[("h", "v")]), data: vec![0, 1] },
            promise_tags: map(&[("p", "1")]),
            idempotency_key: Some("k".into()),
            ..schedule("s", "@every 1s")
        };
        ok(env.run(op.clone()).await, Code::Created);
        env.clock.set(T0 + 1_000);
        ok(env.run(FireSchedules { limit: 10 }).await, Code::Ok);
        let lock = AcquireLock {
            resource_id: "r".into(),
            execution_id: "e".into(),
            process_id: "p".into(),
            ttl: 5_000,
        };
        let held = ok(env.run(lock.clone()).await, Code::Created);
        let before = get_schedule(&env, "s").await;
        assert_eq!(before.last_run_time, Some(T0 + 1_000));

        let env = env.reopen();
        assert_eq!(get_schedule(&env, "s").await, before, "same schedule, same sort id");
        same_schedule(&ok(env.run(op).await, Code::Ok), &before);
        env.get(&format!("s.{}", T0 + 1_000)).await;
        let other = AcquireLock { execution_id: "other".into(), ..lock };
        refused(env.run(other).await, Code::LockAlreadyAcquired);
        env.clock.set(T0 + 6_000);
        let report = ok(env.run(ExpireLocks { limit: 10 }).await, Code::Ok);
        assert_eq!(report.expired, [held]);
        // The schedule goes on from where it was.
        let report = ok(env.run(FireSchedules { limit: 10 }).await, Code::Ok);
        assert_eq!(report.fired[0].tick, T0 + 2_000);
    })
    .await;
}
