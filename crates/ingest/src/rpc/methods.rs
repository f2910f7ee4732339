//! The methods a signed call may name, each a Rust type registered by name with the schema of its
//! params. The gateway looks a call's method up and checks its params before anything is stored
//! (an unknown method or params that do not fit are a 4xx); the worker runs the method in the
//! transaction that records the call in `rpclog`, once per `(wallet, id)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use natsapi_core::sql::SqlTx;
use natsapi_rpc::Wallet;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::PartialSchema;

use crate::handler::ApplyError;

/// The call being applied, as a method sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The signer.
    pub wallet: &'a Wallet,
    /// The call's id (unique per wallet).
    pub id: &'a str,
    /// The signed timestamp (epoch ms), when the call has one.
    pub ts: Option<i64>,
    /// The call's JetStream stream sequence: later calls have larger ones.
    pub stream_sequence: u64,
    /// When the gateway received it (epoch ms).
    pub received_at: i64,
    /// The time of the transaction (epoch ms).
    pub now: i64,
}

/// A method of signed calls: its name, its params type (which serde reads and utoipa describes)
/// and what it does in the worker's transaction.
pub trait RpcMethod: Send + Sync + 'static {
    /// The params, read from the call's `params` (an object, or null when the call has none).
    type Params: DeserializeOwned + PartialSchema;

    /// The method's name, as calls send it: ASCII letters, digits, `_` and `-` in dot-separated
    /// parts (it becomes the last tokens of the call's NATS subject).
    fn name(&self) -> &'static str;

    /// Checks what serde cannot (lengths, ranges); the error names the field. The gateway refuses
    /// a call that fails it; the default accepts everything serde read.
    fn check(&self, params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Applies one call, the first time the worker records it. An error rolls back what the call
    /// wrote; [`ApplyError::Permanent`] dead-letters it at once, the other kinds retry it. Like a
    /// [`crate::handler::MessageHandler`], the call may be repeated for the same delivery (only
    /// the writes of the run that commits stay), so nothing may be done outside `tx`.
    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        params: Self::Params,
    ) -> Result<(), ApplyError>;
}

/// A registered method, its params type erased.
trait Registered: Send + Sync {
    fn check(&self, params: &Value) -> Result<(), String>;
    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        params: &Value,
    ) -> Result<(), ApplyError>;
    fn schema(&self) -> Value;
}

struct Typed<M>(M);

/// Reads `params` as `P`, naming the field at fault.
pub(crate) fn read_params<P: DeserializeOwned>(params: &Value) -> Result<P, String> {
    if crate::mapping::has_nul(params) {
        return Err(
            "params: a string contains the NUL character, which PostgreSQL cannot store".into()
        );
    }
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { "params".to_owned() } else { format!("params.{path}") };
        format!("{at}: {}", e.into_inner())
    })
}

impl<M: RpcMethod> Registered for Typed<M> {
    fn check(&self, params: &Value) -> Result<(), String> {
        self.0.check(&read_params::<M::Params>(params)?)
    }

    fn apply(
        &self,
        tx: &mut dyn SqlTx,
        call: &CallContext<'_>,
        params: &Value,
    ) -> Result<(), ApplyError> {
        let params = read_params::<M::Params>(params).map_err(ApplyError::Permanent)?;
        self.0.check(&params).map_err(ApplyError::Permanent)?;
        self.0.apply(tx, call, params)
    }

    fn schema(&self) -> Value {
        serde_json::to_value(M::Params::schema()).unwrap_or(Value::Null)
    }
}

/// A method name that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodNameError {
    /// Not dot-separated parts of ASCII letters, digits, `_` and `-`.
    #[error(
        "method name {0:?} is not dot-separated parts of ASCII letters, digits, '_' and '-' \
         (at most 128 characters)"
    )]
    Invalid(String),
    /// Registered twice.
    #[error("method {0:?} is registered twice")]
    Twice(String),
}

