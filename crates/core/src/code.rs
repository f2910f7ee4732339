//! The five-digit status codes of the Resonate server. The HTTP-style status is `code / 100`.

use serde::{Serialize, Serializer};

/// A Resonate status code: success codes (200xx) and the error codes of the spec (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 20000: the request was served without a state change (read, deduplicated replay).
    Ok,
    /// 20100: the request changed state (a promise was created or completed).
    Created,
    /// 20400: the request succeeded and has no body.
    NoContent,
    /// 40000: the request is malformed or a field is invalid.
    BadRequest,
    /// 40300: the promise is already resolved.
    AlreadyResolved,
    /// 40301: the promise is already rejected.
    AlreadyRejected,
    /// 40302: the promise is already canceled.
    AlreadyCanceled,
    /// 40303: the promise already timed out.
    AlreadyTimedOut,
    /// 40304: the lock is held by another execution.
    LockAlreadyAcquired,
    /// 40305: the task is already claimed.
    TaskAlreadyClaimed,
    /// 40306: the task is already completed (or timed out).
    TaskAlreadyCompleted,
    /// 40307: the counter does not match the task's.
    TaskInvalidCounter,
    /// 40308: the task is not in a state that allows this.
    TaskInvalidState,
    /// 40400: no promise has this id.
    PromiseNotFound,
    /// 40401: no schedule has this id.
    ScheduleNotFound,
    /// 40402: no lock matches.
    LockNotFound,
    /// 40403: no task has this id.
    TaskNotFound,
    /// 40900: a promise with this id already exists.
    PromiseAlreadyExists,
    /// 40901: a schedule with this id already exists.
    ScheduleAlreadyExists,
    /// 41200: the fencing task is not claimed at the given counter.
    TaskPreconditionFailed,
    /// 50000: the store failed.
    StoreError,
    /// 50300: the server is shutting down or overloaded.
    Unavailable,
}

impl Code {
    /// The five-digit number of this code.
    pub fn number(self) -> u32 {
        match self {
            Code::Ok => 20000,
            Code::Created => 20100,
            Code::NoContent => 20400,
            Code::BadRequest => 40000,
            Code::AlreadyResolved => 40300,
            Code::AlreadyRejected => 40301,
            Code::AlreadyCanceled => 40302,
            Code::AlreadyTimedOut => 40303,
            Code::LockAlreadyAcquired => 40304,
            Code::TaskAlreadyClaimed => 40305,
            Code::TaskAlreadyCompleted => 40306,
            Code::TaskInvalidCounter => 40307,
            Code::TaskInvalidState => 40308,
            Code::PromiseNotFound => 40400,
            Code::ScheduleNotFound => 40401,
            Code::LockNotFound => 40402,
            Code::TaskNotFound => 40403,
            Code::PromiseAlreadyExists => 40900,
            Code::ScheduleAlreadyExists => 40901,
            Code::TaskPreconditionFailed => 41200,
            Code::StoreError => 50000,
            Code::Unavailable => 50300,
        }
    }

    /// The HTTP-style status: the five-digit number divided by 100.
    pub fn status(self) -> u16 {
        (self.number() / 100) as u16
    }

    /// Whether this code reports success.
    pub fn is_success(self) -> bool {
        self.number() < 30000
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_number_divided_by_hundred() {
        assert_eq!(Code::Created.status(), 201);
        assert_eq!(Code::AlreadyTimedOut.status(), 403);
        assert_eq!(Code::PromiseAlreadyExists.status(), 409);
        assert!(Code::NoContent.is_success());
        assert!(!Code::PromiseNotFound.is_success());
    }
}
