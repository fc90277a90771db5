//! The admin API (DESIGN §2), called by the host's dashboard with the admin token.

use super::errors::AdminError;
use super::extract::{AdminAuth, AdminJson};
use crate::actors::registry::{GenerateToken, RevokeToken, RotateToken};
use crate::domain::command::{Command, Outcome};
use crate::domain::ids::{MemberId, OrgId, TeamId};
use crate::domain::model::{GroupMapping, Member, Role, SsoConfig, SsoProtocol};
use crate::domain::{DomainError, OrgState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

type AdminResponse = Result<HttpResponse, AdminError>;

fn org_id(raw: &str) -> Result<OrgId, AdminError> {
    raw.parse()
        .map_err(|_| AdminError::not_found("organization"))
}

fn unix_to_rfc3339(secs: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn org_view(auth: &AdminAuth, s: &OrgState) -> Value {
    let owner = s
        .members
        .get(&s.meta.owner)
        .map(|m| json!(**m))
        .unwrap_or(Value::Null);
    let token = s.meta.scim_token.as_ref();
    json!({
        "id": s.meta.id,
        "name": s.meta.name,
        "created_at": s.meta.created_at,
        "owner": owner,
        "sso": s.meta.sso,
        "scim": {
            "enabled": token.is_some(),
            "base_url": auth.state.scim_base_url,
            "token_created_at": token.map(|t| t.created_at.clone()),
            "last_used_at": token.and_then(|_| auth.state.tokens.last_used(s.meta.id)).map(unix_to_rfc3339),
        },
    })
}

async fn run(
    auth: &AdminAuth,
    org: OrgId,
    command: Command,
) -> Result<(Outcome, Arc<OrgState>), AdminError> {
    let a = auth.state.directory.apply(org, command).await?;
    Ok((a.outcome, a.snapshot))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    email: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    name: String,
    owner: OwnerBody,
}

pub async fn create_org(auth: AdminAuth, AdminJson(body): AdminJson<CreateOrg>) -> AdminResponse {
    if body.name.trim().is_empty() || !body.owner.email.contains('@') {
        return Err(AdminError::bad_request(
            "name must not be empty and owner.email must be an e-mail address",
        ));
    }
    let (state, changes) = OrgState::create(
        body.name.trim().to_owned(),
        body.owner.email,
        body.owner.name,
    );
    let handle = auth.state.directory.create(state, changes).await?;
    Ok(HttpResponse::Created().json(org_view(&auth, &handle.snapshot())))
}

pub async fn get_org(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let handle = auth.state.directory.get(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(org_view(&auth, &handle.snapshot())))
}

#[derive(Deserialize)]
pub struct SsoBody {
    protocol: SsoProtocol,
    issuer: String,
    #[serde(flatten)]
    settings: Map<String, Value>,
}

pub async fn put_sso(
    auth: AdminAuth,
    path: web::Path<String>,
    AdminJson(b): AdminJson<SsoBody>,
) -> AdminResponse {
    let sso = SsoConfig {
        protocol: b.protocol,
        issuer: b.issuer,
        settings: b.settings,
    };
    let (_, snap) = run(&auth, org_id(&path)?, Command::ConfigureSso(sso)).await?;
    Ok(HttpResponse::Ok().json(org_view(&auth, &snap)))
}

fn token_reply(auth: &AdminAuth, token: String) -> HttpResponse {
    // Shown once: the store keeps only its hash. Never cache this response.
    HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"token": token, "base_url": auth.state.scim_base_url}))
}

fn mailbox(e: actix::MailboxError) -> AdminError {
    AdminError::from(DomainError::Unavailable(e.to_string()))
}

pub async fn generate_token(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let token = auth
        .state
        .registry
        .send(GenerateToken(org_id(&path)?))
        .await
        .map_err(mailbox)??;
    Ok(token_reply(&auth, token))
}

pub async fn rotate_token(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let token = auth
        .state
        .registry
        .send(RotateToken(org_id(&path)?))
        .await
        .map_err(mailbox)??;
    Ok(token_reply(&auth, token))
}

pub async fn revoke_token(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    auth.state
        .registry
        .send(RevokeToken(org_id(&path)?))
        .await
        .map_err(mailbox)??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    group: String,
    role: String,
}

fn mappings_view(s: &OrgState) -> Value {
    json!(s.meta.mappings)
}

