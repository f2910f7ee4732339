//! Signed RPC calls end to end, on SQLite and PostgreSQL: a real nats-server, real HTTP, keys
//! made in the test. `POST /op` refuses bad calls with a named 4xx before anything is stored,
//! stores good ones in JetStream before its 202, and a worker records each `(wallet, id)` once in
//! `rpclog` and runs its method; `POST /query` answers signed by the node.

mod common;

use std::time::Duration;

use common::{Db, Harness, fast_worker};
use natsapi_rpc::{Call, Format, SecretKey, sign_call};
use serde_json::{Value, json};

/// A call of `method` with `params` and id `id`, signed now.
fn call(id: &str, method: &str, params: Value) -> Call {
    Call { id: id.into(), method: method.into(), params, ts: Some(now_ms()) }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn add(comment_id: &str, text: &str) -> Call {
    let params =
        json!({"comment_id": comment_id, "track_id": 123, "position_ms": 3125, "comment": text});
    call(&format!("track_comment.add.{comment_id}"), "track_comment.add", params)
}

/// An HTTP answer: status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Harness {
    /// POSTs `body` to `path` with `headers`.
    async fn send(&self, path: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, body: response.bytes().await.unwrap() }
    }

    /// Signs `call` with `key` in `format` (DER when `der`) and POSTs it to `path`.
    async fn signed(
        &self,
        path: &str,
        key: &SecretKey,
        call: &Call,
        format: Format,
        der: bool,
    ) -> Answer {
        let signed = sign_call(key, call, format, der);
        let mut headers = vec![("content-type", signed.content_type.to_owned())];
        if let Some(signature) = signed.signature_header {
            headers.push(("x-sig", signature));
        }
        self.send(path, signed.body, &headers).await
    }

    /// Polls `GET /op/status` until the call reaches `status`.
    async fn wait_call(&self, key: &SecretKey, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (code, body) = self.get(&format!("/op/status/{}/{id}", key.wallet())).await;
            if code == 200 && body["status"] == status {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} never reached {status}: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Nothing of a refused call is anywhere: no status row, no JetStream message.
    async fn nothing_stored(&self) {
        assert_eq!(self.count("SELECT COUNT(*) FROM messages").await, 0);
        assert_eq!(self.stream_messages("RPC").await, 0);
    }
}

on_both!(
    a_call_in_each_format_lands_once_in_rpclog_and_its_method_runs,
    bad_calls_get_a_named_4xx_and_nothing_is_stored,
    a_call_replayed_100_times_is_stored_once_and_two_wallets_may_share_an_id,
    an_id_used_again_for_another_call_is_refused_with_409,
    no_ingest_message_can_take_a_calls_id,
    edits_that_arrive_before_their_add_are_not_lost,
    a_failing_method_is_dead_lettered_with_its_reason,
    queries_need_a_signed_time,
    queries_are_answered_signed_by_the_node,
    while_nats_is_down_calls_get_503_with_retry_after_and_a_202_is_never_lost,
    the_status_of_a_call_never_accepted_is_404_and_a_bad_wallet_400,
);

