//! How directory data becomes membership (DESIGN §3).
//!
//! After every SCIM change, each user whose data or groups may have moved is re-evaluated
//! here, inside the same transaction, so the member change and its event commit together
//! with the SCIM change that caused them.

use super::ids::ScimId;
use super::model::{EventKind, ManagedBy, Member, MemberStatus, Role};
use super::state::{OrgState, Tx};
use serde_json::{json, Map, Value};

/// What the directory says a user should be in the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub role: Role,
    pub active: bool,
    pub email: String,
    pub name: String,
}

/// The most privileged role among the user's mapped groups, or `None` when the user is in
/// no mapped group (or does not exist).
pub fn desired(state: &OrgState, user: ScimId) -> Option<Desired> {
    let u = state.users.get(&user)?;
    let groups = state.user_groups.get(&user)?;
    let role = groups
        .iter()
        .filter_map(|g| state.groups.get(g))
        .filter_map(|g| {
            state
                .mapping_index
                .get(&g.display_name().to_lowercase())
                .copied()
        })
        .max_by_key(|r| r.privilege())?;
    let p = u.profile();
    Some(Desired {
        role,
        active: p.active,
        email: p.email.unwrap_or(p.user_name),
        name: p.display_name,
    })
}

fn status_of(active: bool) -> MemberStatus {
    if active {
        MemberStatus::Active
    } else {
        MemberStatus::Banned
    }
}

impl Tx<'_> {
    /// Bring the member linked to `user` in line with the directory. Emits one event per
    /// effect; does nothing (and records nothing) when member and directory agree.
    pub fn reevaluate_user(&mut self, user: ScimId) {
        let want = desired(self.state, user);
        let have = self.state.member_for_user(user).cloned();
        match (have, want) {
            (None, None) => {}
            (None, Some(d)) => self.add_member(user, d),
            (Some(m), None) => {
                if m.role == Role::Owner {
                    self.owner_protected(&m, user, json!({"attempted": "remove"}));
                    if !self.state.users.contains_key(&user) {
                        // The directory account is gone: the Owner stays, unlinked.
                        let mut unlinked = (*m).clone();
                        unlinked.scim_user_id = None;
                        unlinked.managed_by = ManagedBy::Manual;
                        self.put_member(unlinked);
                    }
                } else {
                    self.remove_member(m.id);
                    self.event(
                        EventKind::MemberRemoved,
                        Some(m.id),
                        Some(user),
                        None,
                        json!({"role": m.role}),
                    );
                }
            }
            (Some(m), Some(d)) => {
                if m.role == Role::Owner {
                    let mut attempted = Vec::new();
                    if d.role != Role::Owner {
                        attempted.push(json!({"attempted": "role_change", "to": d.role}));
                    }
                    if !d.active {
                        attempted.push(json!({"attempted": "ban"}));
                    }
                    for a in attempted {
                        self.owner_protected(&m, user, a);
                    }
                    return;
                }
                let mut next = (*m).clone();
                next.role = d.role;
                next.status = status_of(d.active);
                next.email = d.email.clone();
                next.name = d.name.clone();
                if next == *m {
                    return;
                }
                self.put_member(next);
                if m.role != d.role {
                    self.event(
                        EventKind::RoleChanged,
                        Some(m.id),
                        Some(user),
                        None,
                        json!({"from": m.role, "to": d.role}),
                    );
                }
                match (m.status, status_of(d.active)) {
                    (MemberStatus::Active, MemberStatus::Banned) => self.event(
                        EventKind::MemberBanned,
                        Some(m.id),
                        Some(user),
                        None,
                        Value::Null,
                    ),
                    (MemberStatus::Banned, MemberStatus::Active) => self.event(
                        EventKind::MemberUnbanned,
                        Some(m.id),
                        Some(user),
                        None,
                        Value::Null,
                    ),
                    _ => {}
                }
                let mut profile = Map::new();
                if m.email != d.email {
                    profile.insert("email".into(), json!({"from": m.email, "to": d.email}));
                }
                if m.name != d.name {
                    profile.insert("name".into(), json!({"from": m.name, "to": d.name}));
                }
                if !profile.is_empty() {
                    self.event(
                        EventKind::ProfileUpdated,
                        Some(m.id),
                        Some(user),
                        None,
                        Value::Object(profile),
                    );
                }
            }
        }
    }

    fn add_member(&mut self, user: ScimId, d: Desired) {
        let takeover = self
            .state
            .manual_by_email
            .get(d.email.to_lowercase().as_str())
            .and_then(|id| self.state.members.get(id))
            .cloned();
        match takeover {
            Some(m) if m.role == Role::Owner => {
                // The Owner's own directory account: link it, change nothing else.
                let mut linked = (*m).clone();
                linked.scim_user_id = Some(user);
                self.put_member(linked);
                let mut attempted = vec![];
                if d.role != Role::Owner {
                    attempted
                        .push(json!({"attempted": "role_change", "to": d.role, "linked": true}));
                }
                if !d.active {
                    attempted.push(json!({"attempted": "ban", "linked": true}));
                }
                for a in attempted {
                    self.owner_protected(&m, user, a);
                }
            }
            Some(m) => {
                let next = Member {
                    id: m.id,
                    email: d.email,
                    name: d.name,
                    role: d.role,
                    status: status_of(d.active),
                    managed_by: ManagedBy::Scim,
                    scim_user_id: Some(user),
                };
                let detail = json!({"role": next.role, "status": next.status, "took_over": true, "previous_role": m.role});
                self.put_member(next);
                self.event(EventKind::MemberAdded, Some(m.id), Some(user), None, detail);
            }
            None => {
                let m = Member {
                    id: super::ids::MemberId::new_random(),
                    email: d.email,
                    name: d.name,
                    role: d.role,
                    status: status_of(d.active),
                    managed_by: ManagedBy::Scim,
                    scim_user_id: Some(user),
                };
                let (id, detail) = (m.id, json!({"role": m.role, "status": m.status}));
                self.put_member(m);
                self.event(EventKind::MemberAdded, Some(id), Some(user), None, detail);
            }
        }
    }

    fn owner_protected(&mut self, m: &Member, user: ScimId, detail: Value) {
        self.event(
            EventKind::OwnerProtected,
            Some(m.id),
            Some(user),
            None,
            detail,
        );
    }
}
