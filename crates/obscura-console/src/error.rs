//! The console's errors, and the HTTP response each one makes.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use obscura_core::ErrorKind;

/// What went wrong serving a request or setting up the console.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// Nothing by that id or name.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request may not do that (a path outside the media roots, a bad
    /// CSRF token).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed (a bad filter value, a missing field).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The configuration cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// An error of the core (database, media, audit trail).
    #[error(transparent)]
    Core(#[from] obscura_core::Error),
    /// A page could not be rendered.
    #[error("cannot render page: {0}")]
    Template(#[from] minijinja::Error),
    /// Work handed to a blocking thread did not come back.
    #[error("internal: {0}")]
    Internal(String),
}

impl ConsoleError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Core(e) => match e.kind() {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::InvalidArgument | ErrorKind::AlreadyExists => StatusCode::BAD_REQUEST,
                ErrorKind::NotMedia | ErrorKind::NoVideo | ErrorKind::Corrupt => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ConsoleError::Config(_) | ConsoleError::Template(_) | ConsoleError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>{code}</title>\
             <body style=\"font-family:sans-serif\"><h1>{code}</h1><p>{msg}</p>\
             <p><a href=\"/incidents\">Back to incidents</a></p>",
            code = status,
            msg = crate::svg::escape(&self.to_string())
        );
        (status, Html(body)).into_response()
    }
}
