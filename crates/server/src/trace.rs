//! W3C trace context (`traceparent`, `tracestate`) carried in NATS headers or the envelope's
//! `metadata`, so a request joins its caller's trace.

use std::collections::BTreeMap;
use std::future::Future;

tokio::task_local! {
    /// The trace context of the request being served, for the records it creates.
    static CURRENT: TraceContext;
}

/// Runs `future` with `trace` as the current request's trace context, so the task messages it
/// creates carry the trace to their workers.
pub async fn scope<F: Future>(trace: TraceContext, future: F) -> F::Output {
    CURRENT.scope(trace, future).await
}

/// The current request's trace context as message headers (empty outside a request).
pub fn current_head() -> BTreeMap<String, String> {
    CURRENT.try_with(TraceContext::head).unwrap_or_default()
}

/// The trace context of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// A valid `traceparent` header value.
    pub traceparent: Option<String>,
    /// The `tracestate` that travels with it.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Builds a context from header-like lookups; an invalid `traceparent` is ignored (with its
    /// `tracestate`), as the W3C spec requires.
    pub fn from_lookup<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> Self {
        let traceparent = lookup("traceparent").map(str::trim).filter(|v| is_valid_traceparent(v));
        let tracestate = traceparent
            .and(lookup("tracestate"))
            .map(str::trim)
            .filter(|v| is_valid_tracestate(v))
            .map(str::to_owned);
        TraceContext { traceparent: traceparent.map(str::to_owned), tracestate }
    }

    /// The 32-hex-digit trace id, when there is a trace.
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref().and_then(|tp| tp.get(3..35))
    }

    /// The context as headers: `traceparent` and `tracestate` when present.
    pub fn head(&self) -> BTreeMap<String, String> {
        let mut head = BTreeMap::new();
        if let Some(tp) = &self.traceparent {
            head.insert("traceparent".to_owned(), tp.clone());
        }
        if let Some(ts) = &self.tracestate {
            head.insert("tracestate".to_owned(), ts.clone());
        }
        head
    }

    /// Whether there is nothing to propagate.
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none()
    }
}

/// Longest `tracestate` passed on (the W3C limit is 512 characters).
pub const MAX_TRACESTATE_LEN: usize = 512;

/// Printable ASCII only (so it is a valid header value) and at most 512 characters; anything
/// else is dropped rather than passed on.
pub fn is_valid_tracestate(value: &str) -> bool {
    value.len() <= MAX_TRACESTATE_LEN && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// `version-traceid-parentid-flags`, lower-case hex, ids not all zero, version not `ff`.
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    match parts.as_slice() {
        [version, trace, parent, flags, rest @ ..] => {
            hex(version, 2)
                && *version != "ff"
                && (rest.is_empty() || *version != "00")
                && hex(trace, 32)
                && nonzero(trace)
                && hex(parent, 16)
                && nonzero(parent)
                && hex(flags, 2)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn valid_traceparent_is_kept_with_its_state() {
        let ctx = TraceContext::from_lookup(|k| match k {
            "traceparent" => Some(TP),
            "tracestate" => Some("congo=t61rcWkgMzE"),
            _ => None,
        });
        assert_eq!(ctx.traceparent.as_deref(), Some(TP));
        assert_eq!(ctx.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
        assert_eq!(ctx.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
    }

    #[test]
    fn unsafe_or_oversized_tracestate_is_dropped() {
        let long = "a=".to_owned() + &"b".repeat(600);
        for bad in ["a=b\r\nX: y", "a=\u{7f}", long.as_str()] {
            let ctx = TraceContext::from_lookup(|k| match k {
                "traceparent" => Some(TP),
                "tracestate" => Some(bad),
                _ => None,
            });
            assert_eq!(ctx.traceparent.as_deref(), Some(TP));
            assert_eq!(ctx.tracestate, None, "{bad:?}");
        }
    }

    #[test]
    fn invalid_traceparent_is_dropped_with_its_state() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let ctx = TraceContext::from_lookup(|k| match k {
                "traceparent" => Some(bad),
                "tracestate" => Some("a=b"),
                _ => None,
            });
            assert!(ctx.is_empty(), "{bad}");
            assert_eq!(ctx.tracestate, None);
        }
    }
}
