//! Reads against a published org snapshot: single resources and list queries
//! (RFC 7644 §3.4.2: filter, sort, pagination, attribute projection).

use super::ids::{ScimId, Version};
use super::render;
use super::resources::{GroupRecord, UserRecord};
use super::state::OrgState;
use crate::scim::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use crate::scim::list::{self, ListQuery, SortOrder};
use crate::scim::resource::project;
use crate::scim::schema::{ResourceTypeDef, GROUP_RESOURCE, USER_RESOURCE};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn resource_type(self) -> &'static ResourceTypeDef {
        match self {
            Kind::User => &USER_RESOURCE,
            Kind::Group => &GROUP_RESOURCE,
        }
    }
}

/// What to include in a rendered resource (RFC 7644 §3.9).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    fn names(list: &[AttrPath], attr: &str) -> bool {
        list.iter()
            .any(|p| p.attr.eq_ignore_ascii_case(attr) && p.urn.is_none())
    }

    /// Whether a Group's member list is wanted at all: Entra asks for groups with
    /// `excludedAttributes=members`, and a 10,000-member list is not worth building to
    /// throw away.
    fn wants_members(&self) -> bool {
        !Self::names(&self.excluded, "members")
            && (self.attributes.is_empty() || Self::names(&self.attributes, "members"))
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }
}

/// A stored resource of either kind, borrowed from the snapshot. List pages carry these
/// from the index or the ordered map straight to rendering: looking each one up again by
/// id cost a B-tree walk per item, most of a lookup's cache misses in a large org.
#[derive(Clone, Copy)]
enum Record<'s> {
    User(&'s Arc<UserRecord>),
    Group(&'s Arc<GroupRecord>),
}

impl<'s> Record<'s> {
    fn find(state: &'s OrgState, kind: Kind, id: ScimId) -> Option<Record<'s>> {
        match kind {
            Kind::User => state.users.get(&id).map(Record::User),
            Kind::Group => state.groups.get(&id).map(Record::Group),
        }
    }

    fn version(self) -> Version {
        match self {
            Record::User(u) => u.version,
            Record::Group(g) => g.version,
        }
    }

    fn render(self, state: &OrgState, base: &str, with_members: bool) -> Value {
        match self {
            Record::User(u) => render::user(state, u, base),
            Record::Group(g) => render::group(state, g, base, with_members),
        }
    }

    /// As response text, projected. Whole resources take the text fast paths: a User's
    /// stored attributes are spliced in as the text they are kept as, and a Group's
    /// member list is written as text (see [`render::write_members_json`]).
    fn text(self, state: &OrgState, kind: Kind, base: &str, p: &Projection) -> String {
        match self {
            Record::User(u) if p.is_empty() => render::user_text(state, u, base),
            Record::Group(g) if p.is_empty() => {
                let mut text = render::group(state, g, base, false).to_string();
                // `text` is a JSON object: reopen it and append `"members": [...]`.
                text.pop();
                text.push_str(",\"members\":");
                render::write_members_json(g, base, &mut text);
                text.push('}');
                text
            }
            _ => {
                let mut v = self.render(state, base, p.wants_members());
                finish(&mut v, kind, p);
                v.to_string()
            }
        }
    }
}

/// A single resource with its version, projected.
pub fn get(
    state: &OrgState,
    kind: Kind,
    id: ScimId,
    base: &str,
    p: &Projection,
) -> Option<(Value, Version)> {
    let r = Record::find(state, kind, id)?;
    let mut v = r.render(state, base, p.wants_members());
    finish(&mut v, kind, p);
    Some((v, r.version()))
}

/// The version of a resource (its `ETag`), when it exists.
pub fn version(state: &OrgState, kind: Kind, id: ScimId) -> Option<Version> {
    Record::find(state, kind, id).map(Record::version)
}

/// A single resource as response text with its version, projected.
pub fn get_text(
    state: &OrgState,
    kind: Kind,
    id: ScimId,
    base: &str,
    p: &Projection,
) -> Option<(String, Version)> {
    let r = Record::find(state, kind, id)?;
    Some((r.text(state, kind, base, p), r.version()))
}

fn mentions(f: &Filter, attr: &str) -> bool {
    match f {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => {
            p.attr.eq_ignore_ascii_case(attr)
        }
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, attr) || mentions(b, attr),
        Filter::Not(a) => mentions(a, attr),
    }
}

/// `userName eq "x"` / `displayName eq "x"`: answered from the unique-name index instead
/// of a scan (the lookup every IdP does before each create).
fn indexed_lookup<'s>(state: &'s OrgState, kind: Kind, f: &Filter) -> Option<Option<Record<'s>>> {
    let Filter::Compare(p, CompareOp::Eq, CompValue::Str(s)) = f else {
        return None;
    };
    if p.sub.is_some() {
        return None;
    }
    if let Some(urn) = &p.urn {
        if !urn.eq_ignore_ascii_case(kind.resource_type().schema.id) {
            return None;
        }
    }
    let found = match kind {
        Kind::User if p.attr.eq_ignore_ascii_case("userName") => {
            state.user_by_name(s).map(Record::User)
        }
        Kind::Group if p.attr.eq_ignore_ascii_case("displayName") => {
            state.group_by_name(s).map(Record::Group)
        }
        Kind::User | Kind::Group if p.attr.eq_ignore_ascii_case("id") => s
            .parse::<ScimId>()
            .ok()
            .and_then(|id| Record::find(state, kind, id)),
        _ => return None,
    };
    Some(found)
}

