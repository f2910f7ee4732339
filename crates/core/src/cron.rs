//! Cron expressions for schedules, with the syntax of Resonate's parser (robfig/cron with optional
//! seconds): 5 fields (`minute hour day-of-month month day-of-week`), 6 fields (seconds first), the
//! descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`, and
//! `@every <duration>` (Go duration syntax: `1h30m`, `90s`, `1.5m`).
//!
//! Fields are evaluated by the `croner` crate, in UTC (Resonate uses the server's local zone; a
//! fixed zone keeps every process and backend in agreement). `@every` follows robfig/cron: the
//! interval is whole seconds (at least one), and the next tick after `t` is `t` rounded down to
//! the second plus the interval.
//!
//! So the scheduler's granularity is one second, the finest a 6-field expression can say. A new
//! schedule is parsed with [`CronSchedule::parse_new`], which refuses an `@every` interval the
//! scheduler would not keep (`@every 1ms` would fire once a second, `@every 1500ms` every
//! second), naming that granularity. Stored schedules keep being read with
//! [`CronSchedule::parse`], which rounds as robfig/cron does, so one stored by an older version
//! still fires.

use std::fmt;
use std::str::FromStr;

use chrono::DateTime;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::quoted;

/// A cron expression that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron {}: {reason}", quoted(.expr))]
pub struct InvalidCron {
    /// The expression as given.
    pub expr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed cron expression or descriptor.
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// Calendar fields, evaluated by croner.
    Fields(Box<Cron>),
    /// `@every`: a fixed interval in ms (whole seconds).
    Every(i64),
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.text).finish()
    }
}

/// The descriptors and the 5-field expressions they stand for.
const DESCRIPTORS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

impl CronSchedule {
    /// Parses a cron expression or descriptor; the error names what is wrong. An `@every`
    /// interval is rounded as robfig/cron does: down to whole seconds, at least one.
    pub fn parse(expr: &str) -> Result<Self, InvalidCron> {
        CronSchedule::parse_with(expr, Rounding::Round)
    }

    /// Parses the cron of a new schedule: as [`CronSchedule::parse`], but an `@every` interval
    /// that is not a whole number of seconds, at least one, is refused: the scheduler would not
    /// keep it.
    pub fn parse_new(expr: &str) -> Result<Self, InvalidCron> {
        CronSchedule::parse_with(expr, Rounding::Refuse)
    }

    fn parse_with(expr: &str, rounding: Rounding) -> Result<Self, InvalidCron> {
        let invalid = |reason: String| InvalidCron { expr: expr.to_owned(), reason };
        let text = expr.trim();
        if text.is_empty() {
            return Err(invalid("cron must not be empty".into()));
        }
        let kind = if let Some(descriptor) = text.strip_prefix('@') {
            parse_descriptor(descriptor, rounding).map_err(invalid)?
        } else {
            parse_fields(text).map_err(invalid)?
        };
        let schedule = CronSchedule { text: text.to_owned(), kind };
        Ok(schedule)
    }

    /// The first tick strictly after `after_ms` (epoch ms, UTC), or `None` when there is none
    /// that can be represented (a pattern that never matches, or a time past year 9999).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let second = after_ms.div_euclid(1000);
        match &self.kind {
            Kind::Every(interval) => second.checked_mul(1000)?.checked_add(*interval),
            Kind::Fields(cron) => {
                let start = DateTime::from_timestamp(second, 0)?.naive_utc();
                let next = cron.find_next_occurrence(&start, false).ok()?;
                next.and_utc().timestamp().checked_mul(1000)
            }
        }
    }

    /// The expression as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for CronSchedule {
    type Err = InvalidCron;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

/// The scheduler's granularity: ticks fall on whole seconds.
const SECOND_NANOS: i128 = 1_000_000_000;

/// What to do with an `@every` interval the scheduler cannot keep exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    /// Round it as robfig/cron does (stored schedules).
    Round,
    /// Refuse it (new schedules).
    Refuse,
}

fn parse_descriptor(descriptor: &str, rounding: Rounding) -> Result<Kind, String> {
    let lower = descriptor.to_ascii_lowercase();
    if let Some(duration) = lower.strip_prefix("every") {
        let duration = duration.trim();
        if duration.is_empty() {
            return Err("@every needs a duration, e.g. \"@every 1m\"".into());
        }
        let nanos = parse_go_duration(duration)?;
        if nanos <= 0 {
            return Err(format!("@every duration {duration:?} must be positive"));
        }
        if rounding == Rounding::Refuse {
            if nanos < SECOND_NANOS {
                return Err(format!(
                    "@every {duration} is finer than the scheduler's granularity of one second; \
                     the interval must be at least 1s"
                ));
            }
            if nanos % SECOND_NANOS != 0 {
                let below = nanos / SECOND_NANOS;
                return Err(format!(
                    "@every {duration} is not a whole number of seconds, the scheduler's \
                     granularity; use {below}s or {}s",
                    below + 1
                ));
            }
        }
        // robfig/cron: whole seconds, at least one.
        let seconds = (nanos / SECOND_NANOS).max(1);
        let ms = i64::try_from(seconds.saturating_mul(1000))
            .map_err(|_| format!("@every duration {duration:?} is too long"))?;
        return Ok(Kind::Every(ms));
    }
    let name = format!("@{lower}");
    match DESCRIPTORS.iter().find(|(d, _)| *d == name) {
        Some((_, fields)) => parse_fields(fields),
        None => {
            let known: Vec<&str> = DESCRIPTORS.iter().map(|(d, _)| *d).collect();
            Err(format!(
                "unknown descriptor {}; expected {} or @every <duration>",
                quoted(&name),
                known.join(", ")
            ))
        }
    }
}

