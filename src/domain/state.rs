//! An organization's in-memory state and the transactions that change it.
//!
//! The state is built from persistent (structurally shared) maps, so cloning it is O(1):
//! the org actor applies each mutation to a copy and keeps it only when the mutation
//! succeeds (all or nothing, RFC 7644 §3.5.2), and every committed version can be
//! published as an immutable snapshot for readers.

use super::ids::{MemberId, OrgId, ScimId, TeamId, Timestamp, Version};
use super::model::{
    Counters, Event, EventKind, GroupMapping, ManagedBy, Member, MemberStatus, OrgMeta, Role,
    ScimTokenInfo, SsoConfig, Team, TokenHash,
};
use super::resources::{Attrs, GroupRecord, UserRecord};
use super::{Change, DomainError, DomainResult};
use crate::scim::patch::{self, MemberOp, MemberRef, PatchOp};
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use crate::scim::ScimError;
use crate::util::now_rfc3339;
use imbl::{HashMap as IMap, OrdMap, OrdSet};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct OrgState {
    pub meta: Arc<OrgMeta>,
    pub counters: Counters,
    /// Ordered by id so that list pages are stable (RFC 7644 §3.4.2.4).
    pub users: OrdMap<ScimId, Arc<UserRecord>>,
    /// Lower-cased `userName` -> the same record as in `users`: `userName` is unique per
    /// org, case-insensitively (RFC 7643 §4.1.1, `caseExact: false`). It holds the record
    /// itself so that a `userName eq` lookup, the request every IdP sends before each
    /// create, is one hash walk: going on through `users` as well cost a B-tree walk of
    /// cache misses per lookup in a 100,000-user org. Written by `put_user` and
    /// `remove_user`, and by a rename in `Tx::update_user`, which drops the old name.
    user_names: IMap<Arc<str>, Arc<UserRecord>>,
    pub groups: OrdMap<ScimId, Arc<GroupRecord>>,
    /// Lower-cased `displayName` -> id (unique per org: role mappings name groups by it).
    pub group_names: IMap<Arc<str>, ScimId>,
    /// Reverse index for a User's read-only `groups` and for membership evaluation.
    pub user_groups: IMap<ScimId, OrdSet<ScimId>>,
    pub members: OrdMap<MemberId, Arc<Member>>,
    pub member_of_user: IMap<ScimId, MemberId>,
    /// Lower-cased e-mail -> manual member not yet linked to a SCIM user (takeover).
    pub manual_by_email: IMap<Arc<str>, MemberId>,
    pub teams: OrdMap<TeamId, Arc<Team>>,
    /// Lower-cased mapped group name -> role, derived from `meta.mappings`.
    pub mapping_index: Arc<HashMap<String, Role>>,
}

/// What the store hands back to rebuild an org.
pub struct OrgParts {
    pub meta: OrgMeta,
    pub counters: Counters,
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
    /// (group, user) edges.
    pub edges: Vec<(ScimId, ScimId)>,
    pub members: Vec<Member>,
    pub teams: Vec<Team>,
}

fn lower(s: &str) -> Arc<str> {
    Arc::from(s.to_lowercase())
}

fn index_mappings(m: &[GroupMapping]) -> Arc<HashMap<String, Role>> {
    Arc::new(m.iter().map(|m| (m.group.to_lowercase(), m.role)).collect())
}

impl OrgState {
    /// A new organization with its Owner (a manual member).
    pub fn create(
        name: String,
        owner_email: String,
        owner_name: String,
    ) -> (OrgState, Vec<Change>) {
        let id = OrgId::new_random();
        let owner = Member {
            id: MemberId::new_random(),
            email: owner_email,
            name: owner_name,
            role: Role::Owner,
            status: MemberStatus::Active,
            managed_by: ManagedBy::Manual,
            scim_user_id: None,
        };
        let meta = OrgMeta {
            id,
            name,
            created_at: now_rfc3339(),
            owner: owner.id,
            sso: None,
            scim_token: None,
            mappings: Vec::new(),
        };
        let mut state = OrgState::from_parts(OrgParts {
            meta,
            counters: Counters::default(),
            users: vec![],
            groups: vec![],
            edges: vec![],
            members: vec![owner.clone()],
            teams: vec![],
        });
        let mut tx = state.begin();
        tx.changes.push(Change::PutOrg(tx.state.meta.clone()));
        tx.changes
            .push(Change::PutMember(id, Arc::new(owner.clone())));
        tx.event(
            EventKind::OrgCreated,
            Some(owner.id),
            None,
            None,
            json!({"name": tx.state.meta.name}),
        );
        let changes = tx.finish();
        (state, changes)
    }

