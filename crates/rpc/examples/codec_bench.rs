//! What the codec costs per call on this machine: signing, and opening (recovering the signer)
//! in both formats. The gateway and the worker each open every call once.
//!
//! `cargo run --release -p natsapi-rpc --example codec_bench [CALLS]`

use std::time::Instant;

use natsapi_rpc::{Call, Format, SecretKey, open_json, open_msgpack, sign_call};

fn main() {
    let calls: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let key = SecretKey::generate();
    let params = serde_json::json!({"comment_id": "c1", "track_id": 123, "position_ms": 3125,
        "comment": "sick drop"});
    let call = Call::new("track_comment.add.c1", "track_comment.add", params);
    let envelope = sign_call(&key, &call, Format::MsgPack, false);
    let json = sign_call(&key, &call, Format::Json, false);
    let signature = json.signature_header.clone().unwrap_or_default();
    let time = |what: &str, run: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..calls {
            run();
        }
        println!(
            "{what:<24} {:>8.1} µs per call",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
        );
    };
    time("sign (msgpack)", &mut || drop(sign_call(&key, &call, Format::MsgPack, false)));
    time("open_msgpack", &mut || assert!(open_msgpack(&envelope.body).is_ok()));
    time("open_json", &mut || assert!(open_json(&json.body, &signature).is_ok()));
}
