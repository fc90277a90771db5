//! SCIM 2.0 handlers (RFC 7644 §3). Each one extracts, sends one message (or reads the
//! published snapshot), and maps the reply.

use super::errors::{ScimFailure, SCIM_CONTENT_TYPE};
use super::extract::{query_pairs, IfMatch, IfNoneMatch, ScimJson, ScimOrg};
use crate::actors::org::Applied;
use crate::domain::command::{Command, Outcome};
use crate::domain::ids::{ScimId, Version};
use crate::domain::query::{self, Kind, Projection};
use crate::scim::list::{self, ListLimits};
use crate::scim::resource::normalize_resource;
use crate::scim::{discovery, patch, ScimError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

type ScimResponse = Result<HttpResponse, ScimFailure>;

pub fn respond(status: StatusCode, body: &Value, version: Option<Version>) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.content_type(SCIM_CONTENT_TYPE);
    if let Some(v) = version {
        r.insert_header((header::ETAG, v.etag()));
    }
    if status == StatusCode::CREATED {
        if let Some(loc) = body.pointer("/meta/location").and_then(Value::as_str) {
            r.insert_header((header::LOCATION, loc.to_owned()));
        }
    }
    r.body(body.to_string())
}

fn limits(org: &ScimOrg) -> ListLimits {
    let max = org.state.config.max_results;
    ListLimits {
        max_results: max,
        default_count: max,
    }
}

fn kind_of(path: &str) -> Kind {
    if path.starts_with("Groups") {
        Kind::Group
    } else {
        Kind::User
    }
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
    let (body, version) = query::get(&a.snapshot, kind, id, &org.state.scim_base_url, p)
        .ok_or_else(|| ScimError::not_found("resource not found"))?;
    Ok(respond(status, &body, Some(version)))
}

fn normalize(kind: Kind, body: &Value) -> Result<serde_json::Map<String, Value>, ScimFailure> {
    Ok(normalize_resource(body, kind.resource_type())?)
}

// ---- Users and Groups -----------------------------------------------------------------

pub async fn create(req: HttpRequest, org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let p = projection(&req, &org)?;
    let attrs = normalize(kind, &body)?;
    let command = match kind {
        Kind::User => Command::CreateUser(attrs),
        Kind::Group => Command::CreateGroup(attrs),
    };
    let a = org.state.directory.apply(org.org(), command).await?;
    applied(&org, kind, a, StatusCode::CREATED, &p)
}

pub async fn get(req: HttpRequest, org: ScimOrg, none_match: IfNoneMatch) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let id = scim_id(req.match_info().query("id"), kind)?;
    let p = projection(&req, &org)?;
    let snap = org.handle.snapshot();
    let (body, version) = query::get(&snap, kind, id, &org.state.scim_base_url, &p)
        .ok_or_else(|| ScimError::not_found(format!("{} not found", kind.resource_type().name)))?;
    if none_match.matches(version) {
        // RFC 7644 §3.14 / RFC 7232 §4.1: the client's copy is current.
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, version.etag()))
            .finish());
    }
    Ok(respond(StatusCode::OK, &body, Some(version)))
}

pub async fn replace(
    req: HttpRequest,
    org: ScimOrg,
    if_match: IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let id = scim_id(req.match_info().query("id"), kind)?;
    let p = projection(&req, &org)?;
    let attrs = normalize(kind, &body)?;
    let command = match kind {
        Kind::User => Command::ReplaceUser {
            id,
            attrs,
            if_match: if_match.0,
        },
        Kind::Group => Command::ReplaceGroup {
            id,
            attrs,
            if_match: if_match.0,
        },
    };
    let a = org.state.directory.apply(org.org(), command).await?;
    applied(&org, kind, a, StatusCode::OK, &p)
}

pub async fn modify(
    req: HttpRequest,
    org: ScimOrg,
    if_match: IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let id = scim_id(req.match_info().query("id"), kind)?;
    let p = projection(&req, &org)?;
    let ops = patch::parse_patch(&body)?;
    let command = match kind {
        Kind::User => Command::PatchUser {
            id,
            ops,
            if_match: if_match.0,
        },
        Kind::Group => Command::PatchGroup {
            id,
            ops,
            if_match: if_match.0,
        },
    };
    let a = org.state.directory.apply(org.org(), command).await?;
    // RFC 7644 §3.5.2: 200 with the resource (we always return it).
    applied(&org, kind, a, StatusCode::OK, &p)
}