/// Every resource of the kind, in id order.
fn all(state: &OrgState, kind: Kind) -> Box<dyn Iterator<Item = Record<'_>> + '_> {
    match kind {
        Kind::User => Box::new(state.users.values().map(Record::User)),
        Kind::Group => Box::new(state.groups.values().map(Record::Group)),
    }
}

fn count(state: &OrgState, kind: Kind) -> usize {
    match kind {
        Kind::User => state.users.len(),
        Kind::Group => state.groups.len(),
    }
}

fn finish(v: &mut Value, kind: Kind, p: &Projection) {
    if !p.is_empty() {
        project(v, kind.resource_type(), &p.attributes, &p.excluded);
    }
    if !p.wants_members() {
        if let Some(o) = v.as_object_mut() {
            o.remove("members");
        }
    }
}

/// The matches of a list or search query: `totalResults` and the requested page, each
/// resource as JSON text (RFC 7644 §3.4.2). The order is by id unless `sortBy` is given,
/// so pages are stable.
pub fn page(state: &OrgState, kind: Kind, q: &ListQuery, base: &str) -> (usize, Vec<String>) {
    let projection = Projection {
        attributes: q.attributes.clone(),
        excluded: q.excluded_attributes.clone(),
    };

    // Fast paths: no filter (or one the name index answers) and no sort: render only the
    // page.
    let (total, chosen): (usize, Box<dyn Iterator<Item = Record<'_>>>) =
        match (&q.filter, &q.sort_by) {
            (None, None) => (count(state, kind), all(state, kind)),
            (Some(f), None) => match indexed_lookup(state, kind, f) {
                Some(found) => (usize::from(found.is_some()), Box::new(found.into_iter())),
                None => return scan(state, kind, q, base, &projection),
            },
            _ => return scan(state, kind, q, base, &projection),
        };
    let range = list::page_bounds(total, q.start_index, q.count);
    let items = chosen
        .skip(range.start)
        .take(range.len())
        .map(|r| r.text(state, kind, base, &projection))
        .collect();
    (total, items)
}

/// Filter and/or sort by evaluating every resource of the kind.
fn scan(
    state: &OrgState,
    kind: Kind,
    q: &ListQuery,
    base: &str,
    projection: &Projection,
) -> (usize, Vec<String>) {
    let rt = kind.resource_type();
    let members_needed = projection.wants_members()
        || q.filter.as_ref().is_some_and(|f| mentions(f, "members"))
        || q.sort_by
            .as_ref()
            .is_some_and(|p| p.attr.eq_ignore_ascii_case("members"));
    let mut matched: Vec<Value> = all(state, kind)
        .map(|r| r.render(state, base, members_needed))
        .filter(|v| q.filter.as_ref().is_none_or(|f| filter::matches(f, v, rt)))
        .collect();
    if let Some(by) = &q.sort_by {
        // `sort_by` is stable and the input is in id order, so ties keep a stable order.
        matched.sort_by(|a, b| {
            let o = list::sort_cmp(a, b, by, rt);
            match q.sort_order {
                SortOrder::Ascending => o,
                SortOrder::Descending => o.reverse(),
            }
        });
    }
    let total = matched.len();
    let range = list::page_bounds(total, q.start_index, q.count);
    let items = matched
        .drain(range)
        .map(|mut v| {
            finish(&mut v, kind, projection);
            v.to_string()
        })
        .collect();
    (total, items)
}

/// A list or search response (RFC 7644 §3.4.2, §3.4.3) as JSON text.
pub fn list(state: &OrgState, kind: Kind, q: &ListQuery, base: &str) -> String {
    let (total, items) = page(state, kind, q, base);
    list::list_response_text(total, q.start_index, &items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::normalize_resource;
    use crate::scim::schema::MEMBERSHIP_SCHEMA_ID as MEMBERSHIP;
    use serde_json::json;

    #[test]
    fn user_text_fast_path_equals_the_rendered_value() {
        let (mut s, _) = OrgState::create("A".into(), "o@a.test".into(), "O".into());
        s.meta = std::sync::Arc::new(crate::domain::model::OrgMeta {
            mappings: vec![crate::domain::model::GroupMapping {
                group: "Eng".into(),
                role: crate::domain::model::Role::Viewer,
            }],
            ..(*s.meta).clone()
        });
        s.mapping_index = std::sync::Arc::new(
            [("eng".to_string(), crate::domain::model::Role::Viewer)]
                .into_iter()
                .collect(),
        );
        let mut tx = s.begin();
        let body = json!({"userName": "ada \"q\"", "name": {"givenName": "Ada"},
            "emails": [{"value": "a@x.test", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}});
        let with_all = tx
            .create_user(normalize_resource(&body, &USER_RESOURCE).unwrap())
            .unwrap();
        let bare = tx
            .create_user(normalize_resource(&json!({"userName": "b"}), &USER_RESOURCE).unwrap())
            .unwrap();
        // The membership view attached by the client: shown empty for a non-member, with
        // the server's values for a member.
        let view = |name: &str| {
            normalize_resource(
                &json!({"userName": name, MEMBERSHIP: {"role": "admin"}}),
                &USER_RESOURCE,
            )
            .unwrap()
        };
        let attached = tx.create_user(view("c")).unwrap();
        let attached_member = tx.create_user(view("d")).unwrap();
        let g = json!({"displayName": "Eng", "members": [
            {"value": with_all.to_string()}, {"value": attached_member.to_string()}]});
        tx.create_group(normalize_resource(&g, &GROUP_RESOURCE).unwrap())
            .unwrap();
        tx.finish();
        let (base, whole) = ("http://h/scim/v2", Projection::default());
        for id in [with_all, bare, attached, attached_member] {
            let (text, _) = get_text(&s, Kind::User, id, base, &whole).unwrap();
            let (value, _) = get(&s, Kind::User, id, base, &whole).unwrap();
            // Byte for byte: the fast path writes the same members in the same order.
            assert_eq!(text, value.to_string());
        }
        let (v, _) = get(&s, Kind::User, with_all, "http://h", &Projection::default()).unwrap();
        assert_eq!(v["groups"][0]["display"], "Eng");
        assert_eq!(v[MEMBERSHIP]["role"], "viewer");
        assert_eq!(v["schemas"].as_array().unwrap().len(), 3);
        let render = |id| {
            get(&s, Kind::User, id, "http://h", &Projection::default())
                .unwrap()
                .0
        };
        let v = render(bare);
        assert!(
            v.get(MEMBERSHIP).is_none(),
            "no member, nothing attached: {v}"
        );
        assert_eq!(v["schemas"], json!([crate::scim::schema::USER_SCHEMA_ID]));
        let v = render(attached);
        assert_eq!(v[MEMBERSHIP], json!({}), "attached, values ignored");
        assert_eq!(v["schemas"][1], MEMBERSHIP);
        let v = render(attached_member);
        assert_eq!(v[MEMBERSHIP]["role"], "viewer");
    }

    #[test]
    fn group_text_fast_path_equals_the_rendered_value() {
        let (mut s, _) = OrgState::create("A".into(), "o@a.test".into(), "O".into());
        let mut tx = s.begin();
        let users: Vec<Value> = (0..3)
            .map(|i| {
                let attrs =
                    normalize_resource(&json!({"userName": format!("u{i}")}), &USER_RESOURCE)
                        .unwrap();
                json!({"value": tx.create_user(attrs).unwrap().to_string()})
            })
            .collect();
        let body = json!({"displayName": "G \"quoted\"", "externalId": "e", "members": users});
        let g = tx
            .create_group(normalize_resource(&body, &GROUP_RESOURCE).unwrap())
            .unwrap();
        tx.finish();
        for base in ["http://h/scim/v2", "https://x.test/a\"b"] {
            let (text, v1) = get_text(&s, Kind::Group, g, base, &Projection::default()).unwrap();
            let (value, v2) = get(&s, Kind::Group, g, base, &Projection::default()).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
            assert_eq!(v1, v2);
            assert_eq!(value["members"].as_array().unwrap().len(), 3);
        }
        let (empty, _) = {
            let mut tx = s.begin();
            tx.replace_group(
                g,
                normalize_resource(&json!({"displayName": "G"}), &GROUP_RESOURCE).unwrap(),
                None,
            )
            .unwrap();
            tx.finish();
            get_text(&s, Kind::Group, g, "http://h", &Projection::default()).unwrap()
        };
        assert_eq!(
            serde_json::from_str::<Value>(&empty).unwrap()["members"],
            json!([])
        );
    }
}
