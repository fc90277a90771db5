//! The one place where failures become HTTP responses.
//!
//! SCIM routes answer with the RFC 7644 §3.12 error body; admin routes with
//! `{"error", "detail"}` (DESIGN §2). Domain errors map to both here, and nowhere else.

use crate::domain::DomainError;
use crate::scim::ScimError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM protocol failure on its way to the client.
#[derive(Debug)]
pub struct ScimFailure(pub ScimError);

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        ScimFailure(e)
    }
}

impl From<DomainError> for ScimFailure {
    fn from(e: DomainError) -> Self {
        ScimFailure(scim_error(e))
    }
}

/// Domain error -> SCIM error (status and `scimType`).
pub fn scim_error(e: DomainError) -> ScimError {
    match e {
        DomainError::Scim(e) => e,
        DomainError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
        DomainError::VersionMismatch => ScimError::precondition_failed(
            "the resource changed: If-Match does not name its current version",
        ),
        DomainError::Invalid(d) => ScimError::invalid_value(d),
        DomainError::Conflict(d) => ScimError::conflict(d),
        DomainError::SsoRequired | DomainError::TokenExists => ScimError::conflict(e.to_string()),
        DomainError::Overloaded { retry_after_secs } => ScimError::too_many_requests(
            retry_after_secs,
            "too many pending changes for this organization; retry later",
        ),
        DomainError::Unavailable(_) => {
            ScimError::unavailable(5, "the change could not be made durable; retry later")
        }
    }
}

impl fmt::Display for ScimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ScimFailure {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.content_type(SCIM_CONTENT_TYPE);
        if let Some(s) = self.0.retry_after {
            r.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.0.status == 401 {
            // RFC 6750 §3: tell the client which scheme to use.
            r.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scimd\""));
        }
        r.body(self.0.body().to_string())
    }
}

/// An admin API failure: `{"error": code, "detail": text}` with a 4xx/5xx status.
#[derive(Debug)]
pub struct AdminError {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
    pub retry_after: Option<u32>,
}

impl AdminError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        AdminError {
            status,
            error,
            detail: detail.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required",
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<DomainError> for AdminError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => AdminError::not_found(what),
            DomainError::SsoRequired => AdminError::new(
                StatusCode::CONFLICT,
                "sso_required",
                "configure SSO for the organization before enabling SCIM",
            ),
            DomainError::TokenExists => AdminError::new(
                StatusCode::CONFLICT,
                "token_exists",
                "a SCIM token exists already: rotate it instead",
            ),
            DomainError::Invalid(d) => AdminError::bad_request(d),
            DomainError::Conflict(d) => AdminError::new(StatusCode::CONFLICT, "conflict", d),
            DomainError::VersionMismatch => {
                AdminError::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", "retry")
            }
            DomainError::Overloaded { retry_after_secs } => AdminError {
                retry_after: Some(retry_after_secs),
                ..AdminError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", "retry later")
            },
            DomainError::Scim(s) => AdminError::new(
                StatusCode::from_u16(s.status).unwrap_or(StatusCode::BAD_REQUEST),
                "invalid_request",
                s.detail,
            ),
            DomainError::Unavailable(_) => AdminError {
                retry_after: Some(5),
                ..AdminError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable",
                )
            },
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error, self.detail)
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            r.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        r.json(json!({"error": self.error, "detail": self.detail}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_map_to_rfc_statuses() {
        let cases: Vec<(DomainError, u16)> = vec![
            (DomainError::NotFound("User"), 404),
            (DomainError::VersionMismatch, 412),
            (
                DomainError::Overloaded {
                    retry_after_secs: 1,
                },
                429,
            ),
            (DomainError::Unavailable("x".into()), 503),
            (ScimError::uniqueness("dup").into(), 409),
            (DomainError::Invalid("bad".into()), 400),
        ];
        for (e, status) in cases {
            assert_eq!(ScimFailure::from(e).status_code().as_u16(), status);
        }
        let f = ScimFailure::from(DomainError::Overloaded {
            retry_after_secs: 2,
        });
        let r = f.error_response();
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "2");
        assert_eq!(
            r.headers().get(header::CONTENT_TYPE).unwrap(),
            SCIM_CONTENT_TYPE
        );
    }

    #[test]
    fn admin_errors_use_design_codes() {
        assert_eq!(
            AdminError::from(DomainError::SsoRequired).error,
            "sso_required"
        );
        assert_eq!(
            AdminError::from(DomainError::SsoRequired).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            AdminError::from(DomainError::NotFound("organization")).status,
            StatusCode::NOT_FOUND
        );
    }
}