    pub fn from_parts(p: OrgParts) -> OrgState {
        let mut s = OrgState {
            mapping_index: index_mappings(&p.meta.mappings),
            meta: Arc::new(p.meta),
            counters: p.counters,
            users: OrdMap::new(),
            user_names: IMap::new(),
            groups: OrdMap::new(),
            group_names: IMap::new(),
            user_groups: IMap::new(),
            members: OrdMap::new(),
            member_of_user: IMap::new(),
            manual_by_email: IMap::new(),
            teams: OrdMap::new(),
        };
        for u in p.users {
            s.put_user(lower(&u.user_name()), Arc::new(u));
        }
        let mut groups: std::collections::HashMap<ScimId, GroupRecord> =
            p.groups.into_iter().map(|g| (g.id, g)).collect();
        for (g, u) in p.edges {
            if let Some(group) = groups.get_mut(&g) {
                group.members.insert(u);
                s.user_groups.entry(u).or_default().insert(g);
            }
        }
        for (id, g) in groups {
            s.group_names.insert(lower(g.display_name()), id);
            s.groups.insert(id, Arc::new(g));
        }
        for m in p.members {
            s.index_member(&m);
            s.members.insert(m.id, Arc::new(m));
        }
        for t in p.teams {
            s.teams.insert(t.id, Arc::new(t));
        }
        s
    }

    /// Store a user record under its lower-cased `userName` (a rename removes the old
    /// name first): the one place both user maps are written.
    fn put_user(&mut self, name: Arc<str>, rec: Arc<UserRecord>) {
        self.users.insert(rec.id, rec.clone());
        self.user_names.insert(name, rec);
    }

    fn remove_user(&mut self, id: ScimId, name: &str) {
        self.users.remove(&id);
        self.user_names.remove(name);
    }

    fn user_name_taken(&self, lower_name: &str) -> bool {
        self.user_names.contains_key(lower_name)
    }

    fn index_member(&mut self, m: &Member) {
        match m.scim_user_id {
            Some(u) => {
                self.member_of_user.insert(u, m.id);
            }
            None => {
                self.manual_by_email.insert(lower(&m.email), m.id);
            }
        }
    }

    fn unindex_member(&mut self, m: &Member) {
        match m.scim_user_id {
            Some(u) => {
                self.member_of_user.remove(&u);
            }
            None => {
                self.manual_by_email.remove(m.email.to_lowercase().as_str());
            }
        }
    }

    pub fn id(&self) -> OrgId {
        self.meta.id
    }

    pub fn version(&self) -> Version {
        Version(self.counters.version)
    }

    pub fn user(&self, id: ScimId) -> Option<&Arc<UserRecord>> {
        self.users.get(&id)
    }

    pub fn group(&self, id: ScimId) -> Option<&Arc<GroupRecord>> {
        self.groups.get(&id)
    }

    pub fn user_by_name(&self, user_name: &str) -> Option<&Arc<UserRecord>> {
        self.user_names.get(user_name.to_lowercase().as_str())
    }

    pub fn group_by_name(&self, name: &str) -> Option<&Arc<GroupRecord>> {
        self.group_names
            .get(name.to_lowercase().as_str())
            .and_then(|id| self.groups.get(id))
    }

    pub fn member_for_user(&self, user: ScimId) -> Option<&Arc<Member>> {
        self.member_of_user
            .get(&user)
            .and_then(|m| self.members.get(m))
    }

    /// Start a transaction on this state (normally a copy of the published one).
    pub fn begin(&mut self) -> Tx<'_> {
        Tx {
            org: self.meta.id,
            state: self,
            changes: Vec::new(),
            now: None,
            version: None,
        }
    }
}

/// One transaction: the mutations of one request. Collects the [`Change`]s to persist.
pub struct Tx<'s> {
    pub(super) org: OrgId,
    pub state: &'s mut OrgState,
    pub changes: Vec<Change>,
    now: Option<Timestamp>,
    version: Option<Version>,
}

fn check_version(current: Version, if_match: Option<Version>) -> DomainResult<()> {
    match if_match {
        Some(v) if v != current => Err(DomainError::VersionMismatch),
        _ => Ok(()),
    }
}

