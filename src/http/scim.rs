//! SCIM 2.0 handlers (RFC 7644 §3). Each one extracts, sends one message (or reads the
//! published snapshot), and maps the reply.

use super::errors::{ScimFailure, SCIM_CONTENT_TYPE};
use super::extract::{query_pairs, IfMatch, IfNoneMatch, ScimJson, ScimOrg};
use crate::actors::org::Applied;
use crate::config::PatchReply;
use crate::domain::command::{Command, Outcome};
use crate::domain::ids::{ScimId, Version};
use crate::domain::query::{self, Kind, Projection};
use crate::scim::bulk::BulkMethod;
use crate::scim::list::{self, ListLimits};
use crate::scim::resource::normalize_resource;
use crate::scim::{discovery, patch, ScimError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

type ScimResponse = Result<HttpResponse, ScimFailure>;

pub fn respond(status: StatusCode, body: &Value, version: Option<Version>) -> HttpResponse {
    respond_text(status, body.to_string(), version, None)
}

/// A SCIM response from body text; `location` becomes the `Location` header of a 201.
fn respond_text(
    status: StatusCode,
    body: String,
    version: Option<Version>,
    location: Option<String>,
) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.content_type(SCIM_CONTENT_TYPE);
    if let Some(v) = version {
        r.insert_header((header::ETAG, v.etag()));
    }
    if let Some(loc) = location {
        r.insert_header((header::LOCATION, loc));
    }
    r.body(body)
}

fn location(org: &ScimOrg, kind: Kind, id: ScimId) -> String {
    format!(
        "{}{}/{id}",
        org.state.scim_base_url,
        kind.resource_type().endpoint
    )
}

fn limits(org: &ScimOrg) -> ListLimits {
    let max = org.state.config.max_results;
    ListLimits {
        max_results: max,
        default_count: max,
    }
}

/// The resource type of the route (set on each `/Users` and `/Groups` resource).
fn kind_of(req: &HttpRequest) -> Kind {
    req.app_data::<Kind>().copied().unwrap_or(Kind::User)
}

/// The `{id}` path segment. An id that is not one of ours cannot exist: 404, exactly as
/// for an id of another tenant.
fn scim_id(raw: &str, kind: Kind) -> Result<ScimId, ScimFailure> {
    raw.parse().map_err(|_| {
        ScimFailure(ScimError::not_found(format!(
            "{} not found",
            kind.resource_type().name
        )))
    })
}

/// `attributes` / `excludedAttributes` of a GET on one resource.
fn projection(req: &HttpRequest, org: &ScimOrg) -> Result<Projection, ScimFailure> {
    let q = list::from_query_pairs(&query_pairs(req)?, &limits(org))?;
    Ok(Projection {
        attributes: q.attributes,
        excluded: q.excluded_attributes,
    })
}

/// Render the resource a command produced, from the snapshot taken right after it,
/// subject to `attributes` / `excludedAttributes` (RFC 7644 §3.9 applies to the
/// responses of POST, PUT and PATCH too: `?excludedAttributes=members` spares a client
/// the echo of a 10,000-member group on every member PATCH).
fn applied(
    org: &ScimOrg,
    kind: Kind,
    a: Applied,
    status: StatusCode,
    p: &Projection,
) -> ScimResponse {
    let Outcome::Resource(id) = a.outcome else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let (body, version) = query::get_text(&a.snapshot, kind, id, &org.state.scim_base_url, p)
        .ok_or_else(|| ScimError::not_found("resource not found"))?;
    let loc = (status == StatusCode::CREATED).then(|| location(org, kind, id));
    Ok(respond_text(status, body, Some(version), loc))
}

// ---- Users and Groups -----------------------------------------------------------------

