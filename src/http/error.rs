//! The one place where errors become HTTP status codes.
//!
//! Everything below the HTTP layer answers with [`Error`] (`src/error.rs`),
//! which says what kind of failure it is. Here, and only here, it becomes a
//! status code and a JSON body `{"error": {"code": "...", "message": "..."}}`:
//! 400 `bad_request`, 404 `not_found`, 408 `request_timeout`, 409
//! `conflict`, 413 `payload_too_large`, 500 `internal`, 502 `upstream`
//! (with `jira_status`), 503 `unavailable` (with `Retry-After: 1`).
//!
//! Each surface keeps the contract the spec gives it ([`Surface`]): the
//! webhook answers a reference that vanished with 400 and any failure of
//! its own machinery (storage, a crashed or busy actor) with 503, so Jira
//! never sees a 404 or a 500; the OAuth callback is a page whose unknown
//! tokens are 400.

pub use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Who is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The admin API (and the public listener's own routes).
    Admin,
    /// `POST /extensions/jira-server/issue-updated/{token}` (SPEC section 4).
    Webhook,
    /// The OAuth callback page.
    OAuthPage,
}

/// The status code of `e` on `surface`.
pub fn status(e: &Error, surface: Surface) -> StatusCode {
    use Surface::*;
    match (e, surface) {
        (Error::BadRequest(_), _) => StatusCode::BAD_REQUEST,
        (Error::NotFound(_), Admin) => StatusCode::NOT_FOUND,
        (Error::NotFound(_), Webhook | OAuthPage) => StatusCode::BAD_REQUEST,
        (Error::Conflict(_), Admin | OAuthPage) => StatusCode::CONFLICT,
        (Error::Conflict(_), Webhook) => StatusCode::BAD_REQUEST,
        (Error::TooLarge(_), _) => StatusCode::PAYLOAD_TOO_LARGE,
        (Error::Timeout(_), _) => StatusCode::REQUEST_TIMEOUT,
        (Error::Upstream { .. }, _) => StatusCode::BAD_GATEWAY,
        (Error::Storage(_) | Error::Unavailable(_), _) => StatusCode::SERVICE_UNAVAILABLE,
        (Error::Internal(_), Webhook) => StatusCode::SERVICE_UNAVAILABLE,
        (Error::Internal(_), Admin | OAuthPage) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `code` of an error body with this status.
pub fn code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        502 => "upstream",
        503 => "unavailable",
        _ => "internal",
    }
}

/// The JSON answer of `e` on `surface`.
pub fn respond(e: &Error, surface: Surface) -> HttpResponse {
    respond_saying(e, surface, &e.to_string())
}

/// The JSON answer of `e` on `surface`, with `message` instead of its own.
pub fn respond_saying(e: &Error, surface: Surface, message: &str) -> HttpResponse {
    let status = status(e, surface);
    let mut r = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.insert_header(("Retry-After", "1"));
    }
    let mut body = json!({"code": code(status), "message": message});
    if let Error::Upstream { jira_status, .. } = e {
        body["jira_status"] = json!(jira_status);
    }
    r.json(json!({ "error": body }))
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self, Surface::Admin)
    }

    fn error_response(&self) -> HttpResponse {
        respond(self, Surface::Admin)
    }
}

impl From<actix_web::error::BlockingError> for Error {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Error::Unavailable("blocking worker pool unavailable".into())
    }
}

/// Run a blocking store call off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f).await?
}

/// JSON, path and query extractor errors as `bad_request` JSON.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(|err, _| {
            if let actix_web::error::JsonPayloadError::Overflow { limit }
            | actix_web::error::JsonPayloadError::OverflowKnownLength { limit, .. } = &err
            {
                return Error::TooLarge(format!(
                    "request body is larger than {limit} bytes (http.max_body_bytes)"
                ))
                .into();
            }
            let msg = match &err {
                actix_web::error::JsonPayloadError::Deserialize(e) if e.is_data() => {
                    format!("invalid request body: {e}")
                }
                actix_web::error::JsonPayloadError::Deserialize(e) => {
                    format!("malformed JSON: {e}")
                }
                other => format!("invalid request body: {other}"),
            };
            Error::BadRequest(msg).into()
        })
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|err, _| Error::BadRequest(format!("invalid path: {err}")).into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|err, _| Error::BadRequest(format!("invalid query: {err}")).into())
}

/// Fallback for unmatched admin requests: 405 `method_not_allowed` (JSON) when
/// the path exists under another method, else 404 `not_found`.
pub async fn no_route(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let path = req.path().to_string();
    if req.resource_map().has_resource(&path) {
        return actix_web::HttpResponse::MethodNotAllowed().json(json!({"error": {
            "code": "method_not_allowed",
            "message": format!("method {} is not allowed on {path}", req.method()),
        }}));
    }
    actix_web::HttpResponse::NotFound().json(json!({"error": {
        "code": "not_found",
        "message": format!("no such route: {} {path}", req.method()),
    }}))
}