async fn while_nats_is_down_calls_get_503_with_retry_after_and_a_202_is_never_lost(db: Db) {
    let mut h = Harness::start(db).await;
    let alice = SecretKey::generate();
    assert_eq!(
        h.signed("/op", &alice, &add("c0", "before"), Format::MsgPack, false).await.status,
        202
    );
    h.nats.stop();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 1..20 {
        let answer =
            h.signed("/op", &alice, &add(&format!("c{i}"), "hi"), Format::MsgPack, false).await;
        match answer.status {
            202 => accepted.push(format!("track_comment.add.c{i}")),
            503 => {
                refused += 1;
                assert_eq!(answer.headers["retry-after"], "1");
            }
            other => panic!("unexpected {other}: {:?}", answer.json()),
        }
    }
    assert!(refused > 0, "NATS is down, yet every call was accepted");
    h.nats.restart().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while h.signed("/op", &alice, &add("c99", "after"), Format::MsgPack, false).await.status != 202
    {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every call given a 202 is applied.
    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    for id in
        accepted.iter().map(String::as_str).chain(["track_comment.add.c0", "track_comment.add.c99"])
    {
        h.wait_call(&alice, id, "applied").await;
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM rpclog").await, accepted.len() as i64 + 2);
}

async fn the_status_of_a_call_never_accepted_is_404_and_a_bad_wallet_400(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let (code, body) = h.get(&format!("/op/status/{}/nope", alice.wallet())).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = h.get("/op/status/0x12/nope").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("wallet"), "{body}");
    let (code, body) = h.get("/op/methods").await;
    assert_eq!(code, 200);
    assert!(body["methods"]["track_comment.add"]["properties"]["track_id"].is_object(), "{body}");
}

async fn a_call_in_each_format_lands_once_in_rpclog_and_its_method_runs(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let added = h.signed("/op", &alice, &add("c1", "sick drop"), Format::MsgPack, false).await;
    assert_eq!(added.status, 202, "{:?}", added.json());
    let answer = added.json();
    assert_eq!(answer["wallet"], alice.wallet().to_string());
    assert_eq!(answer["id"], "track_comment.add.c1");
    assert_eq!(
        (answer["status"].as_str(), answer["duplicate"].as_bool()),
        (Some("accepted"), Some(false))
    );
    // 202 means JetStream has it.
    assert_eq!(h.stream_messages("RPC").await, 1);
    let status = h.wait_call(&alice, "track_comment.add.c1", "accepted").await;
    assert_eq!(status["method"], "track_comment.add");

    let edit = call(
        "e1",
        "track_comment.update",
        json!({"comment_id": "c1", "comment": "sick drop bro!"}),
    );
    let edited = h.signed("/clusterizer/op", &alice, &edit, Format::Json, false).await;
    assert_eq!(edited.status, 202, "{:?}", edited.json());
    let other = SecretKey::generate();
    let der = h.signed("/op", &other, &add("c2", "first"), Format::MsgPack, true).await;
    assert_eq!(der.status, 202, "DER signatures are accepted: {:?}", der.json());

    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    let applied = h.wait_call(&alice, "e1", "applied").await;
    assert!(applied["applied_at"].is_string() && applied["stream_sequence"].is_i64(), "{applied}");
    h.wait_call(&other, "track_comment.add.c2", "applied").await;
    h.wait_call(&alice, "track_comment.add.c1", "applied").await;
    // The guide's step 3.
    assert_eq!(h.count("SELECT COUNT(*) FROM rpclog WHERE method = 'track_comment.add'").await, 2);
    assert_eq!(h.count("SELECT COUNT(*) FROM rpclog").await, 3);
    let kept = format!(
        "SELECT COUNT(*) FROM rpclog WHERE wallet = '{}' AND id = 'e1' AND format = 'json' \
         AND signature IS NOT NULL AND stream_sequence = 2",
        alice.wallet()
    );
    assert_eq!(h.count(&kept).await, 1, "the raw call and its signature are kept");
    let edited = "SELECT COUNT(*) FROM track_comments WHERE comment_id = 'c1' \
                  AND comment = 'sick drop bro!' AND track_id = 123";
    assert_eq!(h.count(edited).await, 1);
    assert_eq!(h.stream_messages("RPC").await, 0, "acknowledged after the commit");
}

async fn bad_calls_get_a_named_4xx_and_nothing_is_stored(db: Db) {
    let h = Harness::start(db).await;
    let key = SecretKey::generate();
    let wallet = ("x-wallet", key.wallet().to_string());
    let msgpack = ("content-type", "application/x-audius-msg".to_owned());
    let json_type = ("content-type", "application/json".to_owned());
    let good = sign_call(&key, &add("c1", "hi"), Format::MsgPack, false).body;

    // A byte of the payload changed: it verifies as another wallet's, which x-wallet refuses.
    let mut tampered = good.clone();
    let at = tampered.windows(3).position(|w| w == b"\xa2hi").expect("the comment in the payload");
    tampered[at + 2] = b'j';
    let refused = h.send("/op", tampered, &[msgpack.clone(), wallet.clone()]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.json());
    assert!(
        refused.json()["error"]["message"].as_str().unwrap().contains("not by"),
        "{:?}",
        refused.json()
    );

    // A JSON call whose x-sig was made over other bytes.
    let body = add("c1", "hi").to_json();
    let other_sig = natsapi_rpc::sign_json(&key, b"{\"something\":\"else\"}");
    let refused = h
        .send("/op", body.clone(), &[json_type.clone(), ("x-sig", other_sig), wallet.clone()])
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.json());
    // No signature at all.
    let refused = h.send("/op", body.clone(), std::slice::from_ref(&json_type)).await;
    assert_eq!(refused.status, 401);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("x-sig"));
    // A signature that is not base64.
    let refused = h.send("/op", body.clone(), &[json_type.clone(), ("x-sig", "%%%".into())]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.json());

    // High-s: the same signature with s replaced by n - s (and the recovery id flipped) still
    // verifies mathematically; it is refused as malleable.
    let signature = natsapi_rpc::sign_json(&key, &body);
    let high = high_s(&signature);
    let refused = h.send("/op", body.clone(), &[json_type.clone(), ("x-sig", high)]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.json());
    assert!(
        refused.json()["error"]["message"].as_str().unwrap().contains("high-s"),
        "{:?}",
        refused.json()
    );

    // Stale and future timestamps (the harness's window is a minute).
    let mut stale = add("c1", "hi");
    stale.ts = Some(now_ms() - 120_000);
    let refused = h.signed("/op", &key, &stale, Format::MsgPack, false).await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("stale"));
    stale.ts = Some(now_ms() + 120_000);
    let refused = h.signed("/op", &key, &stale, Format::Json, false).await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("future"));

    // No id, an unknown method, params that do not fit.
    let no_id = br#"{"method":"track_comment.add","params":{}}"#;
    let refused = h
        .send(
            "/op",
            no_id.to_vec(),
            &[json_type.clone(), ("x-sig", natsapi_rpc::sign_json(&key, no_id))],
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.json());
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("id"));
    let control = add("c1", "hi").with_id("a\u{0}b");
    let refused = h.signed("/op", &key, &control, Format::Json, false).await;
    assert_eq!(refused.status, 400, "{:?}", refused.json());
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("control"));
    let unknown = call("u1", "track_comment.rename", json!({}));
    let refused = h.signed("/op", &key, &unknown, Format::MsgPack, false).await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("unknown method"));
    let bad = call("b1", "track_comment.add", json!({"comment_id": "c1", "track_id": "abc"}));
    let refused = h.signed("/op", &key, &bad, Format::MsgPack, false).await;
    assert_eq!(refused.status, 422);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("params.track_id"));
    let empty = call("b2", "track_comment.update", json!({"comment_id": "c1", "comment": ""}));
    let refused = h.signed("/op", &key, &empty, Format::Json, false).await;
    assert_eq!(refused.status, 422);

    // Oversized, unsupported content type, empty body, garbage.
    let huge = add("c1", &"x".repeat(300 << 10));
    let refused = h.signed("/op", &key, &huge, Format::MsgPack, false).await;
    assert_eq!(refused.status, 413, "{:?}", refused.json());
    let refused = h.send("/op", good.clone(), &[("content-type", "text/plain".into())]).await;
    assert_eq!(refused.status, 415);
    let refused = h.send("/op", Vec::new(), std::slice::from_ref(&msgpack)).await;
    assert_eq!(refused.status, 400);
    let refused =
        h.send("/op", b"\x93\x0b\xc4\x01a".to_vec(), std::slice::from_ref(&msgpack)).await;
    assert!(matches!(refused.status, 400 | 401), "{:?}", refused.json());

    h.nothing_stored().await;
}