fn parse_fields(text: &str) -> Result<Kind, String> {
    let count = text.split_whitespace().count();
    if count != 5 && count != 6 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds \
             first), got {count}"
        ));
    }
    let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
    let cron = parser.parse(text).map_err(|e| e.to_string())?;
    Ok(Kind::Fields(Box::new(cron)))
}

/// Parses a Go `time.Duration` string (`300ms`, `1.5h`, `2h45m`) into nanoseconds.
fn parse_go_duration(text: &str) -> Result<i128, String> {
    let bad = |why: &str| format!("invalid duration {text:?}: {why}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad("no number"));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() || number == "." {
            return Err(bad("expected a number"));
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(bad("missing unit (ns, us, ms, s, m or h)")),
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if fraction.contains('.') {
            return Err(bad("more than one decimal point"));
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad("number too large"))?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(|| bad("too large"))?;
        let mut divisor: i128 = 1;
        for digit in fraction.bytes().take(18) {
            divisor *= 10;
            part += i128::from(digit - b'0') * scale / divisor;
        }
        total = total.checked_add(part).ok_or_else(|| bad("too large"))?;
        rest = after;
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20Z.
    const T: i64 = 1_700_000_000_000;

    fn next(expr: &str, after: i64) -> Option<i64> {
        CronSchedule::parse(expr).unwrap_or_else(|e| panic!("{e}")).next_after(after)
    }

    #[test]
    fn five_fields_tick_on_the_minute_and_six_on_the_second() {
        // T is 22:13:20; the next whole minute is 22:14:00.
        assert_eq!(next("* * * * *", T), Some(T + 40_000));
        assert_eq!(next("* * * * * *", T), Some(T + 1_000));
        assert_eq!(next("* * * * * *", T + 1), Some(T + 1_000), "strictly after, from any ms");
        assert_eq!(next("*/10 * * * * *", T), Some(T + 10_000));
        assert_eq!(next("0 0 * * *", T), Some(1_700_006_400_000), "midnight UTC");
    }

    #[test]
    fn descriptors() {
        assert_eq!(next("@daily", T), next("0 0 * * *", T));
        assert_eq!(next("@midnight", T), next("0 0 * * *", T));
        assert_eq!(next("@HOURLY", T), Some(T + 2_800_000));
        assert_eq!(next("@every 1s", T), Some(T + 1_000));
        assert_eq!(next("@every 1s", T + 999), Some(T + 1_000));
        assert_eq!(next("@every 1m30s", T), Some(T + 90_000));
        assert_eq!(next("@every 1.5m", T), Some(T + 90_000));
        assert_eq!(next("@every 10ms", T), Some(T + 1_000), "at least a second");
        assert_eq!(next("@every 2500ms", T), Some(T + 2_000), "whole seconds");
    }

    #[test]
    fn errors_name_the_problem() {
        let reason = |expr: &str| CronSchedule::parse(expr).unwrap_err().to_string();
        assert!(reason("").contains("empty"));
        assert!(reason("* * *").contains("got 3"), "{}", reason("* * *"));
        assert!(reason("0 0 * * * * 2030").contains("got 7"));
        assert!(reason("61 * * * *").contains("61"), "{}", reason("61 * * * *"));
        assert!(reason("x * * * *").contains("'X'"), "{}", reason("x * * * *"));
        assert!(reason("@fortnightly").contains("unknown descriptor \"@fortnightly\""));
        assert!(reason("@every").contains("needs a duration"));
        assert!(reason("@every 5").contains("missing unit"));
        assert!(reason("@every 5d").contains("unknown unit \"d\""));
        assert!(reason("@every -5s").contains("positive"));
        assert!(reason("bad cron").starts_with("invalid cron \"bad cron\": "));
    }

    #[test]
    fn a_new_schedule_may_not_ask_for_an_interval_the_scheduler_would_round() {
        let reason = |expr: &str| CronSchedule::parse_new(expr).unwrap_err().to_string();
        for finer in ["@every 1ms", "@every 999ms", "@every 0.5s", "@every 10us"] {
            let reason = reason(finer);
            assert!(reason.contains("granularity of one second"), "{reason}");
            assert!(reason.contains("at least 1s"), "{reason}");
        }
        let reason = reason("@every 1500ms");
        assert!(reason.contains("not a whole number of seconds"), "{reason}");
        assert!(reason.ends_with("use 1s or 2s"), "{reason}");
        for kept in ["@every 1s", "@every 1m30s", "@every 1.5m", "@every 1000ms", "*/1 * * * * *"] {
            assert!(CronSchedule::parse_new(kept).is_ok(), "{kept}");
        }
        // A schedule stored before keeps firing, rounded.
        assert_eq!(next("@every 1ms", T), Some(T + 1_000));
    }

    #[test]
    fn a_pattern_that_never_matches_has_no_next_tick() {
        assert_eq!(next("0 0 30 2 *", T), None);
        assert_eq!(next("* * * * *", i64::MAX), None);
        assert_eq!(next("@every 1s", i64::MAX), None);
    }
}
