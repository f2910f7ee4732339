//! Deadline arithmetic shared by every operation.

/// Timeouts below this many milliseconds (about 2001-09-09) are read as durations from now.
pub const ABSOLUTE_DEADLINE_THRESHOLD: i64 = 1_000_000_000_000;

/// Turns a client's `timeout` into an absolute epoch-ms deadline. Resonate sends absolute
/// deadlines; a smaller value (`3600000` in the README's examples) means "this many ms from now". Saturates.
pub fn deadline_from(timeout: i64, now: i64) -> i64 {
    if timeout < ABSOLUTE_DEADLINE_THRESHOLD { now.saturating_add(timeout.max(0)) } else { timeout }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_relative_and_large_are_absolute() {
        let now = 1_700_000_000_000;
        assert_eq!(deadline_from(3_600_000, now), now + 3_600_000);
        assert_eq!(deadline_from(0, now), now);
        assert_eq!(deadline_from(1_800_000_000_000, now), 1_800_000_000_000);
        assert_eq!(deadline_from(i64::MAX, now), i64::MAX);
        assert_eq!(deadline_from(ABSOLUTE_DEADLINE_THRESHOLD - 1, i64::MAX - 5), i64::MAX);
    }
}
