//! The one place where errors become HTTP status codes.
//!
//! Admin API errors are `{"error": {"code": "...", "message": "..."}}` with
//! 400 `bad_request`, 404 `not_found`, 409 `conflict`, 502 `upstream`,
//! 503 `unavailable` (and 500 `internal` for bugs).

use crate::actors::ActorPanic;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Upstream(_) => "upstream",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::NotFound(format!("{what} not found"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unavailable(_)) {
            r.insert_header(("Retry-After", "1"));
        }
        r.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<ActorPanic> for ApiError {
    fn from(e: ActorPanic) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::Unavailable(format!("actor unavailable: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::Unavailable("blocking worker pool unavailable".into())
    }
}

/// Run a blocking store call off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    Ok(actix_web::web::block(f).await??)
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
                let body = json!({"error": {
                    "code": "payload_too_large",
                    "message": format!("request body is larger than {limit} bytes (http.max_body_bytes)"),
                }});
                let resp = HttpResponse::PayloadTooLarge().json(body);
                return actix_web::error::InternalError::from_response(err, resp).into();
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
            ApiError::BadRequest(msg).into()
        })
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|err, _| ApiError::BadRequest(format!("invalid path: {err}")).into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|err, _| ApiError::BadRequest(format!("invalid query: {err}")).into())
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
    ApiError::NotFound(format!("no such route: {} {path}", req.method())).error_response()
}
