//! Rendering of stored resources as SCIM JSON (RFC 7643 §3, §4).
//!
//! `meta.location` and `$ref` are built from the configured public base URL, never
//! hard-coded (a deployment behind a proxy must see its own address).

use super::resources::{GroupRecord, UserRecord};
use super::state::OrgState;
use crate::scim::schema::{
    ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, MEMBERSHIP_SCHEMA_ID, USER_SCHEMA_ID,
};
use serde_json::{json, Map, Value};

fn meta(
    resource_type: &str,
    created: &str,
    modified: &str,
    version: String,
    location: String,
) -> Value {
    json!({
        "resourceType": resource_type,
        "created": created,
        "lastModified": modified,
        "version": version,
        "location": location,
    })
}

/// A User with its read-only `groups` and scimd's membership extension.
pub fn user(state: &OrgState, u: &UserRecord, base_url: &str) -> Value {
    let mut attrs = u.attrs.to_map();
    // An attached membership view is stored empty; the server's values replace it below.
    let attached = attrs.remove(MEMBERSHIP_SCHEMA_ID).is_some();
    let mut server = user_server_attrs(state, u, attached, base_url);
    server.push(("meta", user_meta(u, base_url)));
    let mut out = Map::with_capacity(attrs.len() + 5);
    out.insert(
        "schemas".into(),
        user_schemas(
            attrs.contains_key(ENTERPRISE_USER_SCHEMA_ID),
            has_membership(&server),
        ),
    );
    out.insert("id".into(), u.id.to_string().into());
    out.extend(attrs);
    for (k, v) in server {
        out.insert(k.into(), v);
    }
    Value::Object(out)
}

/// RFC 7643 §3: `schemas` names the core schema and each extension the resource carries.
fn user_schemas(enterprise: bool, membership: bool) -> Value {
    let mut schemas = vec![Value::from(USER_SCHEMA_ID)];
    if enterprise {
        schemas.push(ENTERPRISE_USER_SCHEMA_ID.into());
    }
    if membership {
        schemas.push(MEMBERSHIP_SCHEMA_ID.into());
    }
    Value::Array(schemas)
}

fn has_membership(server: &[(&str, Value)]) -> bool {
    server.iter().any(|(k, _)| *k == MEMBERSHIP_SCHEMA_ID)
}

/// The same User as JSON text, without parsing its stored attributes: they are spliced in
/// as the text they are kept as. Equal to `user(..).to_string()` (a unit test holds them
/// to it); used for whole-resource answers, the lookups every IdP makes.
pub fn user_text(state: &OrgState, u: &UserRecord, base_url: &str) -> String {
    let ext = u.extensions();
    if ext.membership {
        // The stored (empty) view object cannot be spliced: the server's values replace it.
        return user(state, u, base_url).to_string();
    }
    let server = user_server_attrs(state, u, false, base_url);
    let attrs = u.attrs.as_json();
    let mut out = String::with_capacity(attrs.len() + 512);
    // Written straight into `out`: a lookup answers with exactly this, and building the
    // fixed parts as `Value`s first cost a dozen allocations per answer.
    out.push_str("{\"schemas\":[\"");
    out.push_str(USER_SCHEMA_ID);
    if ext.enterprise {
        out.push_str("\",\"");
        out.push_str(ENTERPRISE_USER_SCHEMA_ID);
    }
    if has_membership(&server) {
        out.push_str("\",\"");
        out.push_str(MEMBERSHIP_SCHEMA_ID);
    }
    out.push_str("\"],\"id\":\"");
    let mut buf = uuid::Uuid::encode_buffer();
    let id = u.id.0.hyphenated().encode_lower(&mut buf);
    out.push_str(id);
    out.push('"');
    let inner = &attrs[1..attrs.len() - 1];
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    for (k, v) in server {
        out.push_str(",\"");
        out.push_str(k); // a schema URN or `groups`: nothing to escape
        out.push_str("\":");
        out.push_str(&v.to_string());
    }
    out.push_str(",\"meta\":{\"resourceType\":\"User\",\"created\":\"");
    out.push_str(&u.created.to_rfc3339());
    out.push_str("\",\"lastModified\":\"");
    out.push_str(&u.last_modified.to_rfc3339());
    out.push_str("\",\"version\":");
    out.push_str(&Value::from(u.version.etag()).to_string());
    out.push_str(",\"location\":\"");
    out.push_str(&json_escaped(base_url));
    out.push_str("/Users/");
    out.push_str(id);
    out.push_str("\"}}");
    out
}

