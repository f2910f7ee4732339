//! Reply budgets: no write without its answer.
//!
//! A transport carries each answer in one message of bounded size (a NATS server's
//! `max_payload`). A write whose answer cannot be carried must not happen: its client would see an
//! error for a write that stands, and every retry would be refused by it (a task claimed with no
//! worker told, answered 403 until its lease ran out). So every operation a client asks for runs
//! as [`Budgeted`]: when its success would not fit the [`ReplyBudget`], its writes are undone in
//! the same transaction and the client gets a 400 naming the size and the limit.
//!
//! Refusing is not enough on its own: a task whose claim can never fit would be refused forever.
//! Its claim carries two promises, the root of the execution and the leaf that completed, so the
//! budget also bounds what a promise may hold: a create or complete that would make a promise
//! larger than half a claim's room is refused the same way. Every promise stored under the budget
//! then fits in any reply that names it (a read, a search page, a claim beside another promise).

use serde::Serialize;

use crate::code::Code;
use crate::error::{DomainError, Reply, Success, TxError, quoted};
use crate::operation::Operation;
use crate::promise::Promise;
use crate::promises::encoded_len;
use crate::tasks::{CLAIM_FRAME_LEN, claimed_len, claimed_len_of};
use crate::tx::Tx;

/// How many bytes of resource JSON one reply may carry (the transport's limit less its envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBudget {
    max_bytes: usize,
}

impl ReplyBudget {
    /// No limit: nothing is measured.
    pub const UNLIMITED: ReplyBudget = ReplyBudget { max_bytes: usize::MAX };

    /// Replies of at most `max_bytes` bytes of resource JSON.
    pub fn new(max_bytes: usize) -> Self {
        ReplyBudget { max_bytes }
    }

    /// Most bytes of resource JSON in one reply.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether this budget limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes == usize::MAX
    }

    /// Most bytes a promise may take in a claim's answer, so that a claim carrying two of them
    /// (root and leaf) fits in one reply.
    pub fn max_promise_bytes(&self) -> usize {
        self.max_bytes.saturating_sub(CLAIM_FRAME_LEN) / 2
    }

    /// A 400 unless a reply of `len` bytes fits.
    pub fn check_reply(&self, len: usize) -> Result<(), DomainError> {
        if len <= self.max_bytes {
            return Ok(());
        }
        Err(DomainError::bad_request(format!(
            "the reply would be {len} bytes, over the {} bytes one reply may carry; nothing was \
             changed",
            self.max_bytes
        )))
    }

    /// A 400 unless `len` bytes of a request's contents (a param or value, tags, the id) can
    /// fit in a promise of at most [`max_promise_bytes`](Self::max_promise_bytes): a lower bound
    /// of the promise the request would store, known before anything is written.
    pub fn check_contents(&self, what: &str, len: usize) -> Result<(), DomainError> {
        let limit = self.max_promise_bytes();
        if len <= limit {
            return Ok(());
        }
        Err(DomainError::bad_request(format!(
            "{what} take {len} bytes; a promise may take at most {limit} in a reply, so that a \
             task claim, which carries two promises, fits in one reply; nothing was changed"
        )))
    }

    /// A 400 unless `promise` fits in a task claim beside another promise of the same size.
    pub fn check_promise(&self, promise: &Promise) -> Result<(), DomainError> {
        self.check_promise_len(promise, claimed_len(promise))
    }

    /// [`check_promise`](Self::check_promise) of `promise`, whose claimed form takes `len`.
    fn check_promise_len(&self, promise: &Promise, len: usize) -> Result<(), DomainError> {
        let limit = self.max_promise_bytes();
        if len <= limit {
            return Ok(());
        }
        Err(DomainError::bad_request(format!(
            "promise {} would take {len} bytes in a reply; a promise may take at most {limit}, \
             so that a task claim, which carries two promises, fits in one reply; nothing was \
             changed",
            quoted(&promise.id)
        )))
    }
}

/// An operation whose success is sent to a client, and what its success must satisfy to be
/// committed under a reply budget.
pub trait Answer: Operation<Output: Serialize> {
    /// Refuses, before anything is written, a request whose own contents are already too large
    /// for the promise it would store (see [`ReplyBudget::check_contents`]). Refusing after the
    /// write would cost the store a rollback of the whole group commit the write was part of,
    /// and a replay of the others; [`check`](Self::check) stays the exact test.
    fn precheck(&self, _budget: &ReplyBudget) -> Result<(), DomainError> {
        Ok(())
    }

    /// Refuses a success that must not commit under `budget`. By default its reply must fit;
    /// operations that store a promise's contents also keep that promise within
    /// [`ReplyBudget::max_promise_bytes`].
    fn check(success: &Success<Self::Output>, budget: &ReplyBudget) -> Result<(), DomainError> {
        budget.check_reply(encoded_len(&success.value))
    }
}

/// [`Answer::check`] for an operation whose answer is the promise it stores: the promise is
/// serialized once, for both measures (see [`check_stored_promise`]).
pub fn check_stored(success: &Success<Promise>, budget: &ReplyBudget) -> Result<(), DomainError> {
    let len = encoded_len(&success.value);
    if success.code == Code::Created {
        budget.check_promise_len(&success.value, claimed_len_of(&success.value.id, len))?;
    }
    budget.check_reply(len)
}

/// [`Answer::check`] for an operation whose 201 stores the contents of `promise`: that promise
/// must stay within [`ReplyBudget::max_promise_bytes`], and the reply within the budget. A 200
/// (a replay, a timeout) stored nothing new.
pub fn check_stored_promise<T: Serialize>(
    success: &Success<T>,
    promise: &Promise,
    budget: &ReplyBudget,
) -> Result<(), DomainError> {
    if success.code == Code::Created {
        budget.check_promise(promise)?;
    }
    budget.check_reply(encoded_len(&success.value))
}

/// `op` as a client asked for it: a success that fails [`Answer::check`] under `budget` is
/// refused, and the backend undoes whatever `op` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgeted<O> {
    /// The operation.
    pub op: O,
    /// The room its reply has.
    pub budget: ReplyBudget,
}

impl<O: Answer> Operation for Budgeted<O> {
    type Output = O::Output;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<O::Output>, TxError> {
        if !self.budget.is_unlimited() {
            self.op.precheck(&self.budget).map_err(TxError::refused)?;
        }
        let reply = self.op.apply(tx, now)?;
        if let Ok(success) = &reply
            && !self.budget.is_unlimited()
            && let Err(refusal) = O::check(success, &self.budget)
        {
            return Err(TxError::refused(refusal));
        }
        Ok(reply)
    }

    /// The read path writes nothing, so nothing needs holding back there: its replies are not
    /// measured (a reply too large for the transport is then the transport's error).
    fn read_attempt(&self) -> Option<Self> {
        let op = self.op.read_attempt()?;
        Some(Budgeted { op, budget: ReplyBudget::UNLIMITED })
    }

    fn scans(&self) -> bool {
        self.op.scans()
    }

    fn first_promise(&self) -> Option<&str> {
        self.op.first_promise()
    }
}
