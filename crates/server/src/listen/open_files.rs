//! The process's limit on open files. Every connection takes a file descriptor, so the listeners'
//! connection caps only protect the process if they fit under it: past the limit `accept` fails
//! and connections wait in the backlog unanswered, where the cap would have answered them `503`.
//! Many systems start services with a soft limit of 1024 and a much higher hard limit, so the
//! soft limit is raised to the hard one first.

/// Files the process keeps for other things than HTTP connections: NATS connections, database
/// files and their journals, the runtime's own descriptors.
pub const RESERVED_FILES: u64 = 128;

/// Raises the soft limit on open files to the hard limit, and returns the limit now in force;
/// `None` when there is none (or it cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::debug!(error = %e, "cannot raise the open-files limit");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection caps `caps` lowered in proportion so that together with [`RESERVED_FILES`]
/// they fit in `limit` open files (each at least 1); unchanged when they already fit.
pub fn fit_caps(caps: &[usize], limit: u64) -> Vec<usize> {
    let total: u64 = caps.iter().map(|&cap| cap as u64).sum();
    let room = limit.saturating_sub(RESERVED_FILES);
    if total <= room {
        return caps.to_vec();
    }
    caps.iter()
        .map(|&cap| usize::try_from(cap as u64 * room / total.max(1)).unwrap_or(1).max(1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_that_fit_are_kept_and_others_shrink_in_proportion() {
        assert_eq!(fit_caps(&[1024, 1024, 1024], 20_000), vec![1024, 1024, 1024]);
        assert_eq!(fit_caps(&[1024, 1024, 1024], 1024), vec![298, 298, 298]);
        assert_eq!(fit_caps(&[2048, 1024], 1024), vec![597, 298]);
        assert_eq!(fit_caps(&[10], 64), vec![1], "no room: one each");
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_open_files_limit();
        #[cfg(unix)]
        {
            let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            assert_eq!(now.current, now.maximum);
            assert_eq!(limit, now.current);
        }
        #[cfg(not(unix))]
        assert_eq!(limit, None);
    }
}
