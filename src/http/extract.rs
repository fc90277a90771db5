//! Extractors: parse and authorize at the boundary, with limits.

use super::errors::{AdminError, ScimFailure};
use crate::actors::directory::OrgHandle;
use crate::app::AppState;
use crate::domain::ids::{OrgId, Version};
use crate::scim::ScimError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde_json::Value;
use subtle::ConstantTimeEq;

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered by configure()")
        .clone()
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The tenant of a SCIM request. Built only from a live bearer token, it carries the
/// handle of that token's org and nothing else: a handler cannot name another tenant.
pub struct ScimOrg {
    pub handle: OrgHandle,
    pub state: web::Data<AppState>,
}

impl ScimOrg {
    pub fn org(&self) -> OrgId {
        self.handle.org()
    }
}

impl FromRequest for ScimOrg {
    type Error = ScimFailure;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let org = bearer(req).and_then(|t| state.tokens.resolve(t));
        Box::pin(async move {
            let org = org
                .ok_or_else(|| ScimError::unauthorized("a valid SCIM bearer token is required"))?;
            tracing::Span::current().record("org_id", tracing::field::display(org));
            let handle = state.directory.get(org).await.map_err(|e| match e {
                // The token outlived its org (cannot happen through the API): same answer
                // as a wrong token.
                crate::domain::DomainError::NotFound(_) => {
                    ScimError::unauthorized("a valid SCIM bearer token is required").into()
                }
                other => ScimFailure::from(other),
            })?;
            Ok(ScimOrg { handle, state })
        })
    }
}

/// A request authorized by the host's admin token.
pub struct AdminAuth {
    pub state: web::Data<AppState>,
}

impl FromRequest for AdminAuth {
    type Error = AdminError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let ok = bearer(req).is_some_and(|t| {
            let presented = crate::actors::registry::hash_token(t);
            bool::from(presented.0.ct_eq(&state.admin_token_hash.0))
        });
        std::future::ready(if ok {
            Ok(AdminAuth { state })
        } else {
            Err(AdminError::unauthorized())
        })
    }
}

/// Is this content type one we accept for JSON bodies? RFC 7644 §3.1 names
/// `application/scim+json`; `application/json` is accepted too (IdPs send both), with any
/// parameters (`; charset=utf-8`).
fn json_content_type(req: &HttpRequest) -> bool {
    match req.headers().get(header::CONTENT_TYPE) {
        // No Content-Type at all: treat the body as JSON, as most servers do.
        None => true,
        Some(v) => {
            let v = v.to_str().unwrap_or("");
            let essence = v.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/scim+json")
                || essence.eq_ignore_ascii_case("application/json")
        }
    }
}

/// Read the body up to `limit` bytes; `Err(true)` when it is larger.
async fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<web::Bytes, ScimError> {
    let too_large = || {
        ScimError::payload_too_large(format!(
            "the request body exceeds the limit of {limit} bytes"
        ))
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A JSON request body (RFC 7644 §3.1), size-limited; every failure is a SCIM error.
pub struct ScimJson(pub Value);

impl FromRequest for ScimJson {
    type Error = ScimFailure;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !json_content_type(&req) {
                return Err(ScimError::invalid_syntax(
                    "the request body must be application/scim+json or application/json",
                )
                .into());
            }
            let limit = state(&req).config.max_body_bytes;
            let bytes = read_limited(&req, &mut payload, limit).await?;
            let value = serde_json::from_slice(&bytes).map_err(|e| {
                ScimError::invalid_syntax(format!(
                    "the request body is not valid JSON ({})",
                    json_error_position(&e)
                ))
            })?;
            Ok(ScimJson(value))
        })
    }
}

/// Where a body stopped being JSON: position only, never the input (it carries e-mail
/// addresses).
fn json_error_position(e: &serde_json::Error) -> String {
    format!("line {}, column {}", e.line(), e.column())
}

/// A JSON body for the admin API, with the same limit.
pub struct AdminJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for AdminJson<T> {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !json_content_type(&req) {
                return Err(AdminError::bad_request("the body must be application/json"));
            }
            let limit = state(&req).config.max_body_bytes;
            let bytes = read_limited(&req, &mut payload, limit).await.map_err(|e| {
                AdminError::new(
                    actix_web::http::StatusCode::from_u16(e.status)
                        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
                    "invalid_request",
                    e.detail,
                )
            })?;
            serde_json::from_slice(&bytes)
                .map(AdminJson)
                .map_err(|e| AdminError::bad_request(format!("invalid body: {e}")))
        })
    }
}

/// `If-Match` (RFC 7644 §3.14, RFC 7232 §3.1): `None` when absent or `*`.
pub struct IfMatch(pub Option<Version>);

impl FromRequest for IfMatch {
    type Error = ScimFailure;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(v) => match v.to_str() {
                Ok(s) => Ok(IfMatch(Version::from_if_match(s))),
                Err(_) => Err(ScimError::invalid_syntax("If-Match is not a valid ETag").into()),
            },
        })
    }
}

/// `If-None-Match` on GET (RFC 7644 §3.14): the versions the client already has.
pub struct IfNoneMatch(pub Vec<Version>, pub bool);

impl IfNoneMatch {
    pub fn matches(&self, current: Version) -> bool {
        self.1 || self.0.contains(&current)
    }
}

impl FromRequest for IfNoneMatch {
    type Error = ScimFailure;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let any = raw.trim() == "*";
        let versions = raw.split(',').filter_map(Version::parse_etag).collect();
        std::future::ready(Ok(IfNoneMatch(versions, any)))
    }
}

/// The decoded query pairs (`+` is a space, as Entra ID sends it).
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ScimError> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|_| ScimError::invalid_syntax("the query string is malformed"))
}