/// `signature` (base64 r‖s‖v) with s replaced by n - s and the recovery id flipped.
fn high_s(signature: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(signature).unwrap();
    // n - s: libsecp256k1's negation modulo n, on s read as a scalar (a valid secret key).
    let s: [u8; 32] = bytes[32..64].try_into().unwrap();
    let high = secp256k1::SecretKey::from_secret_bytes(s).unwrap().negate();
    bytes[32..64].copy_from_slice(&high.to_secret_bytes());
    bytes[64] ^= 1;
    engine.encode(bytes)
}

async fn a_call_replayed_100_times_is_stored_once_and_two_wallets_may_share_an_id(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let bob = SecretKey::generate();
    let first = add("c1", "hi");
    let signed = sign_call(&alice, &first, Format::MsgPack, false);
    let headers = [("content-type", signed.content_type.to_owned())];
    let mut duplicates = 0;
    for _ in 0..100 {
        let answer = h.send("/op", signed.body.clone(), &headers).await;
        assert_eq!(answer.status, 202, "{:?}", answer.json());
        duplicates += usize::from(answer.json()["duplicate"] == true);
    }
    assert_eq!(duplicates, 99);
    // Signed again later (another ts, another signature): the same call.
    let mut again = first.clone();
    again.ts = Some(now_ms() + 1);
    let answer = h.signed("/op", &alice, &again, Format::Json, false).await;
    assert_eq!((answer.status, answer.json()["duplicate"].as_bool()), (202, Some(true)));
    // Bob's call with Alice's id is his own.
    let answer = h
        .signed("/op", &bob, &add("c1-bob", "hey").with_id(&first.id), Format::MsgPack, false)
        .await;
    assert_eq!((answer.status, answer.json()["duplicate"].as_bool()), (202, Some(false)));
    assert_eq!(h.stream_messages("RPC").await, 2);

    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    h.wait_call(&alice, &first.id, "applied").await;
    h.wait_call(&bob, &first.id, "applied").await;
    assert_eq!(h.count("SELECT COUNT(*) FROM rpclog").await, 2);
    assert_eq!(h.count("SELECT COUNT(*) FROM track_comments").await, 2);
    // A replay after the worker applied it is answered from its record, not published again.
    let answer = h.send("/op", signed.body.clone(), &headers).await;
    assert_eq!((answer.status, answer.json()["duplicate"].as_bool()), (202, Some(true)));
    assert_eq!(h.count("SELECT COUNT(*) FROM rpclog").await, 2);
}