/// Parse a member `value` into a user of this org (RFC 7643 §4.2: members are resources of
/// the same service provider). Anything else is `invalidValue`.
fn member_user(state: &OrgState, m: &MemberRef) -> DomainResult<ScimId> {
    if let Some(kind) = &m.kind {
        if !kind.eq_ignore_ascii_case("User") {
            return Err(ScimError::invalid_value(
                "members: only users can be members of a group here (nested groups are not supported)",
            )
            .into());
        }
    }
    m.value
        .parse::<ScimId>()
        .ok()
        .filter(|id| state.users.contains_key(id))
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "members: value {:?} is no user of this organization",
                truncate(&m.value, 64)
            ))
            .into()
        })
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Take `members` out of a normalized Group attribute map.
fn take_members(attrs: &mut Map<String, Value>) -> Vec<MemberRef> {
    match attrs.remove("members") {
        Some(Value::Array(list)) => list
            .into_iter()
            .filter_map(|m| {
                let value = m.get("value")?.as_str()?.to_owned();
                let kind = m.get("type").and_then(Value::as_str).map(str::to_owned);
                Some(MemberRef { value, kind })
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl<'s> Tx<'s> {
    /// The instant of this transaction: one for everything it stamps.
    pub fn stamp(&mut self) -> Timestamp {
        *self.now.get_or_insert_with(Timestamp::now)
    }

    pub fn now(&mut self) -> String {
        self.stamp().to_rfc3339()
    }

    /// The version of this transaction: allocated on first use, so a transaction that
    /// changes nothing does not move the counter.
    pub fn version(&mut self) -> Version {
        if let Some(v) = self.version {
            return v;
        }
        self.state.counters.version += 1;
        let v = Version(self.state.counters.version);
        self.version = Some(v);
        v
    }

    pub fn event(
        &mut self,
        kind: EventKind,
        member_id: Option<MemberId>,
        scim_user_id: Option<ScimId>,
        scim_group_id: Option<ScimId>,
        detail: Value,
    ) {
        self.state.counters.event_seq += 1;
        let e = Event {
            seq: self.state.counters.event_seq,
            at: self.now(),
            kind,
            member_id,
            scim_user_id,
            scim_group_id,
            detail,
        };
        self.changes.push(Change::Event(self.org, Arc::new(e)));
    }

    /// Close the transaction: the counters ride in the same commit as the changes.
    pub fn finish(mut self) -> Vec<Change> {
        if !self.changes.is_empty() {
            self.changes
                .push(Change::Counters(self.org, self.state.counters));
        }
        self.changes
    }

    fn put_meta(&mut self, meta: OrgMeta) {
        self.state.mapping_index = index_mappings(&meta.mappings);
        let meta = Arc::new(meta);
        self.state.meta = meta.clone();
        self.changes.push(Change::PutOrg(meta));
    }

    /// The user `id` of this org, if `If-Match` (when given) names its current version.
    fn existing_user(
        &self,
        id: ScimId,
        if_match: Option<Version>,
    ) -> DomainResult<Arc<UserRecord>> {
        let old = self
            .state
            .users
            .get(&id)
            .cloned()
            .ok_or(DomainError::NotFound("User"))?;
        check_version(old.version, if_match)?;
        Ok(old)
    }

    /// The group `id` of this org, if `If-Match` (when given) names its current version.
    fn existing_group(
        &self,
        id: ScimId,
        if_match: Option<Version>,
    ) -> DomainResult<Arc<GroupRecord>> {
        let old = self
            .state
            .groups
            .get(&id)
            .cloned()
            .ok_or(DomainError::NotFound("Group"))?;
        check_version(old.version, if_match)?;
        Ok(old)
    }

    // ---- Users -------------------------------------------------------------------------

    /// `POST /Users` (RFC 7644 §3.3) with a normalized attribute map.
    pub fn create_user(&mut self, attrs: Map<String, Value>) -> DomainResult<ScimId> {
        let name = user_name_of(&attrs)?;
        if self.state.user_name_taken(&name) {
            return Err(
                ScimError::uniqueness("userName is already taken in this organization").into(),
            );
        }
        let id = ScimId::new_random();
        let now = self.stamp();
        let rec = Arc::new(UserRecord {
            id,
            created: now,
            last_modified: now,
            version: self.version(),
            attrs: Attrs::from_map(&attrs),
        });
        self.state.put_user(name, rec.clone());
        self.changes.push(Change::PutUser(self.org, rec));
        self.reevaluate_user(id);
        Ok(id)
    }

    /// `PUT /Users/{id}` (RFC 7644 §3.5.1): the new attributes replace the old.
    pub fn replace_user(
        &mut self,
        id: ScimId,
        attrs: Map<String, Value>,
        if_match: Option<Version>,
    ) -> DomainResult<()> {
        let old = self.existing_user(id, if_match)?;
        self.update_user(old, attrs, None)
    }

    /// `PATCH /Users/{id}` (RFC 7644 §3.5.2).
    pub fn patch_user(
        &mut self,
        id: ScimId,
        ops: &[PatchOp],
        if_match: Option<Version>,
    ) -> DomainResult<()> {
        let old = self.existing_user(id, if_match)?;
        let before = old.attrs.to_map();
        let mut attrs = before.clone();
        patch::apply_patch(&mut attrs, ops, &USER_RESOURCE)?;
        self.update_user(old, attrs, Some(before))
    }

    /// `before`: the old attributes when the caller has them parsed already.
    fn update_user(
        &mut self,
        old: Arc<UserRecord>,
        attrs: Map<String, Value>,
        before: Option<Map<String, Value>>,
    ) -> DomainResult<()> {
        // Compared as maps: the same attributes in another order are no change either.
        if attrs == before.unwrap_or_else(|| old.attrs.to_map()) {
            // An IdP retry of a request already applied: no second effect, no event.
            return Ok(());
        }
        let new_name = user_name_of(&attrs)?;
        let old_name = lower(&old.user_name());
        if new_name != old_name {
            if self.state.user_name_taken(&new_name) {
                return Err(ScimError::uniqueness(
                    "userName is already taken in this organization",
                )
                .into());
            }
            self.state.user_names.remove(old_name.as_ref());
        }
        let rec = Arc::new(UserRecord {
            id: old.id,
            created: old.created,
            last_modified: self.stamp(),
            version: self.version(),
            attrs: Attrs::from_map(&attrs),
        });
        self.state.put_user(new_name, rec.clone());
        self.changes.push(Change::PutUser(self.org, rec));
        self.reevaluate_user(old.id);
        Ok(())
    }

    /// `DELETE /Users/{id}`: the user leaves its groups and, with them, the organization.
    pub fn delete_user(&mut self, id: ScimId, if_match: Option<Version>) -> DomainResult<()> {
        let old = self.existing_user(id, if_match)?;
        let groups: Vec<ScimId> = self
            .state
            .user_groups
            .get(&id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for g in groups {
            self.unlink(g, id);
            self.touch_group(g);
        }
        self.state
            .remove_user(id, old.user_name().to_lowercase().as_str());
        self.changes.push(Change::DeleteUser(self.org, id));
        self.version();
        self.reevaluate_user(id);
        Ok(())
    }

    // ---- Groups ------------------------------------------------------------------------

    /// `POST /Groups`: members must be users of this org; the whole request changes
    /// nothing otherwise.
    pub fn create_group(&mut self, mut attrs: Map<String, Value>) -> DomainResult<ScimId> {
        let refs = take_members(&mut attrs);
        let name = group_name_of(&attrs)?;
        if self.state.group_names.contains_key(name.as_ref()) {
            return Err(
                ScimError::uniqueness("a group with this displayName exists already").into(),
            );
        }
        let users = refs
            .iter()
            .map(|r| member_user(self.state, r))
            .collect::<DomainResult<Vec<_>>>()?;
        let id = ScimId::new_random();
        let now = self.stamp();
        let rec = GroupRecord {
            id,
            created: now,
            last_modified: now,
            version: self.version(),
            attrs,
            members: OrdSet::new(),
        };
        self.state.group_names.insert(name, id);
        self.state.groups.insert(id, Arc::new(rec.clone()));
        self.changes.push(Change::PutGroup(self.org, Arc::new(rec)));
        for u in users {
            if self.link(id, u) {
                self.reevaluate_user(u);
            }
        }
        Ok(id)
    }

    /// `PUT /Groups/{id}`: name, externalId and the whole member list are replaced.
    pub fn replace_group(
        &mut self,
        id: ScimId,
        mut attrs: Map<String, Value>,
        if_match: Option<Version>,
    ) -> DomainResult<()> {
        let old = self.existing_group(id, if_match)?;
        let refs = take_members(&mut attrs);
        self.apply_group(old, attrs, vec![MemberOp::Replace(refs)])
    }

    /// `PATCH /Groups/{id}`. Member operations run against the indexed member set; the
    /// rest against the attribute map. Both touch disjoint attributes, so applying them
    /// in two passes keeps RFC 7644 §3.5.2's in-order semantics.
    pub fn patch_group(
        &mut self,
        id: ScimId,
        ops: Vec<PatchOp>,
        if_match: Option<Version>,
    ) -> DomainResult<()> {
        let old = self.existing_group(id, if_match)?;
        let (generic, member_ops) = patch::split_member_ops(ops)?;
        let mut attrs = old.attrs.clone();
        patch::apply_patch(&mut attrs, &generic, &GROUP_RESOURCE)?;
        self.apply_group(old, attrs, member_ops)
    }

    fn apply_group(
        &mut self,
        old: Arc<GroupRecord>,
        attrs: Map<String, Value>,
        ops: Vec<MemberOp>,
    ) -> DomainResult<()> {
        let id = old.id;
        let new_name = group_name_of(&attrs)?;
        let old_name = lower(old.display_name());
        let renamed = new_name != old_name;
        if renamed && self.state.group_names.contains_key(new_name.as_ref()) {
            return Err(
                ScimError::uniqueness("a group with this displayName exists already").into(),
            );
        }
        // Resolve every member operation to concrete adds and removes before touching
        // anything: one bad member value refuses the whole request. Only the ids an
        // operation names are diffed against the old set, so adding one member to a
        // 10,000-member group costs O(log n), not O(n); whole-set operations (replace,
        // remove all, remove by filter) diff everything they touch.
        let mut set = old.members.clone();
        let mut touched: Vec<ScimId> = Vec::new();
        let mut whole = false;
        for op in ops {
            match op {
                MemberOp::Add(refs) => {
                    for r in &refs {
                        let u = member_user(self.state, r)?;
                        set.insert(u);
                        touched.push(u);
                    }
                }
                MemberOp::Replace(refs) => {
                    let mut next = OrdSet::new();
                    for r in &refs {
                        next.insert(member_user(self.state, r)?);
                    }
                    set = next;
                    whole = true;
                }
                MemberOp::Remove(values) => {
                    for v in values {
                        if let Ok(u) = v.parse::<ScimId>() {
                            set.remove(&u);
                            touched.push(u);
                        }
                    }
                }
                MemberOp::RemoveAll => {
                    set = OrdSet::new();
                    whole = true;
                }
                MemberOp::RemoveWhere(f) => {
                    let gone: Vec<ScimId> = set
                        .iter()
                        .copied()
                        .filter(|u| {
                            patch::member_matches(
                                &f,
                                &json!({"value": u.to_string(), "type": "User"}),
                            )
                        })
                        .collect();
                    for u in gone {
                        set.remove(&u);
                        touched.push(u);
                    }
                }
            }
        }
        let (added, removed): (Vec<ScimId>, Vec<ScimId>) = if whole {
            (
                set.clone()
                    .relative_complement(old.members.clone())
                    .into_iter()
                    .collect(),
                old.members
                    .clone()
                    .relative_complement(set.clone())
                    .into_iter()
                    .collect(),
            )
        } else {
            touched.sort_unstable();
            touched.dedup();
            let added = touched
                .iter()
                .copied()
                .filter(|u| set.contains(u) && !old.members.contains(u))
                .collect();
            let removed = touched
                .iter()
                .copied()
                .filter(|u| !set.contains(u) && old.members.contains(u))
                .collect();
            (added, removed)
        };
        if attrs == old.attrs && added.is_empty() && removed.is_empty() {
            return Ok(()); // a retry: nothing to do, nothing to record
        }
        if renamed {
            self.state.group_names.remove(old_name.as_ref());
            self.state.group_names.insert(new_name, id);
        }
        let rec = GroupRecord {
            id,
            created: old.created,
            last_modified: self.stamp(),
            version: self.version(),
            attrs,
            members: old.members.clone(),
        };
        self.state.groups.insert(id, Arc::new(rec));
        for u in &added {
            self.link(id, *u);
        }
        for u in &removed {
            self.unlink(id, *u);
        }
        let rec = self.state.groups.get(&id).cloned().expect("just inserted");
        self.changes.push(Change::PutGroup(self.org, rec.clone()));
        // A rename can move every member in or out of a mapping; otherwise only the users
        // whose group set changed need a second look.
        let affected: Vec<ScimId> = if renamed {
            rec.members
                .iter()
                .copied()
                .chain(removed.iter().copied())
                .collect()
        } else {
            added.into_iter().chain(removed).collect()
        };
        for u in affected {
            self.reevaluate_user(u);
        }
        Ok(())
    }

    /// `DELETE /Groups/{id}`: its members are re-evaluated in the same commit.
    pub fn delete_group(&mut self, id: ScimId, if_match: Option<Version>) -> DomainResult<()> {
        let old = self.existing_group(id, if_match)?;
        let members: Vec<ScimId> = old.members.iter().copied().collect();
        for u in &members {
            self.unlink(id, *u);
        }
        self.state.groups.remove(&id);
        self.state
            .group_names
            .remove(old.display_name().to_lowercase().as_str());
        self.changes.push(Change::DeleteGroup(self.org, id));
        self.version();
        for u in members {
            self.reevaluate_user(u);
        }
        Ok(())
    }

    /// Add the edge group->user. Returns false if it existed.
    fn link(&mut self, group: ScimId, user: ScimId) -> bool {
        let Some(g) = self.state.groups.get(&group) else {
            return false;
        };
        if g.members.contains(&user) {
            return false;
        }
        let mut g = (**g).clone();
        g.members.insert(user);
        self.state.groups.insert(group, Arc::new(g));
        self.state
            .user_groups
            .entry(user)
            .or_default()
            .insert(group);
        self.changes.push(Change::AddGroupMember {
            org: self.org,
            group,
            user,
        });
        true
    }

    fn unlink(&mut self, group: ScimId, user: ScimId) {
        if let Some(g) = self.state.groups.get(&group) {
            if g.members.contains(&user) {
                let mut g = (**g).clone();
                g.members.remove(&user);
                self.state.groups.insert(group, Arc::new(g));
            }
        }
        if let Some(set) = self.state.user_groups.get_mut(&user) {
            set.remove(&group);
            if set.is_empty() {
                self.state.user_groups.remove(&user);
            }
        }
        self.changes.push(Change::RemoveGroupMember {
            org: self.org,
            group,
            user,
        });
    }

    /// A group's member list changed without a PATCH on it (a member was deleted):
    /// its version and lastModified move.
    fn touch_group(&mut self, group: ScimId) {
        if let Some(g) = self.state.groups.get(&group) {
            let mut g = (**g).clone();
            g.last_modified = self.stamp();
            g.version = self.version();
            let g = Arc::new(g);
            self.state.groups.insert(group, g.clone());
            self.changes.push(Change::PutGroup(self.org, g));
        }
    }

    // ---- Organization settings ---------------------------------------------------------

    pub fn configure_sso(&mut self, sso: SsoConfig) -> DomainResult<()> {
        if sso.issuer.trim().is_empty() {
            return Err(DomainError::Invalid("issuer must not be empty".into()));
        }
        let protocol = sso.protocol;
        let mut meta = (*self.state.meta).clone();
        meta.sso = Some(sso);
        self.put_meta(meta);
        self.event(
            EventKind::SsoConfigured,
            None,
            None,
            None,
            json!({"protocol": protocol}),
        );
        Ok(())
    }

    /// Install a new SCIM token hash. `rotate` replaces a live token; otherwise a live
    /// token is a conflict. Returns the hash it replaced.
    pub fn install_token(
        &mut self,
        hash: TokenHash,
        rotate: bool,
    ) -> DomainResult<Option<TokenHash>> {
        if self.state.meta.sso.is_none() {
            return Err(DomainError::SsoRequired);
        }
        let old = self.state.meta.scim_token.as_ref().map(|t| t.hash);
        match (old, rotate) {
            (Some(_), false) => return Err(DomainError::TokenExists),
            (None, true) => return Err(DomainError::NotFound("SCIM token")),
            _ => {}
        }
        let mut meta = (*self.state.meta).clone();
        meta.scim_token = Some(ScimTokenInfo {
            hash,
            created_at: self.now(),
        });
        self.put_meta(meta);
        if let Some(old) = old {
            self.changes.push(Change::DeleteToken(old));
        }
        self.changes.push(Change::PutToken(hash, self.org));
        let kind = if rotate {
            EventKind::TokenRotated
        } else {
            EventKind::TokenGenerated
        };
        self.event(kind, None, None, None, Value::Null);
        Ok(old)
    }

    pub fn revoke_token(&mut self) -> DomainResult<TokenHash> {
        let old = self
            .state
            .meta
            .scim_token
            .as_ref()
            .map(|t| t.hash)
            .ok_or(DomainError::NotFound("SCIM token"))?;
        let mut meta = (*self.state.meta).clone();
        meta.scim_token = None;
        self.put_meta(meta);
        self.changes.push(Change::DeleteToken(old));
        self.event(EventKind::TokenRevoked, None, None, None, Value::Null);
        Ok(old)
    }

    /// Replace the group->role mappings; every user of a group named by the old or the
    /// new mappings is re-evaluated in this same commit.
    pub fn set_mappings(&mut self, mappings: Vec<GroupMapping>) -> DomainResult<()> {
        let mut seen = std::collections::HashSet::new();
        for m in &mappings {
            if m.role == Role::Owner {
                return Err(DomainError::Invalid(
                    "the owner role cannot be mapped: SCIM never assigns it".into(),
                ));
            }
            if m.group.trim().is_empty() {
                return Err(DomainError::Invalid("group must not be empty".into()));
            }
            if !seen.insert(m.group.to_lowercase()) {
                return Err(DomainError::Invalid(format!(
                    "group {:?} is mapped twice",
                    m.group
                )));
            }
        }
        if mappings == self.state.meta.mappings {
            return Ok(());
        }
        let names: std::collections::HashSet<String> = self
            .state
            .meta
            .mappings
            .iter()
            .chain(mappings.iter())
            .map(|m| m.group.to_lowercase())
            .collect();
        let mut meta = (*self.state.meta).clone();
        meta.mappings = mappings.clone();
        self.put_meta(meta);
        self.event(
            EventKind::MappingsChanged,
            None,
            None,
            None,
            json!({"mappings": mappings}),
        );
        let mut affected = OrdSet::new();
        for name in &names {
            if let Some(g) = self
                .state
                .group_names
                .get(name.as_str())
                .and_then(|id| self.state.groups.get(id))
            {
                affected.extend(g.members.iter().copied());
            }
        }
        for u in affected {
            self.reevaluate_user(u);
        }
        Ok(())
    }

    /// A member added by hand (an invitation in the host's dashboard).
    pub fn add_manual_member(
        &mut self,
        email: String,
        name: String,
        role: Role,
    ) -> DomainResult<MemberId> {
        if role == Role::Owner {
            return Err(DomainError::Invalid(
                "an organization has exactly one owner".into(),
            ));
        }
        if !email.contains('@') {
            return Err(DomainError::Invalid(
                "email must be an e-mail address".into(),
            ));
        }
        let lc = email.to_lowercase();
        if self
            .state
            .members
            .values()
            .any(|m| m.email.to_lowercase() == lc)
        {
            return Err(DomainError::Conflict(
                "a member with this e-mail exists already".into(),
            ));
        }
        let m = Member {
            id: MemberId::new_random(),
            email,
            name,
            role,
            status: MemberStatus::Active,
            managed_by: ManagedBy::Manual,
            scim_user_id: None,
        };
        let id = m.id;
        self.put_member(m);
        self.event(
            EventKind::MemberAdded,
            Some(id),
            None,
            None,
            json!({"role": role, "managed_by": "manual"}),
        );
        Ok(id)
    }

    pub fn create_team(&mut self, name: String) -> DomainResult<TeamId> {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(DomainError::Invalid("team name must not be empty".into()));
        }
        if self
            .state
            .teams
            .values()
            .any(|t| t.name.eq_ignore_ascii_case(&name))
        {
            return Err(DomainError::Conflict(
                "a team with this name exists already".into(),
            ));
        }
        let t = Arc::new(Team {
            id: TeamId::new_random(),
            name,
            members: vec![],
        });
        self.state.teams.insert(t.id, t.clone());
        self.changes.push(Change::PutTeam(self.org, t.clone()));
        self.event(
            EventKind::TeamCreated,
            None,
            None,
            None,
            json!({"team": t.id, "name": t.name}),
        );
        Ok(t.id)
    }

    pub fn set_team_members(&mut self, team: TeamId, members: Vec<MemberId>) -> DomainResult<()> {
        let old = self
            .state
            .teams
            .get(&team)
            .cloned()
            .ok_or(DomainError::NotFound("team"))?;
        let mut list = Vec::with_capacity(members.len());
        for m in members {
            if !self.state.members.contains_key(&m) {
                return Err(DomainError::Invalid(format!(
                    "{m} is no member of this organization"
                )));
            }
            if !list.contains(&m) {
                list.push(m);
            }
        }
        if list == old.members {
            return Ok(());
        }
        let t = Arc::new(Team {
            members: list,
            ..(*old).clone()
        });
        self.state.teams.insert(team, t.clone());
        self.changes.push(Change::PutTeam(self.org, t.clone()));
        self.event(
            EventKind::TeamMembersChanged,
            None,
            None,
            None,
            json!({"team": team, "members": t.members}),
        );
        Ok(())
    }

    // ---- Members (used by membership.rs) -----------------------------------------------

    pub(super) fn put_member(&mut self, m: Member) {
        if let Some(old) = self.state.members.get(&m.id).cloned() {
            self.state.unindex_member(&old);
        }
        self.state.index_member(&m);
        let m = Arc::new(m);
        self.state.members.insert(m.id, m.clone());
        self.changes.push(Change::PutMember(self.org, m));
    }

    pub(super) fn remove_member(&mut self, id: MemberId) {
        let Some(old) = self.state.members.remove(&id) else {
            return;
        };
        self.state.unindex_member(&old);
        self.changes.push(Change::DeleteMember(self.org, id));
        // A removed member leaves its teams with it (DESIGN §3).
        let teams: Vec<Arc<Team>> = self
            .state
            .teams
            .values()
            .filter(|t| t.members.contains(&id))
            .cloned()
            .collect();
        for t in teams {
            let t = Arc::new(Team {
                members: t.members.iter().copied().filter(|m| *m != id).collect(),
                ..(*t).clone()
            });
            self.state.teams.insert(t.id, t.clone());
            self.changes.push(Change::PutTeam(self.org, t));
        }
    }
}

fn user_name_of(attrs: &Map<String, Value>) -> DomainResult<Arc<str>> {
    match attrs.get("userName").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => Ok(lower(n)),
        _ => Err(ScimError::invalid_value("userName is required").into()),
    }
}

fn group_name_of(attrs: &Map<String, Value>) -> DomainResult<Arc<str>> {
    match attrs.get("displayName").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => Ok(lower(n)),
        _ => Err(ScimError::invalid_value("displayName is required").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::parse_patch;
    use crate::scim::resource::normalize_resource;
    use proptest::prelude::*;

    fn org_with(n: usize) -> (OrgState, Vec<ScimId>, ScimId) {
        let (mut s, _) = OrgState::create("Acme".into(), "o@acme.test".into(), "O".into());
        let mut tx = s.begin();
        let users = (0..n)
            .map(|i| {
                let body = json!({"userName": format!("u{i}@acme.test")});
                tx.create_user(normalize_resource(&body, &USER_RESOURCE).unwrap())
                    .unwrap()
            })
            .collect();
        let g = tx
            .create_group(
                normalize_resource(&json!({"displayName": "G"}), &GROUP_RESOURCE).unwrap(),
            )
            .unwrap();
        tx.finish();
        (s, users, g)
    }

    fn patch(s: &mut OrgState, g: ScimId, op: &str, path: &str, user: ScimId) -> Vec<Change> {
        let ops = parse_patch(&json!({"schemas": [crate::scim::schema::PATCH_OP_SCHEMA], "Operations": [
            if op == "add" { json!({"op": "add", "path": path, "value": [{"value": user.to_string()}]}) }
            else { json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}) }
        ]}))
        .unwrap();
        let mut tx = s.begin();
        tx.patch_group(g, ops, None).unwrap();
        tx.finish()
    }

    fn members(s: &OrgState, g: ScimId) -> Vec<ScimId> {
        s.groups[&g].members.iter().copied().collect()
    }

    #[test]
    fn remove_by_a_general_member_filter() {
        let (mut s, users, g) = org_with(3);
        for u in &users {
            patch(&mut s, g, "add", "members", *u);
        }
        let ops = parse_patch(&json!({"schemas": [crate::scim::schema::PATCH_OP_SCHEMA], "Operations": [
            {"op": "remove", "path": format!("members[type eq \"User\" and not (value eq \"{}\")]", users[1])}]}))
        .unwrap();
        let mut tx = s.begin();
        tx.patch_group(g, ops, None).unwrap();
        tx.finish();
        assert_eq!(members(&s, g), vec![users[1]]);
        assert!(s.user_groups.get(&users[0]).is_none());
    }

    /// The name index holds the very record `users` holds, through create, a PATCH that
    /// keeps the name, a rename (case only, then a new name) and a delete.
    #[test]
    fn the_user_name_index_follows_every_user_write() {
        let (mut s, users, _) = org_with(2);
        let agree = |s: &OrgState, name: &str, id: ScimId| {
            let by_name = s.user_by_name(name).expect("indexed");
            assert!(Arc::ptr_eq(by_name, &s.users[&id]), "{name}");
        };
        let patch_user = |s: &mut OrgState, id: ScimId, value: Value| {
            let ops = parse_patch(&json!({"schemas": [crate::scim::schema::PATCH_OP_SCHEMA],
                "Operations": [{"op": "replace", "value": value}]}))
            .unwrap();
            let mut tx = s.begin();
            let r = tx.patch_user(id, &ops, None);
            tx.finish();
            r
        };
        agree(&s, "U0@ACME.test", users[0]);
        patch_user(&mut s, users[0], json!({"displayName": "Zero"})).unwrap();
        agree(&s, "u0@acme.test", users[0]);
        patch_user(&mut s, users[0], json!({"userName": "U0@Acme.Test"})).unwrap();
        agree(&s, "u0@acme.test", users[0]);
        patch_user(&mut s, users[0], json!({"userName": "zero@acme.test"})).unwrap();
        agree(&s, "zero@acme.test", users[0]);
        assert!(
            s.user_by_name("u0@acme.test").is_none(),
            "the old name is free"
        );
        let taken = patch_user(&mut s, users[1], json!({"userName": "ZERO@acme.test"}));
        assert!(taken.is_err());
        agree(&s, "u1@acme.test", users[1]);
        let mut tx = s.begin();
        tx.delete_user(users[0], None).unwrap();
        tx.finish();
        assert!(s.user_by_name("zero@acme.test").is_none());
        assert_eq!(s.user_names.len(), s.users.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// PATCH invariants (RFC 7644 §3.5.2.1): adding a member twice is a no-op (no
        /// change, no version); an add followed by a remove of the same member restores
        /// the group, and the reverse index agrees with the group.
        #[test]
        fn member_add_is_idempotent_and_remove_restores(start in proptest::collection::vec(any::<bool>(), 6), pick in 0usize..6) {
            let (mut s, users, g) = org_with(6);
            for (u, on) in users.iter().zip(&start) {
                if *on { patch(&mut s, g, "add", "members", *u); }
            }
            let before = members(&s, g);
            let version = s.groups[&g].version;
            let target = users[pick];
            let was_member = before.contains(&target);

            patch(&mut s, g, "add", "members", target);
            let once = members(&s, g);
            let changes = patch(&mut s, g, "add", "members", target);
            prop_assert_eq!(&members(&s, g), &once);
            prop_assert!(changes.is_empty(), "the second add wrote {:?}", changes);

            if !was_member {
                prop_assert!(s.groups[&g].version > version);
                patch(&mut s, g, "remove", "", target);
                prop_assert_eq!(members(&s, g), before.clone());
            }
            for u in &users {
                let indexed = s.user_groups.get(u).is_some_and(|gs| gs.contains(&g));
                prop_assert_eq!(indexed, s.groups[&g].members.contains(u));
            }
        }
    }
}
