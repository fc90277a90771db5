//! The directory-to-membership table (DESIGN §3), through the real HTTP API: SCIM calls
//! in, the admin members and events APIs out.

use crate::common::*;
use awc::http::Method;
use serde_json::{json, Value};

struct Org {
    c: Client,
    id: String,
    token: String,
}

impl Org {
    async fn new(c: &Client) -> Org {
        let (id, token) = c.org_with_token("acme").await;
        let org = Org {
            c: c.clone(),
            id,
            token,
        };
        org.map(json!([
            {"group": "Admins", "role": "admin"},
            {"group": "Engineering", "role": "developer"},
            {"group": "Readers", "role": "viewer"},
            {"group": "Operators", "role": "operator"}
        ]))
        .await;
        org
    }
    async fn map(&self, m: Value) {
        self.c
            .admin(
                Method::PUT,
                &format!("/orgs/{}/scim/group-mappings", self.id),
                Some(m),
            )
            .await
            .expect(200);
    }
    async fn user(&self, name: &str) -> String {
        self.c.create_user(&self.token, name).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members});
        self.c
            .scim(Method::POST, &self.token, "/Groups", Some(body))
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn patch(&self, path: &str, ops: Value) -> Value {
        self.c
            .scim(Method::PATCH, &self.token, path, Some(patch_body(ops)))
            .await
            .expect(200)
    }
    async fn members(&self) -> Vec<Value> {
        let r = self
            .c
            .admin(Method::GET, &format!("/orgs/{}/members", self.id), None)
            .await
            .expect(200);
        r["members"].as_array().unwrap().clone()
    }
    async fn member_of(&self, user: &str) -> Option<Value> {
        self.members()
            .await
            .into_iter()
            .find(|m| m["scim_user_id"] == user)
    }
    async fn events(&self) -> Vec<Value> {
        let r = self
            .c
            .admin(
                Method::GET,
                &format!("/orgs/{}/events?after=0&limit=1000", self.id),
                None,
            )
            .await
            .expect(200);
        r["events"].as_array().unwrap().clone()
    }
    async fn kinds_for(&self, user: &str) -> Vec<String> {
        self.events()
            .await
            .iter()
            .filter(|e| e["scim_user_id"] == user)
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[actix_rt::test]
async fn joining_a_mapped_group_makes_a_member_and_the_best_role_wins() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let ada = o.user("ada@acme.test").await;
    assert!(
        o.member_of(&ada).await.is_none(),
        "a user in no mapped group is no member"
    );
    let unmapped = o.group("Book Club", &[&ada]).await;
    let _ = unmapped;
    assert!(o.member_of(&ada).await.is_none());

    let readers = o.group("Readers", &[&ada]).await;
    let m = o.member_of(&ada).await.expect("member");
    assert_eq!(m["role"], "viewer");
    assert_eq!(m["status"], "active");
    assert_eq!(m["managed_by"], "scim");
    assert_eq!(m["email"], "ada@acme.test");

    let eng = o.group("engineering", &[]).await; // mappings compare case-insensitively
    o.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "add", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    assert_eq!(o.member_of(&ada).await.unwrap()["role"], "developer");
    // Leaving the better group falls back to the next best.
    o.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
    )
    .await;
    assert_eq!(o.member_of(&ada).await.unwrap()["role"], "viewer");
    // Leaving the last mapped group removes the member.
    o.patch(
        &format!("/Groups/{readers}"),
        json!([{"op": "remove", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    assert!(o.member_of(&ada).await.is_none());
    assert_eq!(
        o.kinds_for(&ada).await,
        [
            "member_added",
            "role_changed",
            "role_changed",
            "member_removed"
        ]
    );

    // The User resource shows what the push did (read-only extension).
    let u = s
        .client
        .scim(Method::GET, &o.token, &format!("/Users/{ada}"), None)
        .await
        .expect(200);
    // No member yet: the extension is unassigned and left out (RFC 7643 §2.5).
    assert!(
        u.get("urn:scimd:params:scim:schemas:extension:membership:1.0:User")
            .is_none(),
        "{u}"
    );
    assert_eq!(u["schemas"].as_array().unwrap().len(), 1, "{u}");
    o.patch(
        &format!("/Groups/{readers}"),
        json!([{"op": "add", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    let u = s
        .client
        .scim(Method::GET, &o.token, &format!("/Users/{ada}"), None)
        .await
        .expect(200);
    assert_eq!(
        u["urn:scimd:params:scim:schemas:extension:membership:1.0:User"]["role"],
        "viewer"
    );
    assert_eq!(
        u["urn:scimd:params:scim:schemas:extension:membership:1.0:User"]["status"],
        "active"
    );
}

#[actix_rt::test]
async fn suspension_bans_and_reactivation_unbans_keeping_the_role() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let ada = o.user("ada@acme.test").await;
    let eng = o.group("Engineering", &[&ada]).await;
    // Okta's shape: a path-less replace of {active: false}.
    o.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    let m = o.member_of(&ada).await.unwrap();
    assert_eq!(
        (m["status"].as_str(), m["role"].as_str()),
        (Some("banned"), Some("developer"))
    );
    // Entra's shape: capitalized op, boolean as a string.
    o.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(o.member_of(&ada).await.unwrap()["status"], "active");
    // A banned member who leaves every mapped group is removed.
    o.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    o.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    assert!(o.member_of(&ada).await.is_none());
    assert_eq!(
        o.kinds_for(&ada).await,
        [
            "member_added",
            "member_banned",
            "member_unbanned",
            "member_banned",
            "member_removed"
        ]
    );
}

#[actix_rt::test]
async fn profile_changes_follow_the_directory_and_delete_removes() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let ada = o.user("ada@acme.test").await;
    o.group("Engineering", &[&ada]).await;
    o.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada.l@acme.test"},
               {"op": "replace", "path": "displayName", "value": "Ada Lovelace"}]),
    )
    .await;
    let m = o.member_of(&ada).await.unwrap();
    assert_eq!(m["email"], "ada.l@acme.test");
    assert_eq!(m["name"], "Ada Lovelace");
    let r = s
        .client
        .scim(Method::DELETE, &o.token, &format!("/Users/{ada}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    assert!(o.member_of(&ada).await.is_none());
    assert_eq!(
        o.kinds_for(&ada).await,
        ["member_added", "profile_updated", "member_removed"]
    );
}

#[actix_rt::test]
async fn renames_deletes_and_remaps_re_evaluate_every_member_at_once() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let users: Vec<String> = futures_util::future::join_all((0..20).map(|i| o.user_ref(i))).await;
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let g = o.group("Contractors", &refs).await;
    assert!(
        o.members().await.iter().all(|m| m["role"] == "owner"),
        "unmapped: only the owner"
    );
    // Okta's rename: a path-less replace of {id, displayName}; members untouched.
    o.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "value": {"id": g, "displayName": "Operators"}}]),
    )
    .await;
    let ms = o.members().await;
    assert_eq!(ms.iter().filter(|m| m["role"] == "operator").count(), 20);
    // Remapping the group's role re-evaluates all of them.
    o.map(json!([{"group": "Operators", "role": "admin"}]))
        .await;
    assert_eq!(
        o.members()
            .await
            .iter()
            .filter(|m| m["role"] == "admin")
            .count(),
        20
    );
    // Deleting the group removes them all.
    let r = s
        .client
        .scim(Method::DELETE, &o.token, &format!("/Groups/{g}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(o.members().await.len(), 1);
}

impl Org {
    async fn user_ref(&self, i: usize) -> String {
        self.user(&format!("u{i}@acme.test")).await
    }
}

#[actix_rt::test]
async fn the_owner_is_never_changed_by_scim() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    // The owner's own directory account (same e-mail as the Owner) joins a mapped group.
    let owner = o.user("owner@acme.test").await;
    let eng = o.group("Engineering", &[&owner]).await;
    let m = o
        .member_of(&owner)
        .await
        .expect("the owner member is linked");
    assert_eq!(m["role"], "owner");
    o.patch(
        &format!("/Users/{owner}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(
        o.member_of(&owner).await.unwrap()["status"],
        "active",
        "never banned"
    );
    o.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    let m = o.member_of(&owner).await.expect("never removed");
    assert_eq!(m["role"], "owner");
    let protected: Vec<Value> = o
        .events()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "owner_protected")
        .collect();
    let attempts: Vec<&str> = protected
        .iter()
        .map(|e| e["detail"]["attempted"].as_str().unwrap())
        .collect();
    assert_eq!(attempts, ["role_change", "role_change", "ban", "remove"]);
}

