//! The durable promise and its states.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::Value;

/// The tag that makes a timed-out promise RESOLVED instead of REJECTED_TIMEDOUT (durable sleeps).
pub const TIMEOUT_TAG: &str = "resonate:timeout";

/// The state of a promise. The numbers are the bits Resonate stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromiseState {
    /// Not completed yet.
    Pending = 1,
    /// Completed successfully.
    Resolved = 2,
    /// Completed with a failure.
    Rejected = 4,
    /// Canceled.
    RejectedCanceled = 8,
    /// Its deadline passed before anyone completed it.
    RejectedTimedout = 16,
}

impl PromiseState {
    /// Every state, in bit order.
    pub const ALL: [PromiseState; 5] = [
        PromiseState::Pending,
        PromiseState::Resolved,
        PromiseState::Rejected,
        PromiseState::RejectedCanceled,
        PromiseState::RejectedTimedout,
    ];

    /// The stored bit.
    pub fn bit(self) -> u8 {
        self as u8
    }

    /// The state for a stored bit.
    pub fn from_bit(bit: i64) -> Option<Self> {
        PromiseState::ALL.into_iter().find(|s| i64::from(s.bit()) == bit)
    }

    /// The upper-case wire name.
    pub fn name(self) -> &'static str {
        match self {
            PromiseState::Pending => "PENDING",
            PromiseState::Resolved => "RESOLVED",
            PromiseState::Rejected => "REJECTED",
            PromiseState::RejectedCanceled => "REJECTED_CANCELED",
            PromiseState::RejectedTimedout => "REJECTED_TIMEDOUT",
        }
    }
}

impl fmt::Display for PromiseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown promise state {0:?} (expected PENDING, RESOLVED, REJECTED, REJECTED_CANCELED or REJECTED_TIMEDOUT)"
)]
pub struct UnknownState(pub String);

impl FromStr for PromiseState {
    type Err = UnknownState;

    /// Parses a state name, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PromiseState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

impl Serialize for PromiseState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for PromiseState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of states, stored as a bit mask (used by search).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateSet(pub u8);

impl StateSet {
    /// All five states.
    pub const ALL: StateSet = StateSet(0b1_1111);

    /// The set holding the given states.
    pub fn of(states: impl IntoIterator<Item = PromiseState>) -> Self {
        StateSet(states.into_iter().fold(0, |mask, s| mask | s.bit()))
    }

    /// Whether `state` is in the set.
    pub fn contains(self, state: PromiseState) -> bool {
        self.0 & state.bit() != 0
    }
}

/// A durable promise in Resonate's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    /// The id chosen by the client; may contain `/`.
    pub id: String,
    /// The current state.
    pub state: PromiseState,
    /// What the promise was created with.
    pub param: Value,
    /// What it was completed with.
    pub value: Value,
    /// Absolute deadline, epoch ms.
    pub timeout: i64,
    /// The idempotency key of the create that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key_for_create: Option<String>,
    /// The idempotency key of the complete that completed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key_for_complete: Option<String>,
    /// Free-form string tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// When it was created, epoch ms.
    pub created_on: i64,
    /// When it was completed, epoch ms (its deadline when it timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_on: Option<i64>,
    /// Insertion order, for newest-first search and cursors. Never serialized.
    #[serde(skip)]
    pub sort_id: i64,
}

impl Promise {
    /// Whether it is still pending but its deadline has come: it times out on the next touch.
    pub fn is_due(&self, now: i64) -> bool {
        self.state == PromiseState::Pending && now >= self.timeout
    }

    /// The state this promise reaches when its deadline passes.
    pub fn timeout_state(&self) -> PromiseState {
        if self.tags.get(TIMEOUT_TAG).map(String::as_str) == Some("true") {
            PromiseState::Resolved
        } else {
            PromiseState::RejectedTimedout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_parse_ignoring_case() {
        assert_eq!("pending".parse::<PromiseState>().unwrap(), PromiseState::Pending);
        assert_eq!(
            "Rejected_Canceled".parse::<PromiseState>().unwrap(),
            PromiseState::RejectedCanceled
        );
        let err = "done".parse::<PromiseState>().unwrap_err();
        assert!(err.to_string().contains("\"done\""));
    }

    #[test]
    fn minimal_promise_json_matches_resonate() {
        let p = Promise {
            id: "foo".into(),
            state: PromiseState::Pending,
            param: Value::default(),
            value: Value::default(),
            timeout: 0,
            idempotency_key_for_create: None,
            idempotency_key_for_complete: None,
            tags: BTreeMap::new(),
            created_on: 5,
            completed_on: None,
            sort_id: 1,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"id":"foo","state":"PENDING","param":{},"value":{},"timeout":0,"createdOn":5}"#
        );
    }

    #[test]
    fn state_set_masks() {
        let set = StateSet::of([PromiseState::Pending, PromiseState::RejectedTimedout]);
        assert!(set.contains(PromiseState::Pending));
        assert!(!set.contains(PromiseState::Resolved));
    }
}
