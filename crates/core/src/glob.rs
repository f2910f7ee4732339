//! Promise id patterns for search: `*` matches any run of characters; everything else, `%` and
//! `_` included, matches itself.

/// Whether `id` matches `pattern`, where `*` is the only wildcard.
pub fn matches(pattern: &str, id: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = id.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        // No `*` at all: the whole id must equal the pattern.
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_run() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("foo.*", "foo.a"));
        assert!(!matches("foo.*", "a.foo"));
        assert!(matches("*.bar", "a.bar"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(matches("a**", "a"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn percent_and_underscore_are_literal() {
        assert!(!matches("a%", "abc"));
        assert!(matches("a%", "a%"));
        assert!(!matches("a_c", "abc"));
        assert!(matches("a_c", "a_c"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }
}