pub async fn delete(req: HttpRequest, org: ScimOrg, if_match: IfMatch) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let id = scim_id(req.match_info().query("id"), kind)?;
    let command = match kind {
        Kind::User => Command::DeleteUser {
            id,
            if_match: if_match.0,
        },
        Kind::Group => Command::DeleteGroup {
            id,
            if_match: if_match.0,
        },
    };
    org.state.directory.apply(org.org(), command).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list(req: HttpRequest, org: ScimOrg) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let q = list::from_query_pairs(&query_pairs(&req)?, &limits(&org))?;
    q.validate(kind.resource_type())?;
    let body = query::list(&org.handle.snapshot(), kind, &q, &org.state.scim_base_url);
    Ok(respond(StatusCode::OK, &body, None))
}

/// `POST /Users/.search`, `POST /Groups/.search` (RFC 7644 §3.4.3).
pub async fn search(req: HttpRequest, org: ScimOrg, ScimJson(body): ScimJson) -> ScimResponse {
    let kind = kind_of(req.match_info().query("rt"));
    let q = list::from_search_body(&body, &limits(&org))?;
    q.validate(kind.resource_type())?;
    let body = query::list(&org.handle.snapshot(), kind, &q, &org.state.scim_base_url);
    Ok(respond(StatusCode::OK, &body, None))
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
        let page = query::list(&snap, k, &q, &org.state.scim_base_url);
        if let Some(Value::Array(items)) = page.get("Resources").cloned() {
            all.extend(items);
        }
    }
    let total = all.len();
    let range = list::page_bounds(total, start, count);
    let page: Vec<Value> = all.drain(range).collect();
    Ok(respond(
        StatusCode::OK,
        &list::list_response(total, start, page),
        None,
    ))
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

/// Turn one bulk operation into a command: the same normalization and parsing as the
/// single-resource endpoints.
fn bulk_command(op: &crate::scim::bulk::BulkOp) -> Result<(Kind, Command), ScimError> {
    use crate::scim::bulk::BulkMethod;
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
    let not_found = || ScimError::not_found(format!("{} not found", kind.resource_type().name));
    let id: Option<ScimId> = match id {
        Some(raw) => Some(raw.parse().map_err(|_| not_found())?),
        None => None,
    };
    let if_match = op
        .version
        .as_deref()
        .map(|v| Version::parse_etag(v).unwrap_or(Version(u64::MAX)));
    let data = op.data.as_ref();
    let command = match (op.method, id) {
        (BulkMethod::Post, None) => {
            let attrs = normalize_resource(data.unwrap_or(&Value::Null), kind.resource_type())?;
            match kind {
                Kind::User => Command::CreateUser(attrs),
                Kind::Group => Command::CreateGroup(attrs),
            }
        }
        (BulkMethod::Put, Some(id)) => {
            let attrs = normalize_resource(data.unwrap_or(&Value::Null), kind.resource_type())?;
            match kind {
                Kind::User => Command::ReplaceUser {
                    id,
                    attrs,
                    if_match,
                },
                Kind::Group => Command::ReplaceGroup {
                    id,
                    attrs,
                    if_match,
                },
            }
        }
        (BulkMethod::Patch, Some(id)) => {
            let ops = patch::parse_patch(data.unwrap_or(&Value::Null))?;
            match kind {
                Kind::User => Command::PatchUser { id, ops, if_match },
                Kind::Group => Command::PatchGroup { id, ops, if_match },
            }
        }
        (BulkMethod::Delete, Some(id)) => match kind {
            Kind::User => Command::DeleteUser { id, if_match },
            Kind::Group => Command::DeleteGroup { id, if_match },
        },
        _ => {
            return Err(ScimError::invalid_path(
                "POST takes a resource type path; PUT, PATCH and DELETE a resource path",
            ))
        }
    };
    Ok((kind, command))
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
                let status = match op.method {
                    crate::scim::bulk::BulkMethod::Post => 201,
                    crate::scim::bulk::BulkMethod::Delete => 204,
                    _ => 200,
                };
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
