//! The service: admin API, tokens, the SCIM edge, bad input, actors.

use crate::common::*;
use awc::http::Method;
use serde_json::{json, Value};

#[actix_rt::test]
async fn admin_api_requires_the_admin_token() {
    let s = TestServer::start().await;
    let c = &s.client;
    let r = c
        .raw(
            Method::POST,
            "/admin/v1/orgs",
            None,
            &[],
            Some("application/json"),
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    assert_eq!(r.body["error"], "unauthorized");
    let r = c
        .raw(
            Method::GET,
            "/admin/v1/orgs/x",
            Some("wrong-token-wrong-token"),
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    // A SCIM token is no admin token.
    let (_, token) = c.org_with_token("acme").await;
    let r = c
        .raw(
            Method::GET,
            "/admin/v1/orgs/x",
            Some(&token),
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
}

#[actix_rt::test]
async fn org_lifecycle_sso_token_and_events() {
    let s = TestServer::start().await;
    let c = &s.client;
    let org = c
        .admin(
            Method::POST,
            "/orgs",
            Some(
                json!({"name": "Acme", "owner": {"email": "o@acme.test", "name": "Olivia Owner"}}),
            ),
        )
        .await
        .expect(201);
    let id = org["id"].as_str().unwrap().to_owned();
    assert_eq!(org["owner"]["role"], "owner");
    assert_eq!(org["owner"]["email"], "o@acme.test");
    assert_eq!(org["scim"]["enabled"], false);

    // No SSO yet: SCIM cannot be enabled (DESIGN §2).
    let r = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token"), None)
        .await;
    assert_eq!(r.status.as_u16(), 409);
    assert_eq!(r.body["error"], "sso_required");

    c.admin(
        Method::PUT,
        &format!("/orgs/{id}/sso"),
        Some(json!({"protocol": "oidc", "issuer": "https://login.example/", "client_id": "abc"})),
    )
    .await
    .expect(200);
    let t1 = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token"), None)
        .await
        .expect(201);
    let token1 = t1["token"].as_str().unwrap().to_owned();
    assert_eq!(t1["base_url"], format!("{}/scim/v2", c.base));
    assert!(token1.len() >= 64, "256-bit token");
    // A second generate is a conflict: rotate instead.
    let r = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token"), None)
        .await;
    assert_eq!(r.status.as_u16(), 409);

    c.scim(Method::GET, &token1, "/ServiceProviderConfig", None)
        .await
        .expect(200);
    let got = c
        .admin(Method::GET, &format!("/orgs/{id}"), None)
        .await
        .expect(200);
    assert_eq!(got["scim"]["enabled"], true);
    assert_eq!(got["sso"]["protocol"], "oidc");
    assert!(got["scim"]["token_created_at"].is_string());
    assert!(
        got["scim"]["last_used_at"].is_string(),
        "the SCIM call above used the token: {got}"
    );

    // Rotate: the old token is refused from the reply on, on every SCIM route.
    let t2 = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token/rotate"), None)
        .await
        .expect(201);
    let token2 = t2["token"].as_str().unwrap().to_owned();
    assert_ne!(token1, token2);
    for path in [
        "/ServiceProviderConfig",
        "/Users",
        "/Groups",
        "/Schemas",
        "/ResourceTypes",
    ] {
        c.scim(Method::GET, &token1, path, None)
            .await
            .expect_scim_error(401, None);
    }
    c.scim(Method::GET, &token2, "/Users", None)
        .await
        .expect(200);

    // Revoke: SCIM is off.
    let r = c
        .admin(Method::DELETE, &format!("/orgs/{id}/scim/token"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    c.scim(Method::GET, &token2, "/Users", None)
        .await
        .expect_scim_error(401, None);
    let r = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token/rotate"), None)
        .await;
    assert_eq!(r.status.as_u16(), 404, "nothing to rotate: {}", r.body);

    // Every token and configuration change is in the event log, in order.
    let ev = c
        .admin(Method::GET, &format!("/orgs/{id}/events?after=0"), None)
        .await
        .expect(200);
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "org_created",
            "sso_configured",
            "token_generated",
            "token_rotated",
            "token_revoked"
        ]
    );
    let seqs: Vec<u64> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(ev["next"], 5);
    // Paging: after=N gives the rest, without gaps or repeats.
    let page = c
        .admin(
            Method::GET,
            &format!("/orgs/{id}/events?after=2&limit=2"),
            None,
        )
        .await
        .expect(200);
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(page["next"], 4);
    // No event ever carries a token.
    assert!(!ev.to_string().contains(&token1) && !ev.to_string().contains(&token2));
}

#[actix_rt::test]
async fn unknown_org_is_404_everywhere() {
    let s = TestServer::start().await;
    let c = &s.client;
    let ghost = "9b2f5f0e-58a4-4a5e-9a53-6f0f7f1f2a11";
    for (m, p) in [
        (Method::GET, format!("/orgs/{ghost}")),
        (Method::GET, format!("/orgs/{ghost}/members")),
        (Method::GET, format!("/orgs/{ghost}/events")),
        (Method::GET, "/orgs/not-a-uuid".to_string()),
    ] {
        let r = c.admin(m, &p, None).await;
        assert_eq!(r.status.as_u16(), 404, "{p}: {}", r.body);
    }
}

#[actix_rt::test]
async fn group_mappings_are_validated_and_stored() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (id, _) = c.org_with_token("acme").await;
    let path = format!("/orgs/{id}/scim/group-mappings");
    let r = c
        .admin(
            Method::PUT,
            &path,
            Some(json!([{"group": "Founders", "role": "owner"}])),
        )
        .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    let r = c
        .admin(
            Method::PUT,
            &path,
            Some(json!([{"group": "Eng", "role": "superuser"}])),
        )
        .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    let r = c
        .admin(
            Method::PUT,
            &path,
            Some(
                json!([{"group": "Eng", "role": "developer"}, {"group": "ENG", "role": "viewer"}]),
            ),
        )
        .await;
    assert_eq!(
        r.status.as_u16(),
        400,
        "a group mapped twice (case-insensitively): {}",
        r.body
    );
    assert_eq!(
        c.admin(Method::GET, &path, None).await.expect(200),
        json!([]),
        "refused mappings changed nothing"
    );

    let m = json!([{"group": "Engineering", "role": "developer"}, {"group": "Operators", "role": "operator"}]);
    assert_eq!(
        c.admin(Method::PUT, &path, Some(m.clone()))
            .await
            .expect(200),
        m
    );
    assert_eq!(c.admin(Method::GET, &path, None).await.expect(200), m);
    let ev = c
        .admin(Method::GET, &format!("/orgs/{id}/events?after=3"), None)
        .await
        .expect(200);
    assert_eq!(ev["events"][0]["kind"], "mappings_changed");
}

#[actix_rt::test]
async fn teams_live_beside_scim() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (id, _) = c.org_with_token("acme").await;
    let team = c
        .admin(
            Method::POST,
            &format!("/orgs/{id}/teams"),
            Some(json!({"name": "Line 1"})),
        )
        .await
        .expect(201);
    assert_eq!(team["members"], json!([]));
    let tid = team["id"].as_str().unwrap();
    let members = c
        .admin(Method::GET, &format!("/orgs/{id}/members"), None)
        .await
        .expect(200);
    let owner = members["members"][0]["id"].as_str().unwrap().to_owned();
    let t = c
        .admin(
            Method::PUT,
            &format!("/orgs/{id}/teams/{tid}/members"),
            Some(json!({"members": [owner]})),
        )
        .await
        .expect(200);
    assert_eq!(t["members"], json!([owner]));
    let r = c
        .admin(
            Method::PUT,
            &format!("/orgs/{id}/teams/{tid}/members"),
            Some(json!({"members": ["3f1d7a52-0000-4000-8000-000000000000"]})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    let teams = c
        .admin(Method::GET, &format!("/orgs/{id}/teams"), None)
        .await
        .expect(200);
    assert_eq!(teams["teams"][0]["members"], json!([owner]));
}

#[actix_rt::test]
async fn scim_users_and_groups_are_created_read_and_deleted() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (_, token) = c.org_with_token("acme").await;

    let spc = c
        .scim(Method::GET, &token, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(spc.header("content-type").as_deref(), Some(SCIM_JSON));
    let spc = spc.expect(200);
    assert_eq!(spc["patch"]["supported"], true);

    let created = c
        .scim(
            Method::POST,
            &token,
            "/Users",
            Some(user_body("ada@acme.test")),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201);
    let etag = created.header("etag").unwrap();
    let location = created.header("location").unwrap();
    let user = created.body;
    let uid = user["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/scim/v2/Users/{uid}", c.base));
    assert_eq!(user["meta"]["location"], location);
    assert_eq!(user["meta"]["version"], etag);
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["userName"], "ada@acme.test");

    let got = c
        .scim(Method::GET, &token, &format!("/Users/{uid}"), None)
        .await
        .expect(200);
    assert_eq!(got["id"], uid);
    // Same userName in another case: 409 uniqueness (RFC 7644 §3.3).
    c.scim(
        Method::POST,
        &token,
        "/Users",
        Some(user_body("ADA@acme.test")),
    )
    .await
    .expect_scim_error(409, Some("uniqueness"));

    let group = c
        .scim(Method::POST, &token, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{"value": uid}]})))
        .await
        .expect(201);
    let gid = group["id"].as_str().unwrap();
    assert_eq!(group["members"][0]["value"], uid);
    let got = c
        .scim(Method::GET, &token, &format!("/Users/{uid}"), None)
        .await
        .expect(200);
    assert_eq!(got["groups"][0]["value"], gid);

    let r = c
        .scim(Method::DELETE, &token, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    c.scim(Method::GET, &token, &format!("/Groups/{gid}"), None)
        .await
        .expect_scim_error(404, None);
    let r = c
        .scim(Method::DELETE, &token, &format!("/Users/{uid}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    c.scim(Method::GET, &token, &format!("/Users/{uid}"), None)
        .await
        .expect_scim_error(404, None);
    c.scim(Method::DELETE, &token, &format!("/Users/{uid}"), None)
        .await
        .expect_scim_error(404, None);
}

#[actix_rt::test]
async fn a_token_never_reaches_another_orgs_data() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (_, a) = c.org_with_token("a").await;
    let (_, b) = c.org_with_token("b").await;
    let user = c.create_user(&a, "ada@a.test").await;
    let uid = user["id"].as_str().unwrap();
    // B sees A's id exactly as an id that does not exist (DESIGN §1).
    c.scim(Method::GET, &b, &format!("/Users/{uid}"), None)
        .await
        .expect_scim_error(404, None);
    c.scim(Method::DELETE, &b, &format!("/Users/{uid}"), None)
        .await
        .expect_scim_error(404, None);
    let list = c.scim(Method::GET, &b, "/Users", None).await.expect(200);
    assert_eq!(list["totalResults"], 0);
    // The same userName is free in B.
    c.create_user(&b, "ada@a.test").await;
    c.scim(Method::GET, &a, &format!("/Users/{uid}"), None)
        .await
        .expect(200);
}

#[actix_rt::test]
async fn bad_input_gets_a_scim_error_and_changes_nothing() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let c = &s.client;
    let (_, token) = c.org_with_token("acme").await;
    let body = user_body("ada@acme.test").to_string().into_bytes();

    // Malformed JSON.
    let r = c
        .raw(
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            &[],
            Some(SCIM_JSON),
            Some(b"{\"userName\": ".to_vec()),
        )
        .await;
    r.expect_scim_error(400, Some("invalidSyntax"));
    // Wrong content type.
    let r = c
        .raw(
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            &[],
            Some("text/plain"),
            Some(body.clone()),
        )
        .await;
    r.expect_scim_error(400, Some("invalidSyntax"));
    // Over the configured body limit.
    let mut big = user_body("big@acme.test");
    big["displayName"] = Value::String("x".repeat(5000));
    let r = c
        .raw(
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            &[],
            Some(SCIM_JSON),
            Some(big.to_string().into_bytes()),
        )
        .await;
    r.expect_scim_error(413, None);
    // Unknown routes, inside and outside the SCIM root.
    c.scim(Method::GET, &token, "/Widgets", None)
        .await
        .expect_scim_error(404, None);
    let r = c.raw(Method::GET, "/nope", None, &[], None, None).await;
    r.expect_scim_error(404, None);
    // A method a route does not serve.
    c.scim(Method::DELETE, &token, "/Users", None)
        .await
        .expect_scim_error(405, None);
    c.scim(
        Method::POST,
        &token,
        "/ServiceProviderConfig",
        Some(json!({})),
    )
    .await
    .expect_scim_error(405, None);
    // Missing and wrong tokens.
    let r = c
        .raw(Method::GET, "/scim/v2/Users", None, &[], None, None)
        .await;
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"scimd\"")
    );
    r.expect_scim_error(401, None);
    c.scim(Method::GET, "scimd_0000", "/Users", None)
        .await
        .expect_scim_error(401, None);
    let r = c
        .raw(
            Method::GET,
            "/scim/v2/Users",
            None,
            &[("Authorization", &format!("Basic {token}"))],
            None,
            None,
        )
        .await;
    r.expect_scim_error(401, None);

    // None of that created anything.
    let list = c
        .scim(Method::GET, &token, "/Users", None)
        .await
        .expect(200);
    assert_eq!(list["totalResults"], 0);

    // Both JSON content types are accepted, with parameters.
    for ct in ["application/scim+json; charset=utf-8", "application/json"] {
        let name = format!("{}@acme.test", ct.len());
        let r = c
            .raw(
                Method::POST,
                "/scim/v2/Users",
                Some(&token),
                &[],
                Some(ct),
                Some(user_body(&name).to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status.as_u16(), 201, "{ct}: {}", r.body);
    }
}