#[actix_rt::test]
async fn a_scim_user_takes_over_the_manual_member_with_its_email_and_teams_stay() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let manual = s
        .client
        .admin(
            Method::POST,
            &format!("/orgs/{}/members", o.id),
            Some(json!({"email": "Grace@acme.test", "name": "Grace", "role": "viewer"})),
        )
        .await
        .expect(201);
    let team = s
        .client
        .admin(
            Method::POST,
            &format!("/orgs/{}/teams", o.id),
            Some(json!({"name": "Line 1"})),
        )
        .await
        .expect(201);
    let tid = team["id"].as_str().unwrap();
    s.client
        .admin(
            Method::PUT,
            &format!("/orgs/{}/teams/{tid}/members", o.id),
            Some(json!({"members": [manual["id"]]})),
        )
        .await
        .expect(200);
    let grace = o.user("grace@acme.test").await;
    let eng = o.group("Engineering", &[&grace]).await;
    let m = o.member_of(&grace).await.unwrap();
    assert_eq!(m["id"], manual["id"], "the same member, taken over");
    assert_eq!(
        (m["managed_by"].as_str(), m["role"].as_str()),
        (Some("scim"), Some("developer"))
    );
    let teams = s
        .client
        .admin(Method::GET, &format!("/orgs/{}/teams", o.id), None)
        .await
        .expect(200);
    assert_eq!(
        teams["teams"][0]["members"],
        json!([manual["id"]]),
        "SCIM never changes teams"
    );
    // A removed member leaves its teams with it.
    o.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    let teams = s
        .client
        .admin(Method::GET, &format!("/orgs/{}/teams", o.id), None)
        .await
        .expect(200);
    assert_eq!(teams["teams"][0]["members"], json!([]));
}

