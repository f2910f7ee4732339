//! Ids, params, values, headers and tags come back exactly as given, on every backend (and, for
//! durable backends, after reopening the store).

use std::collections::BTreeMap;

use natsapi_core::promises::{CompletePromise, CreatePromise, SearchPromises};
use natsapi_core::{Code, Promise, PromiseState, Value};

use crate::harness::{ALL, Env, complete, create, map, ok, same, table};

#[derive(Debug, Clone)]
struct Row {
    id: &'static str,
    param: Value,
    value: Value,
    tags: BTreeMap<String, String>,
}

fn value(headers: &[(&str, &str)], data: Vec<u8>) -> Value {
    Value { headers: map(headers), data }
}

fn rows() -> Vec<(String, Row)> {
    let every_byte: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = (0..256 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let rows = [
        Row { id: "plain", param: Value::default(), value: Value::default(), tags: map(&[]) },
        Row {
            id: "a/b/c",
            param: value(&[], vec![0, 0, 0]),
            value: value(&[], vec![0]),
            tags: map(&[("k", "v")]),
        },
        Row {
            id: "/leading/and/trailing/",
            param: value(&[("content-type", "application/octet-stream")], every_byte.clone()),
            value: value(&[("x", "")], vec![0xff, 0xfe, 0x00, 0xc3]),
            tags: map(&[("resonate:invoke", "poll://any@default")]),
        },
        Row {
            id: "ünïcødé-🙂/路径",
            param: value(&[("ü", "🙂"), ("", "empty key")], "héllo\0wörld".as_bytes().to_vec()),
            value: value(&[("ключ", "значение")], "✓".as_bytes().to_vec()),
            tags: map(&[("ü", "🙂"), ("empty", ""), ("json", r#"{"a":1}"#), ("num", "1")]),
        },
        Row {
            id: "quote\"apos'back\\slash space\ttab\nnewline",
            param: value(&[("q", "\"'\\")], b"{\"json\": true}".to_vec()),
            value: Value::default(),
            tags: map(&[("a.b", "c"), ("$.x", "y"), ("k\"q", "v'q")]),
        },
        Row {
            id: "star*and%under_score",
            param: value(&[], large.clone()),
            value: value(&[("big", "yes")], large),
            tags: map(&[("true", "true"), ("null", "null")]),
        },
    ];
    rows.into_iter().map(|r| (format!("id {:?}", r.id), r)).collect()
}

/// Reads `expected.id`, finds it by exact-id search and by its tags, and checks all three.
async fn check_everywhere(env: &Env, expected: &Promise) {
    same(&env.get(&expected.id).await, expected);
    // The id as a pattern: ids here hold `*` only where they match themselves.
    let search =
        SearchPromises::new(expected.id.clone(), vec![], expected.tags.clone(), None).unwrap();
    let page = ok(env.run(search).await, Code::Ok);
    assert_eq!(page.promises.len(), 1, "search finds exactly the promise: {page:?}");
    same(&page.promises[0], expected);
}

async fn run_row(env: Env, row: Row) {
    let op = CreatePromise {
        idempotency_key: Some(format!("create/{}", row.id)),
        param: row.param.clone(),
        tags: row.tags.clone(),
        ..create(row.id)
    };
    let created = ok(env.run(op.clone()).await, Code::Created);
    assert_eq!(created.id, row.id);
    assert_eq!(created.param, row.param);
    assert_eq!(created.tags, row.tags);
    assert_eq!(created.idempotency_key_for_create, op.idempotency_key);
    check_everywhere(&env, &created).await;
    // A replay returns the stored bytes too.
    same(&ok(env.run(op).await, Code::Ok), &created);

    let op = CompletePromise {
        idempotency_key: Some(format!("complete/{}", row.id)),
        value: row.value.clone(),
        ..complete(row.id, PromiseState::Resolved)
    };
    let completed = ok(env.run(op).await, Code::Created);
    assert_eq!(completed.value, row.value);
    assert_eq!(completed.param, row.param);
    check_everywhere(&env, &completed).await;

    if crate::harness::DURABLE.contains(&env.backend) {
        let env = env.reopen();
        check_everywhere(&env, &completed).await;
    }
}

#[tokio::test]
async fn params_values_tags_and_ids_round_trip_exactly() {
    table(ALL, rows(), run_row).await;
}