/// `s` escaped for the inside of a JSON string (the base URL is configuration, but it is
/// escaped like any other string).
fn json_escaped(s: &str) -> String {
    let quoted = Value::from(s).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn user_meta(u: &UserRecord, base_url: &str) -> Value {
    meta(
        "User",
        &u.created.to_rfc3339(),
        &u.last_modified.to_rfc3339(),
        u.version.etag(),
        format!("{base_url}/Users/{}", u.id),
    )
}

/// The server's attributes of a User but `meta`, in output order: `groups` (when any), the
/// membership extension (when the user is a member or the client attached it).
fn user_server_attrs(
    state: &OrgState,
    u: &UserRecord,
    attached: bool,
    base_url: &str,
) -> Vec<(&'static str, Value)> {
    let mut out = Vec::with_capacity(3);
    if let Some(groups) = state.user_groups.get(&u.id) {
        let list: Vec<Value> = groups
            .iter()
            .filter_map(|g| state.groups.get(g))
            .map(|g| {
                json!({
                    "value": g.id.to_string(),
                    "display": g.display_name(),
                    "type": "direct",
                    "$ref": format!("{base_url}/Groups/{}", g.id),
                })
            })
            .collect();
        out.push(("groups", Value::Array(list)));
    }
    // A user in no mapped group has no role and no status: the extension is unassigned
    // (RFC 7643 §2.5) and left out, unless the client attached it (then it shows empty).
    match state.member_for_user(u.id) {
        Some(m) => out.push((
            MEMBERSHIP_SCHEMA_ID,
            json!({"role": m.role, "status": m.status, "memberId": m.id.to_string()}),
        )),
        None if attached => out.push((MEMBERSHIP_SCHEMA_ID, json!({}))),
        None => {}
    }
    out
}

/// A Group; `with_members: false` skips the member list (for
/// `excludedAttributes=members`, which Entra sends on every lookup).
pub fn group(_state: &OrgState, g: &GroupRecord, base_url: &str, with_members: bool) -> Value {
    let mut out = Map::with_capacity(g.attrs.len() + 4);
    out.insert("schemas".into(), json!([GROUP_SCHEMA_ID]));
    out.insert("id".into(), g.id.to_string().into());
    for (k, v) in &g.attrs {
        out.insert(k.clone(), v.clone());
    }
    if with_members {
        let list: Vec<Value> = g
            .members
            .iter()
            .map(|uid| {
                json!({
                    "value": uid.to_string(),
                    "type": "User",
                    "$ref": format!("{base_url}/Users/{uid}"),
                })
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        meta(
            "Group",
            &g.created.to_rfc3339(),
            &g.last_modified.to_rfc3339(),
            g.version.etag(),
            format!("{base_url}/Groups/{}", g.id),
        ),
    );
    Value::Object(out)
}

/// A group's `members` array as JSON text, written straight into `out`. The member list of
/// a 10,000-member group is most of what every member PATCH answers with (RFC 7644 §3.5.2
/// returns the whole resource); building it as `Value`s first cost several times more
/// than writing the text.
pub fn write_members_json(g: &GroupRecord, base_url: &str, out: &mut String) {
    let base = &json_escaped(base_url);
    let mut buf = uuid::Uuid::encode_buffer();
    out.reserve(g.members.len() * (base.len() + 110));
    out.push('[');
    for (i, uid) in g.members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let id = uid.0.hyphenated().encode_lower(&mut buf);
        out.push_str("{\"value\":\"");
        out.push_str(id);
        out.push_str("\",\"type\":\"User\",\"$ref\":\"");
        out.push_str(base);
        out.push_str("/Users/");
        out.push_str(id);
        out.push_str("\"}");
    }
    out.push(']');
}