#[actix_rt::test]
async fn health_and_readiness() {
    let s = TestServer::start().await;
    let r = s
        .client
        .raw(Method::GET, "/healthz", None, &[], None, None)
        .await;
    assert_eq!(r.status.as_u16(), 200);
    s.client.org_with_token("acme").await;
    let r = s
        .client
        .raw(Method::GET, "/readyz", None, &[], None, None)
        .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.body["status"], "ready");
    // Creating the org, SSO and the token were three commits, in one or more batches.
    let (commits, batches) = (
        r.body["commits"].as_u64().unwrap(),
        r.body["batches"].as_u64().unwrap(),
    );
    assert!(
        commits >= 3 && (1..=commits).contains(&batches),
        "{}",
        r.body
    );
    assert_eq!(r.body["orgs_loaded"], 1);
    assert!(
        r.header("x-request-id").is_none(),
        "health checks are outside the request span"
    );
    let r = s
        .client
        .raw(Method::GET, "/scim/v2/Users", None, &[], None, None)
        .await;
    assert!(r.header("x-request-id").is_some());
}

/// Many concurrent mutations at one org: none lost, every reply has its own version.
#[actix_rt::test]
async fn concurrent_mutations_at_one_org_are_all_kept() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (_, token) = c.org_with_token("acme").await;
    const N: usize = 200;
    let replies = futures_util::future::join_all((0..N).map(|i| {
        let (c, token) = (c.clone(), token.clone());
        async move {
            c.scim(
                Method::POST,
                &token,
                "/Users",
                Some(user_body(&format!("u{i}@acme.test"))),
            )
            .await
        }
    }))
    .await;
    let mut versions: Vec<u64> = replies
        .into_iter()
        .map(|r| {
            let b = r.expect(201);
            let v = b["meta"]["version"].as_str().unwrap();
            v.trim_start_matches("W/\"")
                .trim_end_matches('"')
                .parse()
                .unwrap()
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), N, "every mutation got its own version");
    let list = c
        .scim(Method::GET, &token, "/Users?count=1000", None)
        .await
        .expect(200);
    assert_eq!(list["totalResults"], N);
}