trait WithId {
    fn with_id(self, id: &str) -> Self;
}

impl WithId for Call {
    fn with_id(mut self, id: &str) -> Self {
        self.id = id.to_owned();
        self
    }
}

async fn an_id_used_again_for_another_call_is_refused_with_409(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let answer = h.signed("/op", &alice, &add("c1", "hi"), Format::MsgPack, false).await;
    assert_eq!(answer.status, 202);
    let other = add("c1", "something else");
    let answer = h.signed("/op", &alice, &other, Format::MsgPack, false).await;
    assert_eq!(answer.status, 409, "{:?}", answer.json());
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("another call"));
    assert_eq!(h.stream_messages("RPC").await, 1);
}

async fn no_ingest_message_can_take_a_calls_id(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let first = add("c1", "hi");
    // Alice's call's id, sent first as the Idempotency-Key of a plain message.
    let taken = natsapi_ingest::rpc::call::message_id(&alice.wallet(), &first.id).to_string();
    let (code, message) = h.post("/ingest/message", "{}", &[("Idempotency-Key", &taken)]).await;
    assert_eq!(code, 202);
    assert_ne!(message["message_id"], taken.as_str(), "a call's id is not a message's");
    let answer = h.signed("/op", &alice, &first, Format::MsgPack, false).await;
    assert_eq!((answer.status, answer.json()["duplicate"].as_bool()), (202, Some(false)));
    assert_eq!(h.stream_messages("RPC").await, 1);
}

