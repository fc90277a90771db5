//! HTTP: routes, the request-id span, and the SCIM-shaped answers for routes and methods
//! we do not serve. [`configure`] is shared by `main` and the tests.

pub mod admin;
pub mod errors;
pub mod extract;
pub mod scim;

use crate::app::AppState;
use crate::domain::query::Kind;
use crate::scim::ScimError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, Responder};
use errors::{AdminError, ScimFailure};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// One span per request with a request id; the SCIM auth extractor adds `org_id` to it,
/// so every line logged while serving the request carries both. The URI is not logged:
/// query strings carry filters, and filters carry e-mail addresses.
async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = format!(
        "{:x}-{:x}",
        crate::util::unix_now(),
        REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route, org_id = tracing::field::Empty);
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "request done"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

fn scim_not_found() -> ScimFailure {
    ScimError::not_found("no such SCIM endpoint").into()
}

fn scim_method_not_allowed() -> ScimFailure {
    ScimError::method_not_allowed("this endpoint does not support the method").into()
}

async fn scim_405() -> Result<HttpResponse, ScimFailure> {
    Err(scim_method_not_allowed())
}

async fn scim_404() -> Result<HttpResponse, ScimFailure> {
    Err(scim_not_found())
}

async fn admin_404() -> Result<HttpResponse, AdminError> {
    Err(AdminError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    ))
}

async fn admin_405() -> Result<HttpResponse, AdminError> {
    Err(AdminError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not support the method",
    ))
}

async fn healthz() -> impl Responder {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the store is open and no flush has failed. The commit counters show how
/// well group commit is folding writes together (commits per batch).
async fn readyz(state: web::Data<AppState>) -> impl Responder {
    use std::sync::atomic::Ordering::Relaxed;
    let body = serde_json::json!({
        "status": if state.is_ready() { "ready" } else { "not ready" },
        "commits": state.commits.commits.load(Relaxed),
        "batches": state.commits.batches.load(Relaxed),
        "orgs_loaded": state.directory.loaded(),
    });
    if state.is_ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// A SCIM resource whose other methods answer with a SCIM 405.
fn scim_resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(scim_405))
}

fn admin_resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(admin_405))
}

/// `/Users` and `/Groups`, each resource carrying its [`Kind`] for the handlers.
fn resource_routes(cfg: &mut web::ServiceConfig) {
    use scim as s;
    let kinds = [(Kind::User, "/Users"), (Kind::Group, "/Groups")];
    for (kind, base) in kinds {
        cfg.service(
            scim_resource(base)
                .app_data(kind)
                .route(web::get().to(s::list))
                .route(web::post().to(s::create)),
        )
        .service(
            scim_resource(&format!("{base}/.search"))
                .app_data(kind)
                .route(web::post().to(s::search)),
        );
    }
    for (kind, base) in kinds {
        cfg.service(
            scim_resource(&format!("{base}/{{id}}"))
                .app_data(kind)
                .route(web::get().to(s::get))
                .route(web::put().to(s::replace))
                .route(web::patch().to(s::modify))
                .route(web::delete().to(s::delete)),
        );
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    use scim as s;
    cfg.app_data(state)
        .service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(
            web::scope("/scim/v2")
                .wrap(from_fn(request_span))
                // Users and Groups first, as static paths: actix matches resources in
                // order and tries a regex for each one with a dynamic segment, and every
                // IdP request but discovery is one of these. `.search` before `{id}`.
                .configure(resource_routes)
                .service(
                    scim_resource("/ServiceProviderConfig")
                        .route(web::get().to(s::service_provider_config)),
                )
                .service(scim_resource("/Schemas").route(web::get().to(s::schemas)))
                .service(scim_resource("/Schemas/{id}").route(web::get().to(s::schema)))
                .service(scim_resource("/ResourceTypes").route(web::get().to(s::resource_types)))
                .service(
                    scim_resource("/ResourceTypes/{id}").route(web::get().to(s::resource_type)),
                )
                .service(scim_resource("/.search").route(web::post().to(s::search_root)))
                .service(web::resource(["/Me", "/Me/{rest:.*}"]).to(s::me))
                .service(scim_resource("/Bulk").route(web::post().to(s::bulk)))
                .default_service(web::to(scim_404)),
        )
        .service(
            web::scope("/admin/v1")
                .wrap(from_fn(request_span))
                .service(admin_resource("/orgs").route(web::post().to(admin::create_org)))
                .service(admin_resource("/orgs/{org}").route(web::get().to(admin::get_org)))
                .service(admin_resource("/orgs/{org}/sso").route(web::put().to(admin::put_sso)))
                .service(
                    admin_resource("/orgs/{org}/scim/token")
                        .route(web::post().to(admin::generate_token))
                        .route(web::delete().to(admin::revoke_token)),
                )
                .service(
                    admin_resource("/orgs/{org}/scim/token/rotate")
                        .route(web::post().to(admin::rotate_token)),
                )
                .service(
                    admin_resource("/orgs/{org}/scim/group-mappings")
                        .route(web::put().to(admin::put_mappings))
                        .route(web::get().to(admin::get_mappings)),
                )
                .service(
                    admin_resource("/orgs/{org}/members")
                        .route(web::get().to(admin::list_members))
                        .route(web::post().to(admin::add_member)),
                )
                .service(admin_resource("/orgs/{org}/events").route(web::get().to(admin::events)))
                .service(
                    admin_resource("/orgs/{org}/teams")
                        .route(web::post().to(admin::create_team))
                        .route(web::get().to(admin::list_teams)),
                )
                .service(
                    admin_resource("/orgs/{org}/teams/{team}/members")
                        .route(web::put().to(admin::set_team_members)),
                )
                .default_service(web::to(admin_404)),
        )
        .default_service(web::to(scim_404));
}
