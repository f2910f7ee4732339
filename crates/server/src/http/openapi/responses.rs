//! Response lists that several routes share: the promise read and complete routes exist under
//! `/promises/{id}` and again under `/promises/callback/`, `/promises/subscribe/` and
//! `/promises/task`, and all of them answer alike.

#![allow(dead_code)] // The variants describe responses; nothing constructs them.

use super::schemas::Promise;
use crate::http::error::Body as ErrorResponse;

/// The answers of reading a promise.
#[derive(utoipa::IntoResponses)]
pub(crate) enum ReadPromiseResponses {
    /// The promise.
    #[response(status = 200, description = "The promise")]
    Found(Promise),
    /// A bad path.
    #[response(status = 400, description = "The path is invalid (40000)")]
    BadPath(ErrorResponse<'static>),
    /// No such promise.
    #[response(status = 404, description = "No such promise (40400)")]
    NotFound(ErrorResponse<'static>),
}

/// The answers of completing a promise.
#[derive(utoipa::IntoResponses)]
pub(crate) enum CompletePromiseResponses {
    /// Completed now.
    #[response(status = 201, description = "Completed")]
    Completed(Promise),
    /// Completed before, the same way.
    #[response(status = 200, description = "Already completed this way: the stored promise")]
    Repeated(Promise),
    /// A bad field, header or state.
    #[response(
        status = 400,
        description = "A field or header is invalid, or the state cannot be set over HTTP (40000)"
    )]
    Invalid(ErrorResponse<'static>),
    /// Completed otherwise.
    #[response(
        status = 403,
        description = "Already completed otherwise (40300 resolved, 40301 rejected, 40302 \
            canceled, 40303 timed out)"
    )]
    CompletedOtherwise(ErrorResponse<'static>),
    /// No such promise.
    #[response(status = 404, description = "No such promise (40400)")]
    NotFound(ErrorResponse<'static>),
    /// Fenced out.
    #[response(
        status = 412,
        description = "The fencing headers name no task claimed at that counter (41200)"
    )]
    Fenced(ErrorResponse<'static>),
}