/// One write to a User or Group: the command a method, a resource type, an optional id
/// and a body stand for. Shared by the single-resource routes and `/Bulk`, so both parse
/// and validate exactly alike.
fn write_command(
    kind: Kind,
    method: BulkMethod,
    id: Option<ScimId>,
    body: Option<&Value>,
    if_match: Option<Version>,
) -> Result<Command, ScimError> {
    let body = body.unwrap_or(&Value::Null);
    let attrs = || normalize_resource(body, kind.resource_type());
    Ok(match (method, id, kind) {
        (BulkMethod::Post, None, Kind::User) => Command::CreateUser(attrs()?),
        (BulkMethod::Post, None, Kind::Group) => Command::CreateGroup(attrs()?),
        (BulkMethod::Put, Some(id), Kind::User) => Command::ReplaceUser {
            id,
            attrs: attrs()?,
            if_match,
        },
        (BulkMethod::Put, Some(id), Kind::Group) => Command::ReplaceGroup {
            id,
            attrs: attrs()?,
            if_match,
        },
        (BulkMethod::Patch, Some(id), Kind::User) => Command::PatchUser {
            id,
            ops: patch::parse_patch(body)?,
            if_match,
        },
        (BulkMethod::Patch, Some(id), Kind::Group) => Command::PatchGroup {
            id,
            ops: patch::parse_patch(body)?,
            if_match,
        },
        (BulkMethod::Delete, Some(id), Kind::User) => Command::DeleteUser { id, if_match },
        (BulkMethod::Delete, Some(id), Kind::Group) => Command::DeleteGroup { id, if_match },
        _ => {
            return Err(ScimError::invalid_path(
                "POST takes a resource type path; PUT, PATCH and DELETE a resource path",
            ))
        }
    })
}

fn success_status(method: BulkMethod) -> StatusCode {
    match method {
        BulkMethod::Post => StatusCode::CREATED,
        BulkMethod::Delete => StatusCode::NO_CONTENT,
        BulkMethod::Put | BulkMethod::Patch => StatusCode::OK,
    }
}

/// POST, PUT, PATCH and DELETE on `/Users[/{id}]` and `/Groups[/{id}]`.
async fn write(
    req: HttpRequest,
    org: ScimOrg,
    method: BulkMethod,
    if_match: IfMatch,
    body: Option<Value>,
) -> ScimResponse {
    let kind = kind_of(&req);
    let id = match req.match_info().get("id") {
        Some(raw) => Some(scim_id(raw, kind)?),
        None => None,
    };
    let p = projection(&req, &org)?;
    let command = write_command(kind, method, id, body.as_ref(), if_match.0)?;
    let a = org.state.directory.apply(org.org(), command).await?;
    match reply_kind(&req, &org, kind, method, &p) {
        Reply::Resource => applied(&org, kind, a, success_status(method), &p),
        Reply::NoContent { asked } => no_content(kind, a, asked),
    }
}

enum Reply {
    Resource,
    /// `asked`: the client sent `Prefer: return=minimal` (echoed in `Preference-Applied`).
    NoContent {
        asked: bool,
    },
}

/// RFC 7644 §3.5.2: a successful PATCH answers 200 with the resource, or 204 with the
/// appropriate headers, and 200 whenever the request names `attributes` (we count
/// `excludedAttributes` too: either asks for a body). 204 when the client asks for it or
/// the service is configured so for Groups (`--group-patch-reply no-content`).
fn reply_kind(
    req: &HttpRequest,
    org: &ScimOrg,
    kind: Kind,
    method: BulkMethod,
    p: &Projection,
) -> Reply {
    if method != BulkMethod::Patch || !p.is_empty() {
        return Reply::Resource;
    }
    if prefers_minimal(req) {
        return Reply::NoContent { asked: true };
    }
    if kind == Kind::Group && org.state.config.group_patch_reply == PatchReply::NoContent {
        return Reply::NoContent { asked: false };
    }
    Reply::Resource
}

/// `Prefer: return=minimal` (RFC 7240 §4.2), among any other preferences.
fn prefers_minimal(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| pref.split(';').next()?.split_once('='))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("return")
                && value
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("minimal")
        })
}

/// 204 with the resource's new `ETag`; `Preference-Applied` when the client asked
/// (RFC 7240 §3).
fn no_content(kind: Kind, a: Applied, asked: bool) -> ScimResponse {
    let mut r = HttpResponse::NoContent();
    if let Outcome::Resource(id) = a.outcome {
        if let Some(version) = query::version(&a.snapshot, kind, id) {
            r.insert_header((header::ETAG, version.etag()));
        }
    }
    if asked {
        r.insert_header(("preference-applied", "return=minimal"));
    }
    Ok(r.finish())
}