#[actix_rt::test]
async fn idp_retries_produce_no_second_effect_or_event() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let ada = o.user("ada@acme.test").await;
    let eng = o.group("Engineering", &[]).await;
    let add = json!([{"op": "add", "path": "members", "value": [{"value": ada}]}]);
    o.patch(&format!("/Groups/{eng}"), add.clone()).await;
    let deactivate = json!([{"op": "replace", "value": {"active": false}}]);
    o.patch(&format!("/Users/{ada}"), deactivate.clone()).await;
    let before = o.events().await.len();
    let v1 = s
        .client
        .scim(Method::GET, &o.token, &format!("/Users/{ada}"), None)
        .await
        .expect(200)["meta"]["version"]
        .clone();
    for _ in 0..3 {
        o.patch(&format!("/Groups/{eng}"), add.clone()).await;
        o.patch(&format!("/Users/{ada}"), deactivate.clone()).await;
    }
    assert_eq!(o.events().await.len(), before, "no second event");
    let v2 = s
        .client
        .scim(Method::GET, &o.token, &format!("/Users/{ada}"), None)
        .await
        .expect(200)["meta"]["version"]
        .clone();
    assert_eq!(v1, v2, "no second effect");
}

#[actix_rt::test]
async fn a_member_value_that_is_no_user_changes_nothing() {
    let s = TestServer::start().await;
    let o = Org::new(&s.client).await;
    let ada = o.user("ada@acme.test").await;
    let eng = o.group("Engineering", &[]).await;
    let r = s
        .client
        .scim(
            Method::PATCH,
            &o.token,
            &format!("/Groups/{eng}"),
            Some(patch_body(json!([{"op": "add", "path": "members", "value": [{"value": ada}, {"value": "not-a-user"}]}]))),
        )
        .await;
    r.expect_scim_error(400, Some("invalidValue"));
    assert!(
        o.member_of(&ada).await.is_none(),
        "the whole request changed nothing"
    );
}
