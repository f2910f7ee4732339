//! Domain rules of natsapi.
//!
//! This crate holds the Resonate v0.7 durable-promise model and its decision tables as pure code:
//! operations read and write through the [`Tx`] trait and take the current time as an argument, so
//! every store backend runs exactly the same rules and tests can drive time by hand. Nothing here
//! opens a socket or needs an async runtime.

pub mod clock;
pub mod code;
pub mod cron;
pub mod cursor;
pub mod error;
pub mod fence;
pub mod glob;
pub mod lock;
pub mod locks;
pub mod operation;
pub mod promise;
pub mod promises;
pub mod reply;
pub mod schedule;
pub mod schedules;
pub mod sql;
pub mod task;
pub mod tasks;
pub mod time;
pub mod tx;
pub mod value;

pub use clock::{Clock, ManualClock, SystemClock};
pub use code::Code;
pub use error::{DomainError, Reply, Success, TxError};
pub use lock::{Lock, LockTx};
pub use operation::Operation;
pub use promise::{Promise, PromiseState, StateSet};
pub use reply::{Answer, Budgeted, ReplyBudget};
pub use schedule::{Schedule, ScheduleTx};
pub use sql::{Dialect, SqlRow, SqlTx, SqlValue};
pub use task::{Callback, CallbackTx, Message, MessageKind, Task, TaskState, TaskTx};
pub use tx::{PromiseTx, Tx};
pub use value::Value;