pub async fn put_mappings(
    auth: AdminAuth,
    path: web::Path<String>,
    AdminJson(body): AdminJson<Vec<MappingBody>>,
) -> AdminResponse {
    let mut mappings = Vec::with_capacity(body.len());
    for m in body {
        let role: Role = m.role.parse().map_err(|_| {
            AdminError::bad_request(format!(
                "unknown role {:?}: use admin, developer, viewer or operator",
                m.role
            ))
        })?;
        mappings.push(GroupMapping {
            group: m.group.trim().to_owned(),
            role,
        });
    }
    let (_, snap) = run(&auth, org_id(&path)?, Command::SetMappings(mappings)).await?;
    Ok(HttpResponse::Ok().json(mappings_view(&snap)))
}

pub async fn get_mappings(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let handle = auth.state.directory.get(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(mappings_view(&handle.snapshot())))
}

pub async fn list_members(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let snap = auth.state.directory.get(org_id(&path)?).await?.snapshot();
    let members: Vec<&Member> = snap.members.values().map(|m| &**m).collect();
    Ok(HttpResponse::Ok().json(json!({"members": members})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    email: String,
    name: String,
    role: String,
}

/// A member added by hand (an invitation); SCIM may later take it over by e-mail.
pub async fn add_member(
    auth: AdminAuth,
    path: web::Path<String>,
    AdminJson(b): AdminJson<AddMemberBody>,
) -> AdminResponse {
    let role: Role = b
        .role
        .parse()
        .map_err(|_| AdminError::bad_request(format!("unknown role {:?}", b.role)))?;
    let (outcome, snap) = run(
        &auth,
        org_id(&path)?,
        Command::AddMember {
            email: b.email,
            name: b.name,
            role,
        },
    )
    .await?;
    let Outcome::Member(id) = outcome else {
        return Err(AdminError::not_found("member"));
    };
    Ok(HttpResponse::Created().json(json!(*snap.members[&id])))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

const MAX_EVENTS_PAGE: usize = 1000;

pub async fn events(
    auth: AdminAuth,
    path: web::Path<String>,
    q: web::Query<EventsQuery>,
) -> AdminResponse {
    let org = org_id(&path)?;
    if !auth
        .state
        .store
        .org_exists(org)
        .map_err(|e| DomainError::Unavailable(e.to_string()))?
    {
        return Err(AdminError::not_found("organization"));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_EVENTS_PAGE);
    let (store, after) = (auth.state.store.clone(), q.after);
    let events = web::block(move || store.events(org, after, limit))
        .await
        .map_err(|e| DomainError::Unavailable(e.to_string()))?
        .map_err(|e| DomainError::Unavailable(e.to_string()))?;
    let next = events.last().map(|e| e.seq).unwrap_or(after);
    Ok(HttpResponse::Ok().json(json!({"events": events, "next": next})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    name: String,
}

fn team_view(s: &OrgState, id: TeamId) -> Value {
    s.teams.get(&id).map(|t| json!(**t)).unwrap_or(Value::Null)
}

pub async fn create_team(
    auth: AdminAuth,
    path: web::Path<String>,
    AdminJson(b): AdminJson<TeamBody>,
) -> AdminResponse {
    let (outcome, snap) = run(&auth, org_id(&path)?, Command::CreateTeam { name: b.name }).await?;
    let Outcome::Team(id) = outcome else {
        return Err(AdminError::not_found("team"));
    };
    Ok(HttpResponse::Created().json(team_view(&snap, id)))
}

pub async fn list_teams(auth: AdminAuth, path: web::Path<String>) -> AdminResponse {
    let snap = auth.state.directory.get(org_id(&path)?).await?.snapshot();
    let teams: Vec<Value> = snap.teams.values().map(|t| json!(**t)).collect();
    Ok(HttpResponse::Ok().json(json!({"teams": teams})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMembersBody {
    members: Vec<String>,
}

pub async fn set_team_members(
    auth: AdminAuth,
    path: web::Path<(String, String)>,
    AdminJson(b): AdminJson<TeamMembersBody>,
) -> AdminResponse {
    let (org, team) = path.into_inner();
    let team: TeamId = team.parse().map_err(|_| AdminError::not_found("team"))?;
    let members = b
        .members
        .iter()
        .map(|m| {
            m.parse::<MemberId>()
                .map_err(|_| AdminError::bad_request(format!("{m:?} is not a member id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (_, snap) = run(
        &auth,
        org_id(&org)?,
        Command::SetTeamMembers { team, members },
    )
    .await?;
    Ok(HttpResponse::Ok().json(team_view(&snap, team)))
}