async fn edits_that_arrive_before_their_add_are_not_lost(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let send = |c: Call| {
        let h = &h;
        let alice = alice.clone();
        async move {
            let answer = h.signed("/op", &alice, &c, Format::MsgPack, false).await;
            assert_eq!(answer.status, 202, "{:?}", answer.json());
        }
    };
    // c1: edited before its add; c2: deleted before its add; c3: two edits, the newer first.
    send(call("u1", "track_comment.update", json!({"comment_id": "c1", "comment": "edited"})))
        .await;
    send(call("d2", "track_comment.delete", json!({"comment_id": "c2"}))).await;
    let mut newer =
        call("u3b", "track_comment.update", json!({"comment_id": "c3", "comment": "newer"}));
    let mut older =
        call("u3a", "track_comment.update", json!({"comment_id": "c3", "comment": "older"}));
    newer.ts = Some(now_ms());
    older.ts = Some(now_ms() - 1000);
    send(newer).await;
    send(add("c1", "original")).await;
    send(add("c2", "gone")).await;
    send(add("c3", "third")).await;
    send(older).await;

    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    h.wait_call(&alice, "u3a", "applied").await;
    for id in ["u1", "d2", "u3b", "track_comment.add.c1", "track_comment.add.c2"] {
        h.wait_call(&alice, id, "applied").await;
    }
    let shown = |id: &str, text: &str| {
        format!(
            "SELECT COUNT(*) FROM track_comments WHERE comment_id = '{id}' AND comment = '{text}' \
             AND track_id = 123 AND deleted_at IS NULL"
        )
    };
    assert_eq!(h.count(&shown("c1", "edited")).await, 1, "the edit that came first stays");
    assert_eq!(
        h.count(&shown("c3", "newer")).await,
        1,
        "an older edit applied later changes nothing"
    );
    let tombstone = "SELECT COUNT(*) FROM track_comments WHERE comment_id = 'c2' \
                     AND deleted_at IS NOT NULL AND track_id = 123";
    assert_eq!(h.count(tombstone).await, 1, "the delete that came first stays");
}

async fn a_failing_method_is_dead_lettered_with_its_reason(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let mallory = SecretKey::generate();
    assert_eq!(h.signed("/op", &alice, &add("c1", "mine"), Format::Json, false).await.status, 202);
    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    h.wait_call(&alice, "track_comment.add.c1", "applied").await;
    // The same comment id added again (another call): it can never succeed.
    let again = add("c1", "twice").with_id("add-again");
    assert_eq!(h.signed("/op", &alice, &again, Format::Json, false).await.status, 202);
    let dead = h.wait_call(&alice, "add-again", "dead_lettered").await;
    assert!(dead["error"].as_str().unwrap().contains("added before"), "{dead}");
    assert_eq!(h.stream_messages("RPC_DLQ").await, 1);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM rpclog").await,
        1,
        "the failed call's row rolled back"
    );
    // The dead letter keeps what checking it again takes: the signature and the format.
    let js = async_nats::jetstream::new(common::connect(&h.nats).await);
    let dlq = js.get_stream("RPC_DLQ").await.unwrap();
    let letter = dlq.get_raw_message(1).await.unwrap();
    assert_eq!(letter.headers.get("Natsapi-Rpc-Format").map(|v| v.as_str()), Some("json"));
    let signature = letter.headers.get("Natsapi-Rpc-Signature").unwrap().as_str();
    let opened = natsapi_rpc::open_json(&letter.payload, signature).unwrap();
    assert_eq!(opened.wallet, alice.wallet());

    // Another wallet's edit of "c1" is about a comment of its own: Alice's stays hers.
    let steal =
        call("s1", "track_comment.update", json!({"comment_id": "c1", "comment": "mine now"}));
    assert_eq!(h.signed("/op", &mallory, &steal, Format::MsgPack, false).await.status, 202);
    h.wait_call(&mallory, "s1", "applied").await;
    let hers = format!(
        "SELECT COUNT(*) FROM track_comments WHERE wallet = '{}' AND comment_id = 'c1' \
         AND comment = 'mine' AND track_id = 123",
        alice.wallet()
    );
    assert_eq!(h.count(&hers).await, 1);
}

