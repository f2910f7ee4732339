//! How old (or how far ahead) a call's signed timestamp may be. A call with `ts` outside the
//! window is refused before anything is stored, so a captured call cannot be sent again later;
//! when timestamps are required, a call without one is refused too.

use std::time::Duration;

/// The freshness rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// How far `ts` may be from the gateway's clock, either way.
    pub window: Duration,
    /// Whether every call must carry `ts`.
    pub require_ts: bool,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness { window: Duration::from_secs(300), require_ts: false }
    }
}

impl Freshness {
    /// Checks `ts` against `now` (both epoch ms); the error names the problem.
    pub fn check(&self, ts: Option<i64>, now: i64) -> Result<(), String> {
        let window = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        match ts {
            None if self.require_ts => Err(
                "ts: this gateway requires a signed timestamp (epoch milliseconds) in every call"
                    .into(),
            ),
            None => Ok(()),
            Some(ts) if now.saturating_sub(ts) > window => Err(format!(
                "ts: the call is stale: signed at {ts}, {} ms before the gateway's clock \
                 (the window is {window} ms); sign it again",
                now.saturating_sub(ts)
            )),
            Some(ts) if ts.saturating_sub(now) > window => Err(format!(
                "ts: the call is from the future: signed at {ts}, {} ms after the gateway's \
                 clock (the window is {window} ms)",
                ts.saturating_sub(now)
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_outside_the_window_are_refused_either_way() {
        let rule = Freshness { window: Duration::from_secs(10), require_ts: false };
        assert!(rule.check(None, 100_000).is_ok());
        assert!(rule.check(Some(90_000), 100_000).is_ok());
        assert!(rule.check(Some(110_000), 100_000).is_ok());
        assert!(rule.check(Some(89_999), 100_000).unwrap_err().contains("stale"));
        assert!(rule.check(Some(110_001), 100_000).unwrap_err().contains("future"));
        assert!(rule.check(Some(i64::MIN), i64::MAX).is_err());
        let required = Freshness { require_ts: true, ..rule };
        assert!(required.check(None, 100_000).unwrap_err().contains("requires"));
    }
}
