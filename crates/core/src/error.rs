//! Results of domain operations: a success with its code, a domain error, or a store failure.

use crate::code::Code;

/// A successful outcome and the code that tells a fresh change (201) from a replay (200).
#[derive(Debug, Clone, PartialEq)]
pub struct Success<T> {
    /// 20000, 20100 or 20400.
    pub code: Code,
    /// The resource the operation returns.
    pub value: T,
}

impl<T> Success<T> {
    /// A success with code 20000.
    pub fn ok(value: T) -> Self {
        Success { code: Code::Ok, value }
    }

    /// A success with code 20100.
    pub fn created(value: T) -> Self {
        Success { code: Code::Created, value }
    }
}

/// Client input quoted for an error message, cut to 120 characters so a message never grows
/// with the request.
pub fn quoted(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// The longest id (of a promise, task, schedule, lock, process, ...) in bytes. PostgreSQL's
/// indexes take keys of at most about 2,700 bytes, and a resume task's id holds two promise ids;
/// every store refuses longer ids alike, with a 400.
pub const MAX_ID_BYTES: usize = 1024;

/// A 400 unless `value` (the request field `field`) is non-empty.
pub fn require_present(field: &str, value: &str) -> Result<(), DomainError> {
    if value.is_empty() {
        return Err(DomainError::bad_request(format!("{field} is required and must not be empty")));
    }
    Ok(())
}

/// A 400 unless `value` (the request field `field`, an id that is stored) is non-empty and at
/// most [`MAX_ID_BYTES`] long.
pub fn require(field: &str, value: &str) -> Result<(), DomainError> {
    require_present(field, value)?;
    if value.len() > MAX_ID_BYTES {
        return Err(DomainError::bad_request(format!(
            "{field} is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            value.len()
        )));
    }
    Ok(())
}

/// A refusal the spec defines (400, 403, 404, 409, ...), with a message that names the case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    /// The five-digit code.
    pub code: Code,
    /// What went wrong, for a person.
    pub message: String,
}

impl DomainError {
    /// A domain error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        DomainError { code, message: message.into() }
    }

    /// A 400 naming the problem with the request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        DomainError::new(Code::BadRequest, message)
    }
}

/// What a domain operation answers: a success or a domain error. Both may follow committed writes
/// (a complete that first times the promise out, for example).
pub type Reply<T> = Result<Success<T>, DomainError>;

/// A failure of the store underneath a transaction. The backend rolls back the operation's writes.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct TxError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl TxError {
    /// Wraps any backend error.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        TxError(Box::new(err))
    }

    /// A backend failure described by a message.
    pub fn msg(message: impl Into<String>) -> Self {
        TxError(message.into().into())
    }

    /// The error a read-only transaction returns on a write: the operation must be re-run on
    /// the write path.
    pub fn needs_write() -> Self {
        TxError(Box::new(NeedsWrite))
    }

    /// Whether this is [`TxError::needs_write`].
    pub fn is_needs_write(&self) -> bool {
        self.0.is::<NeedsWrite>()
    }

    /// The error an operation returns to refuse after it wrote: the backend undoes the
    /// operation's writes, as for any failure, and its caller gets `refusal` as the reply.
    pub fn refused(refusal: DomainError) -> Self {
        TxError(Box::new(Refused(refusal)))
    }

    /// The refusal of [`TxError::refused`], or this error as it was.
    pub fn into_refusal(self) -> Result<DomainError, TxError> {
        match self.0.downcast::<Refused>() {
            Ok(refused) => Ok(refused.0),
            Err(other) => Err(TxError(other)),
        }
    }
}

/// A domain refusal whose operation's writes must be undone.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}")]
struct Refused(DomainError);

/// A write attempted on a read-only transaction.
#[derive(Debug, thiserror::Error)]
#[error("write attempted on a read-only transaction")]
struct NeedsWrite;
