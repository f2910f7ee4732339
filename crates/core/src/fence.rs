//! Fencing (spec §9.6): a write that names a task and its counter runs only while that task is
//! CLAIMED at exactly that counter, so a worker whose lease ran out (a zombie) cannot write.

use crate::code::Code;
use crate::error::{DomainError, Reply, Success, TxError, quoted};
use crate::operation::Operation;
use crate::reply::{Answer, ReplyBudget};
use crate::task::TaskState;
use crate::tx::Tx;

/// The task and counter a fenced write names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The task the writer holds.
    pub task_id: String,
    /// The counter of its claim.
    pub counter: i64,
}

/// `op`, run only when `fence` (if any) holds; otherwise a 412 (41200) and nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced<O> {
    /// The fencing token, when the request carried one.
    pub fence: Option<Fence>,
    /// The operation it guards.
    pub op: O,
}

impl<O: Operation> Operation for Fenced<O> {
    type Output = O::Output;

    fn apply(self, tx: &mut dyn Tx, now: i64) -> Result<Reply<O::Output>, TxError> {
        if let Some(fence) = &self.fence {
            let holds = tx.task(&fence.task_id)?.is_some_and(|task| {
                task.state == TaskState::Claimed && task.counter == fence.counter
            });
            if !holds {
                return Ok(Err(DomainError::new(
                    Code::TaskPreconditionFailed,
                    format!(
                        "task {} is not claimed at counter {}",
                        quoted(&fence.task_id),
                        fence.counter
                    ),
                )));
            }
        }
        self.op.apply(tx, now)
    }

    fn first_promise(&self) -> Option<&str> {
        self.op.first_promise()
    }
}

impl<O: Answer> Answer for Fenced<O> {
    fn precheck(&self, budget: &ReplyBudget) -> Result<(), DomainError> {
        self.op.precheck(budget)
    }

    fn check(success: &Success<O::Output>, budget: &ReplyBudget) -> Result<(), DomainError> {
        O::check(success, budget)
    }
}

#[cfg(test)]
mod tests {
    use super::Fenced;
    use crate::operation::Operation;
    use crate::promises::ReadPromise;
    use crate::reply::{Budgeted, ReplyBudget};

    /// An operation as the transports wrap it still names the promise it reads first.
    #[test]
    fn a_wrapped_operation_names_its_promise() {
        let op = Budgeted {
            op: Fenced { fence: None, op: ReadPromise { id: "p".into() } },
            budget: ReplyBudget::UNLIMITED,
        };
        assert_eq!(op.first_promise(), Some("p"));
    }
}
