//! Task delivery: resolving a task's recv to the destination its message goes to.

pub mod recv;

pub use recv::{Cast, Destination, Recv, RecvError, Targets};