pub async fn create(req: HttpRequest, org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    write(req, org, BulkMethod::Post, IfMatch(None), Some(body)).await
}

pub async fn replace(
    req: HttpRequest,
    org: ScimOrg,
    if_match: IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResponse {
    write(req, org, BulkMethod::Put, if_match, Some(body)).await
}

pub async fn modify(
    req: HttpRequest,
    org: ScimOrg,
    if_match: IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResponse {
    write(req, org, BulkMethod::Patch, if_match, Some(body)).await
}

pub async fn delete(req: HttpRequest, org: ScimOrg, if_match: IfMatch) -> ScimResponse {
    write(req, org, BulkMethod::Delete, if_match, None).await
}

pub async fn get(req: HttpRequest, org: ScimOrg, none_match: IfNoneMatch) -> ScimResponse {
    let kind = kind_of(&req);
    let id = scim_id(req.match_info().query("id"), kind)?;
    let p = projection(&req, &org)?;
    let snap = org.handle.snapshot();
    let (body, version) = query::get_text(&snap, kind, id, &org.state.scim_base_url, &p)
        .ok_or_else(|| ScimError::not_found(format!("{} not found", kind.resource_type().name)))?;
    if none_match.matches(version) {
        // RFC 7644 §3.14 / RFC 7232 §4.1: the client's copy is current.
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, version.etag()))
            .finish());
    }
    Ok(respond_text(StatusCode::OK, body, Some(version), None))
}

pub async fn list(req: HttpRequest, org: ScimOrg) -> ScimResponse {
    let kind = kind_of(&req);
    let q = list::from_query_pairs(&query_pairs(&req)?, &limits(&org))?;
    q.validate(kind.resource_type())?;
    let body = query::list(&org.handle.snapshot(), kind, &q, &org.state.scim_base_url);
    Ok(respond_text(StatusCode::OK, body, None, None))
}

/// `POST /Users/.search`, `POST /Groups/.search` (RFC 7644 §3.4.3).
pub async fn search(req: HttpRequest, org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    let kind = kind_of(&req);
    let q = list::from_search_body(&body, &limits(&org))?;
    q.validate(kind.resource_type())?;
    let body = query::list(&org.handle.snapshot(), kind, &q, &org.state.scim_base_url);
    Ok(respond_text(StatusCode::OK, body, None, None))
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): every resource type. The filter must
/// be valid for at least one type; results are Users then Groups, paged together.
pub async fn search_root(org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    let mut q = list::from_search_body(&body, &limits(&org))?;
    let kinds: Vec<Kind> = [Kind::User, Kind::Group]
        .into_iter()
        .filter(|k| q.validate(k.resource_type()).is_ok())
        .collect();
    if kinds.is_empty() {
        q.validate(Kind::User.resource_type())?;
    }
    let (start, count) = (q.start_index, q.count);
    let snap = org.handle.snapshot();
    // Collect every match of each type, then page across the concatenation.
    q.start_index = 1;
    q.count = usize::MAX;
    let mut all = Vec::new();
    for k in kinds {
        all.extend(query::page(&snap, k, &q, &org.state.scim_base_url).1);
    }
    let total = all.len();
    let range = list::page_bounds(total, start, count);
    let body = list::list_response_text(total, start, &all[range]);
    Ok(respond_text(StatusCode::OK, body, None, None))
}

// ---- Discovery (RFC 7644 §4) ----------------------------------------------------------

fn discovery_options(org: &ScimOrg) -> discovery::DiscoveryOptions {
    let c = &org.state.config;
    discovery::DiscoveryOptions {
        max_results: c.max_results,
        bulk_max_operations: c.bulk_max_operations,
        bulk_max_payload_size: c.max_body_bytes,
    }
}

pub async fn service_provider_config(org: ScimOrg) -> ScimResponse {
    let body =
        discovery::service_provider_config(&org.state.scim_base_url, &discovery_options(&org));
    Ok(respond(StatusCode::OK, &body, None))
}

pub async fn schemas(org: ScimOrg) -> ScimResponse {
    Ok(respond(
        StatusCode::OK,
        &discovery::schemas_list(&org.state.scim_base_url),
        None,
    ))
}