/// Whether `name` is a method name: 1 to 128 characters, non-empty dot-separated parts of ASCII
/// letters, digits, `_` and `-` (so that it is a valid run of NATS subject tokens).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 128
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// The methods of a gateway and its workers, by name.
#[derive(Clone, Default)]
pub struct Methods {
    by_name: Arc<BTreeMap<String, Arc<dyn Registered>>>,
}

impl std::fmt::Debug for Methods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

impl Methods {
    /// No methods: every call is refused as naming an unknown method.
    pub fn none() -> Self {
        Methods::default()
    }

    /// The methods natsapi ships: `track_comment.add`, `track_comment.update` and
    /// `track_comment.delete` (see [`super::track_comments`]).
    pub fn shipped() -> Self {
        let mut methods = Methods::none();
        for result in [
            methods.register(super::track_comments::Add),
            methods.register(super::track_comments::Update),
            methods.register(super::track_comments::Delete),
        ] {
            if let Err(e) = result {
                unreachable!("the shipped methods have valid, distinct names: {e}");
            }
        }
        methods
    }

    /// Adds `method`.
    pub fn register<M: RpcMethod>(&mut self, method: M) -> Result<(), MethodNameError> {
        let name = method.name();
        if !valid_name(name) {
            return Err(MethodNameError::Invalid(name.to_owned()));
        }
        let by_name = Arc::make_mut(&mut self.by_name);
        if by_name.contains_key(name) {
            return Err(MethodNameError::Twice(name.to_owned()));
        }
        by_name.insert(name.to_owned(), Arc::new(Typed(method)));
        Ok(())
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Each method's name and the JSON schema of its params.
    pub fn schemas(&self) -> BTreeMap<String, Value> {
        self.by_name.iter().map(|(name, m)| (name.clone(), m.schema())).collect()
    }

    /// Checks that `method` is registered and that `params` fit it; the error names the problem.
    pub fn check(&self, method: &str, params: &Value) -> Result<(), CheckError> {
        let Some(registered) = self.by_name.get(method) else {
            return Err(CheckError::UnknownMethod {
                method: method.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            });
        };
        registered
            .check(params)
            .map_err(|problem| CheckError::BadParams { method: method.to_owned(), problem })
    }

    /// Applies a call of `method` (see [`RpcMethod::apply`]).
    pub(crate) fn apply(
        &self,
        tx: &mut dyn SqlTx,
        method: &str,
        call: &CallContext<'_>,
        params: &Value,
    ) -> Result<(), ApplyError> {
        match self.by_name.get(method) {
            Some(registered) => registered.apply(tx, call, params),
            None => Err(ApplyError::Permanent(format!(
                "method {method:?} is not registered with this worker"
            ))),
        }
    }
}

/// Why a call does not fit the registered methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// No such method.
    #[error("unknown method {method:?}; the methods are: {known}")]
    UnknownMethod {
        /// The method the call names.
        method: String,
        /// The registered ones.
        known: String,
    },
    /// The params do not fit the method's schema.
    #[error("params of {method}: {problem}")]
    BadParams {
        /// The method.
        method: String,
        /// What is wrong, naming the field.
        problem: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_runs_of_subject_tokens() {
        for good in ["track_comment.add", "a", "a-b.c_d.E9"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a*", "a>", "é", &"a".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_methods_and_bad_params_are_named() {
        let methods = Methods::shipped();
        let err = methods.check("track_comment.rename", &Value::Null).unwrap_err();
        assert!(err.to_string().contains("track_comment.add, track_comment.delete"), "{err}");
        let params = serde_json::json!({"comment_id": "c1", "track_id": "x", "position_ms": 1,
            "comment": "hi"});
        let err = methods.check("track_comment.add", &params).unwrap_err();
        assert!(err.to_string().contains("params.track_id"), "{err}");
        let params = serde_json::json!({"comment_id": "c\u{0}1", "comment": "hi"});
        let err = methods.check("track_comment.update", &params).unwrap_err();
        assert!(err.to_string().contains("params: a string contains the NUL"), "{err}");
        let mut twice = Methods::shipped();
        assert_eq!(
            twice.register(super::super::track_comments::Add),
            Err(MethodNameError::Twice("track_comment.add".into()))
        );
    }
}