async fn queries_need_a_signed_time(db: Db) {
    let h = Harness::start(db).await;
    let alice = SecretKey::generate();
    let mut list = call("q1", "track_comment.list", json!({"track_id": 1}));
    list.ts = None;
    let answer = h.signed("/query", &alice, &list, Format::Json, false).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["error"]["message"].as_str().unwrap().contains("ts"),
        "{:?}",
        answer.json()
    );
    list.ts = Some(now_ms() - 120_000);
    let answer = h.signed("/query", &alice, &list, Format::Json, false).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("stale"));
}

async fn queries_are_answered_signed_by_the_node(db: Db) {
    let h = Harness::start(db).await;
    let (_, node) = h.get("/clusterizer").await;
    let node_wallet: natsapi_rpc::Wallet = node["wallet"].as_str().unwrap().parse().unwrap();
    let alice = SecretKey::generate();
    for (id, position) in [("c1", 10), ("c2", 5)] {
        let mut c = add(id, "hello");
        c.params["position_ms"] = json!(position);
        assert_eq!(h.signed("/op", &alice, &c, Format::MsgPack, false).await.status, 202);
    }
    let (_stop, _task) = h.worker(fast_worker(), Vec::new()).await;
    h.wait_call(&alice, "track_comment.add.c1", "applied").await;
    h.wait_call(&alice, "track_comment.add.c2", "applied").await;

    let list = call("q1", "track_comment.list", json!({"track_id": 123}));
    let signed = sign_call(&alice, &list, Format::MsgPack, false);
    let answer = h
        .send(
            "/clusterizer/query",
            signed.body,
            &[
                ("content-type", signed.content_type.into()),
                ("accept", "application/x-audius-msg".into()),
            ],
        )
        .await;
    assert_eq!(answer.status, 200);
    let opened = natsapi_rpc::open_msgpack(&answer.body).expect("a signed envelope");
    assert_eq!(opened.wallet, node_wallet, "signed by the node");
    let value = natsapi_rpc::value_from_msgpack(&opened.payload).unwrap();
    let ids: Vec<&str> = value["result"]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["comment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c2", "c1"], "by position: {value}");

    // JSON with x-sig; one's own rpclog entries only.
    let bob = SecretKey::generate();
    let mine = call("q2", "rpclog.list", json!({"method": "track_comment.add"}));
    let answer = h.signed("/query", &alice, &mine, Format::Json, false).await;
    assert_eq!(answer.status, 200);
    let signature = answer.headers["x-sig"].to_str().unwrap();
    let opened = natsapi_rpc::open_json(&answer.body, signature).unwrap();
    assert_eq!(opened.wallet, node_wallet);
    assert_eq!(answer.json()["result"]["entries"].as_array().unwrap().len(), 2);
    let answer = h.signed("/query", &bob, &mine.clone().with_id("q3"), Format::Json, false).await;
    assert_eq!(answer.json()["result"]["entries"].as_array().unwrap().len(), 0);

    // Refusals are signed too, and named.
    let unknown = call("q4", "track_comment.search", json!({}));
    let answer = h.signed("/query", &alice, &unknown, Format::Json, false).await;
    assert_eq!(answer.status, 400);
    natsapi_rpc::open_json(&answer.body, answer.headers["x-sig"].to_str().unwrap()).unwrap();
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("unknown method"));

    // The node key survives a restart.
    let mut h = h;
    h.restart_gateway().await;
    let (_, again) = h.get("/clusterizer").await;
    assert_eq!(again["wallet"], node["wallet"]);
}