pub async fn schema(org: ScimOrg, id: web::Path<String>) -> ScimResponse {
    let s = discovery::find_schema(&id).ok_or_else(|| ScimError::not_found("schema not found"))?;
    Ok(respond(
        StatusCode::OK,
        &discovery::schema_document(s, &org.state.scim_base_url),
        None,
    ))
}

pub async fn resource_types(org: ScimOrg) -> ScimResponse {
    Ok(respond(
        StatusCode::OK,
        &discovery::resource_types_list(&org.state.scim_base_url),
        None,
    ))
}

pub async fn resource_type(org: ScimOrg, id: web::Path<String>) -> ScimResponse {
    let rt = discovery::find_resource_type(&id)
        .ok_or_else(|| ScimError::not_found("resource type not found"))?;
    Ok(respond(
        StatusCode::OK,
        &discovery::resource_type_document(rt, &org.state.scim_base_url),
        None,
    ))
}

/// `/Me` (RFC 7644 §3.11) names the authenticated subject; an org token has none.
pub async fn me(_org: ScimOrg) -> ScimResponse {
    Err(ScimError::not_implemented(
        "/Me is not supported: the bearer token belongs to an organization, not a user",
    )
    .into())
}

// ---- Bulk (RFC 7644 §3.7) -------------------------------------------------------------

/// Turn one bulk operation into a command, exactly as the single-resource routes do.
fn bulk_command(op: &crate::scim::bulk::BulkOp) -> Result<(Kind, Command), ScimError> {
    let path = op.path.trim_start_matches('/');
    let (rt, id) = match path.split_once('/') {
        Some((rt, id)) => (rt, Some(id)),
        None => (path, None),
    };
    let kind = match rt {
        "Users" => Kind::User,
        "Groups" => Kind::Group,
        _ => {
            return Err(ScimError::invalid_path(
                "bulk path must start with /Users or /Groups",
            ))
        }
    };
    let id = match id {
        Some(raw) => Some(scim_id(raw, kind).map_err(|f| f.0)?),
        None => None,
    };
    // `version` works as If-Match (RFC 7644 §3.7); an ETag we never issued cannot match.
    let if_match = op.version.as_deref().and_then(Version::from_if_match);
    Ok((
        kind,
        write_command(kind, op.method, id, op.data.as_ref(), if_match)?,
    ))
}

/// `POST /Bulk`: operations run in order, each in its own commit; `bulkId:` references
/// resolve to ids created earlier in the request; `failOnErrors` stops the run.
pub async fn bulk(org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    use crate::scim::bulk::{bulk_response, op_response, parse_bulk, resolve_refs};
    let request = parse_bulk(&body, org.state.config.bulk_max_operations)?;
    let mut created = std::collections::HashMap::new();
    let mut results = Vec::with_capacity(request.operations.len());
    let mut errors = 0;
    for mut op in request.operations {
        if request.fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
        let outcome = match resolve_refs(&mut op, &created).and_then(|_| bulk_command(&op)) {
            Err(e) => Err(e),
            Ok((kind, command)) => match org.state.directory.apply(org.org(), command).await {
                Err(e) => Err(super::errors::scim_error(e)),
                Ok(a) => Ok((kind, a)),
            },
        };
        match outcome {
            Ok((kind, a)) => {
                let status = success_status(op.method).as_u16();
                let (location, version) = match a.outcome {
                    Outcome::Resource(id) => {
                        if let Some(b) = &op.bulk_id {
                            created.insert(b.clone(), id.to_string());
                        }
                        let (v, ver) = query::get(
                            &a.snapshot,
                            kind,
                            id,
                            &org.state.scim_base_url,
                            &Projection::default(),
                        )
                        .map(|(v, ver)| {
                            (
                                v["meta"]["location"].as_str().map(str::to_owned),
                                Some(ver.etag()),
                            )
                        })
                        .unwrap_or((None, None));
                        (v, ver)
                    }
                    _ => (None, None),
                };
                results.push(op_response(
                    &op,
                    status,
                    location.as_deref(),
                    version.as_deref(),
                    None,
                ));
            }
            Err(e) => {
                errors += 1;
                results.push(op_response(&op, e.status, None, None, Some(&e)));
            }
        }
    }
    Ok(respond(StatusCode::OK, &bulk_response(results), None))
}
