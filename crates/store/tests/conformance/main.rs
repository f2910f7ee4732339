//! Store conformance suite: one set of table-driven cases (spec §4–§7, §15.2–§15.4) run against
//! every backend, each case on a freshly opened store driven by a manual clock.
//!
//! Run with `cargo test -p natsapi-store --test conformance`. `harness::table` runs every
//! (row, backend) pair, catches each failure, and ends with one panic listing every failing
//! pair as `[backend] row: message`. Add a backend to `harness::ALL` and every case covers it.

mod atomicity;
mod complete;
mod concurrency;
mod create;
mod deadlocks;
mod durability;
mod fixtures;
mod harness;
mod locks;
mod read;
mod reply_budget;
mod roundtrip;
mod schedule_firing;
mod schedules;
mod search;
mod sql;
mod tasks;
mod timeout;
mod two_stores;
