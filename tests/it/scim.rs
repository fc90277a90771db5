//! The SCIM protocol over HTTP (RFC 7643/7644), including the shapes Okta and Entra ID
//! really send.

use crate::common::*;
use awc::http::Method;
use serde_json::{json, Value};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn setup() -> (TestServer, String) {
    let s = TestServer::start().await;
    let (_, token) = s.client.org_with_token("acme").await;
    (s, token)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_rt::test]
async fn attribute_characteristics_are_honoured() {
    let (s, t) = setup().await;
    let c = &s.client;
    // RFC 7643 §7: readOnly attributes in a request are ignored; unknown ones not stored;
    // password is writeOnly and never returned.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "client-chosen", "meta": {"version": "W/\"999\""}, "groups": [{"value": "x"}],
        "userName": "ada@acme.test", "password": "hunter2", "shoeSize": 42,
        "emails": [{"value": "ada@acme.test", "type": "work", "primary": true}],
        ENT: {"employeeNumber": "7", "manager": {"value": "boss-id"}, "costCenter": "42"}
    });
    let u = c
        .scim(Method::POST, &t, "/Users", Some(body))
        .await
        .expect(201);
    let id = u["id"].as_str().unwrap();
    assert_ne!(id, "client-chosen");
    assert_ne!(u["meta"]["version"], "W/\"999\"");
    assert!(
        u.get("password").is_none() && u.get("shoeSize").is_none(),
        "{u}"
    );
    assert!(u.get("groups").is_none());
    assert_eq!(u[ENT]["manager"]["value"], "boss-id");
    assert_eq!(u[ENT]["employeeNumber"], "7");
    // A PATCH whose path targets a read-only attribute is refused.
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Users/{id}"),
            Some(patch_body(
                json!([{"op": "replace", "path": "id", "value": "x"}]),
            )),
        )
        .await;
    r.expect_scim_error(400, Some("mutability"));
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Users/{id}"),
            Some(patch_body(
                json!([{"op": "add", "path": "groups", "value": [{"value": "x"}]}]),
            )),
        )
        .await;
    r.expect_scim_error(400, Some("mutability"));
    // A path naming no declared attribute; a value of the wrong type.
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Users/{id}"),
            Some(patch_body(
                json!([{"op": "add", "path": "shoeSize", "value": 1}]),
            )),
        )
        .await;
    r.expect_scim_error(400, Some("invalidPath"));
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Users/{id}"),
            Some(patch_body(
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            )),
        )
        .await;
    r.expect_scim_error(400, Some("invalidValue"));
    let r = c
        .scim(
            Method::POST,
            &t,
            "/Users",
            Some(json!({"userName": ["not", "a", "string"]})),
        )
        .await;
    r.expect_scim_error(400, Some("invalidValue"));
    let r = c
        .scim(
            Method::POST,
            &t,
            "/Users",
            Some(json!({"displayName": "no userName"})),
        )
        .await;
    r.expect_scim_error(400, Some("invalidValue"));
    // PUT with Okta's echoed read-only fields replaces the rest.
    let mut put = u.clone();
    put["displayName"] = json!("Ada");
    put["emails"] = json!([{"value": "ada@acme.test", "type": "work", "primary": true}]);
    put.as_object_mut().unwrap().remove(ENT);
    let p = c
        .scim(Method::PUT, &t, &format!("/Users/{id}"), Some(put))
        .await
        .expect(200);
    assert_eq!(p["displayName"], "Ada");
    assert!(p.get(ENT).is_none(), "PUT replaced the extension away: {p}");
    assert_eq!(p["id"], id);
    // The membership extension is the server's: a non-member carries none, a client may
    // attach it (its values are ignored, it shows empty) and detach it, and a path into
    // it is refused.
    const MEMBERSHIP: &str = "urn:scimd:params:scim:schemas:extension:membership:1.0:User";
    assert!(p.get(MEMBERSHIP).is_none(), "{p}");
    let path = format!("/Users/{id}");
    let patch = |ops: serde_json::Value| c.scim(Method::PATCH, &t, &path, Some(patch_body(ops)));
    let a = patch(json!([{"op": "add", "path": MEMBERSHIP, "value": {"role": "admin"}}]))
        .await
        .expect(200);
    assert_eq!(a[MEMBERSHIP], json!({}), "{a}");
    assert!(a["schemas"]
        .as_array()
        .unwrap()
        .contains(&json!(MEMBERSHIP)));
    let g = c
        .scim(Method::GET, &t, &format!("/Users/{id}"), None)
        .await
        .expect(200);
    assert_eq!(g[MEMBERSHIP], json!({}));
    patch(json!([{"op": "replace", "path": format!("{MEMBERSHIP}:role"), "value": "admin"}]))
        .await
        .expect_scim_error(400, Some("mutability"));
    let d = patch(json!([{"op": "remove", "path": MEMBERSHIP}]))
        .await
        .expect(200);
    assert!(d.get(MEMBERSHIP).is_none(), "{d}");
    assert!(!d["schemas"]
        .as_array()
        .unwrap()
        .contains(&json!(MEMBERSHIP)));
}

#[actix_rt::test]
async fn uniqueness_and_member_validation() {
    let (s, t) = setup().await;
    let c = &s.client;
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering"});
    c.scim(Method::POST, &t, "/Groups", Some(g))
        .await
        .expect(201);
    let dup = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ENGINEERING"});
    c.scim(Method::POST, &t, "/Groups", Some(dup))
        .await
        .expect_scim_error(409, Some("uniqueness"));
    let bad = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops", "members": [{"value": "9b2f5f0e-58a4-4a5e-9a53-6f0f7f1f2a11"}]});
    c.scim(Method::POST, &t, "/Groups", Some(bad))
        .await
        .expect_scim_error(400, Some("invalidValue"));
    let list = c.scim(Method::GET, &t, "/Groups", None).await.expect(200);
    assert_eq!(list["totalResults"], 1, "the refused group was not created");
}

#[actix_rt::test]
async fn discovery_describes_what_the_server_does() {
    let (s, t) = setup().await;
    let c = &s.client;
    let spc = c
        .scim(Method::GET, &t, "/ServiceProviderConfig", None)
        .await
        .expect(200);
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    assert_eq!(spc["changePassword"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], true);
    let schemas = c.scim(Method::GET, &t, "/Schemas", None).await.expect(200);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&ENT)
            && ids.contains(&"urn:scimd:params:scim:schemas:extension:membership:1.0:User"),
        "{ids:?}"
    );
    let user = c
        .scim(
            Method::GET,
            &t,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await
        .expect(200);
    let pw = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "password")
        .unwrap();
    assert_eq!(
        (pw["mutability"].as_str(), pw["returned"].as_str()),
        (Some("writeOnly"), Some("never"))
    );
    let rt = c
        .scim(Method::GET, &t, "/ResourceTypes/User", None)
        .await
        .expect(200);
    assert_eq!(rt["endpoint"], "/Users");
    assert_eq!(rt["schemaExtensions"].as_array().unwrap().len(), 2);
    c.scim(Method::GET, &t, "/Schemas/urn:nope", None)
        .await
        .expect_scim_error(404, None);
    c.scim(Method::GET, &t, "/ResourceTypes/Widget", None)
        .await
        .expect_scim_error(404, None);
    c.scim(Method::PUT, &t, "/Schemas", Some(json!({})))
        .await
        .expect_scim_error(405, None);
    c.scim(Method::DELETE, &t, "/ResourceTypes/User", None)
        .await
        .expect_scim_error(405, None);
    c.scim(Method::GET, &t, "/Me", None)
        .await
        .expect_scim_error(501, None);
}

#[actix_rt::test]
async fn filters_lists_sorting_and_projection() {
    let (s, t) = setup().await;
    let c = &s.client;
    for (i, name) in ["carol", "alice", "bob", "dave", "erin"].iter().enumerate() {
        let mut b = user_body(&format!("{name}@acme.test"));
        b["externalId"] = json!(format!("ext-{i}"));
        b["active"] = json!(i % 2 == 0);
        b["emails"] = json!([{"value": format!("{name}@acme.test"), "type": "work"}, {"value": format!("{name}@home.test"), "type": "home"}]);
        c.scim(Method::POST, &t, "/Users", Some(b))
            .await
            .expect(201);
    }
    let q = |f: &str| format!("/Users?filter={}", enc(f));
    let total = |v: &Value| v["totalResults"].as_u64().unwrap();
    assert_eq!(
        total(
            &c.scim(
                Method::GET,
                &t,
                &q(r#"USERNAME EQ "ALICE@acme.test""#),
                None
            )
            .await
            .expect(200)
        ),
        1
    );
    assert_eq!(
        total(
            &c.scim(
                Method::GET,
                &t,
                &q(r#"userName sw "a" or userName sw "b""#),
                None
            )
            .await
            .expect(200)
        ),
        2
    );
    assert_eq!(
        total(
            &c.scim(Method::GET, &t, &q(r#"not (active eq true)"#), None)
                .await
                .expect(200)
        ),
        2
    );
    assert_eq!(
        total(
            &c.scim(
                Method::GET,
                &t,
                &q(r#"emails[type eq "home" and value ew "@home.test"]"#),
                None
            )
            .await
            .expect(200)
        ),
        5
    );
    assert_eq!(
        total(
            &c.scim(
                Method::GET,
                &t,
                &q(r#"urn:ietf:params:scim:schemas:core:2.0:User:externalId eq "ext-3""#),
                None
            )
            .await
            .expect(200)
        ),
        1
    );
    assert_eq!(
        total(
            &c.scim(
                Method::GET,
                &t,
                &q(r#"meta.created gt "2000-01-01T00:00:00Z""#),
                None
            )
            .await
            .expect(200)
        ),
        5
    );
    // Entra: `+` for spaces, emails[type eq "work"].value eq.
    let r = c
        .scim(
            Method::GET,
            &t,
            "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22dave%40acme.test%22",
            None,
        )
        .await
        .expect(200);
    assert_eq!(r["Resources"][0]["userName"], "dave@acme.test");
    // Okta: an unknown userName is a 200 with an empty list.
    let r = c
        .scim(
            Method::GET,
            &t,
            &q(r#"userName eq "nobody@acme.test""#),
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        (total(&r), r["Resources"].as_array().map(Vec::len)),
        (0, Some(0))
    );
    // Bad filters: 400 invalidFilter, never a 500.
    for bad in [
        r#"userName eq"#,
        r#"userName zz "x""#,
        r#"((userName eq "x""#,
        r#"shoeSize eq 1"#,
        r#"active gt true"#,
    ] {
        c.scim(Method::GET, &t, &q(bad), None)
            .await
            .expect_scim_error(400, Some("invalidFilter"));
    }
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    c.scim(Method::GET, &t, &q(&long), None)
        .await
        .expect_scim_error(400, Some("invalidFilter"));

    // Pagination (RFC 7644 §3.4.2.4) with sorting.
    let page = c
        .scim(
            Method::GET,
            &t,
            "/Users?sortBy=userName&startIndex=2&count=2",
            None,
        )
        .await
        .expect(200);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob@acme.test", "carol@acme.test"]);
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["startIndex"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    let desc = c
        .scim(
            Method::GET,
            &t,
            "/Users?sortBy=userName&sortOrder=descending&count=1",
            None,
        )
        .await
        .expect(200);
    assert_eq!(desc["Resources"][0]["userName"], "erin@acme.test");
    let past = c
        .scim(Method::GET, &t, "/Users?startIndex=99", None)
        .await
        .expect(200);
    assert_eq!(
        (past["totalResults"].as_u64(), past["itemsPerPage"].as_u64()),
        (Some(5), Some(0))
    );
    let zero = c
        .scim(Method::GET, &t, "/Users?startIndex=0&count=-3", None)
        .await
        .expect(200);
    assert_eq!(
        (zero["startIndex"].as_u64(), zero["itemsPerPage"].as_u64()),
        (Some(1), Some(0))
    );
    c.scim(Method::GET, &t, "/Users?count=abc", None)
        .await
        .expect_scim_error(400, Some("invalidValue"));
    // Stable order across pages.
    let mut seen = Vec::new();
    for start in 1..=5 {
        let p = c
            .scim(
                Method::GET,
                &t,
                &format!("/Users?startIndex={start}&count=1"),
                None,
            )
            .await
            .expect(200);
        seen.push(p["Resources"][0]["id"].as_str().unwrap().to_owned());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    // attributes / excludedAttributes: id and schemas always come back.
    let p = c
        .scim(
            Method::GET,
            &t,
            "/Users?attributes=userName,emails.value&count=1",
            None,
        )
        .await
        .expect(200);
    let u = p["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "schemas", "userName"]);
    assert!(u["emails"][0].get("type").is_none());
    let p = c
        .scim(
            Method::GET,
            &t,
            "/Users?excludedAttributes=emails,meta&count=1",
            None,
        )
        .await
        .expect(200);
    assert!(p["Resources"][0].get("emails").is_none() && p["Resources"][0].get("meta").is_none());
    assert!(p["Resources"][0].get("userName").is_some());

    // POST /.search, per type and at the root.
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"e\"", "attributes": ["userName"]});
    let r = c
        .scim(Method::POST, &t, "/Users/.search", Some(search.clone()))
        .await
        .expect(200);
    assert_eq!(r["Resources"][0]["userName"], "erin@acme.test");
    let r = c
        .scim(Method::POST, &t, "/.search", Some(search))
        .await
        .expect(200);
    assert_eq!(r["totalResults"], 1);
}

#[actix_rt::test]
async fn patch_path_forms_and_atomicity() {
    let (s, t) = setup().await;
    let c = &s.client;
    let mut b = user_body("ada@acme.test");
    b["addresses"] = json!([{"type": "work", "postalCode": "111", "locality": "Paris"}]);
    let u = c
        .scim(Method::POST, &t, "/Users", Some(b))
        .await
        .expect(201);
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &path,
            Some(patch_body(json!([
                {"op": "replace", "path": "name.givenName", "value": "Augusta"},
                {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "222"},
                {"op": "add", "path": format!("{ENT}:department"), "value": "R&D"},
                {"op": "add", "path": "emails", "value": [{"value": "ada@home.test", "type": "home"}]},
                {"op": "remove", "path": "emails[type eq \"home\"]"}
            ]))),
        )
        .await
        .expect(200);
    assert_eq!(r["name"]["givenName"], "Augusta");
    assert_eq!(r["addresses"][0]["postalCode"], "222");
    assert_eq!(r["addresses"][0]["locality"], "Paris");
    assert_eq!(r[ENT]["department"], "R&D");
    assert_eq!(r["emails"].as_array().unwrap().len(), 1);
    // All operations apply or none: the second op fails, the first must not stick.
    let bad = patch_body(
        json!([{"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "replace", "path": "nope", "value": 1}]),
    );
    c.scim(Method::PATCH, &t, &path, Some(bad))
        .await
        .expect_scim_error(400, Some("invalidPath"));
    let now = c.scim(Method::GET, &t, &path, None).await.expect(200);
    assert_eq!(now["meta"]["version"], r["meta"]["version"]);
    assert!(now.get("displayName").is_none());
    c.scim(Method::PATCH, &t, &path, Some(json!({"Operations": []})))
        .await
        .expect_scim_error(400, Some("invalidSyntax"));
    c.scim(
        Method::PATCH,
        &t,
        &path,
        Some(patch_body(json!([{"op": "remove"}]))),
    )
    .await
    .expect_scim_error(400, Some("noTarget"));
}

#[actix_rt::test]
async fn etags_guard_writes_and_save_reads() {
    let (s, t) = setup().await;
    let c = &s.client;
    let u = c.create_user(&t, "ada@acme.test").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let v1 = u["meta"]["version"].as_str().unwrap().to_owned();
    let r = c
        .scim_with(Method::GET, &t, &path, &[("If-None-Match", &v1)], None)
        .await;
    assert_eq!(r.status.as_u16(), 304);
    let op = patch_body(json!([{"op": "replace", "path": "displayName", "value": "A"}]));
    let r = c
        .scim_with(
            Method::PATCH,
            &t,
            &path,
            &[("If-Match", &v1)],
            Some(op.clone()),
        )
        .await;
    let v2 = r.header("etag").unwrap();
    r.expect(200);
    assert_ne!(v1, v2);
    // The old version no longer matches: 412 on PATCH, PUT and DELETE.
    c.scim_with(Method::PATCH, &t, &path, &[("If-Match", &v1)], Some(op))
        .await
        .expect_scim_error(412, None);
    c.scim_with(
        Method::PUT,
        &t,
        &path,
        &[("If-Match", &v1)],
        Some(user_body("ada@acme.test")),
    )
    .await
    .expect_scim_error(412, None);
    c.scim_with(Method::DELETE, &t, &path, &[("If-Match", &v1)], None)
        .await
        .expect_scim_error(412, None);
    let r = c
        .scim_with(Method::GET, &t, &path, &[("If-None-Match", &v1)], None)
        .await;
    assert_eq!(r.status.as_u16(), 200);
    let r = c
        .scim_with(Method::DELETE, &t, &path, &[("If-Match", &v2)], None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
}

/// RFC 7644 §3.5.2: a PATCH answers 200 with the resource, or 204; 200 whenever the
/// request names attributes. 204 on `Prefer: return=minimal` (RFC 7240), and for every
/// Group PATCH when the service is configured `--group-patch-reply no-content`.
#[actix_rt::test]
async fn patch_replies_200_with_the_resource_or_204_when_asked_or_configured() {
    let add = |uid: &Value| {
        patch_body(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]))
    };
    for configured in [false, true] {
        let s = TestServer::start_with(|c| {
            if configured {
                c.group_patch_reply = scimd::config::PatchReply::NoContent;
            }
        })
        .await;
        let (_, t) = s.client.org_with_token("acme").await;
        let c = &s.client;
        let mut users = Vec::new();
        for i in 0..4 {
            users.push(c.create_user(&t, &format!("u{i}@acme.test")).await);
        }
        let g = c
            .scim(
                Method::POST,
                &t,
                "/Groups",
                Some(json!({"displayName": "Eng"})),
            )
            .await
            .expect(201);
        let path = format!("/Groups/{}", g["id"].as_str().unwrap());
        let member_count = || async {
            let got = c.scim(Method::GET, &t, &path, None).await;
            let etag = got.header("etag").unwrap();
            (
                got.expect(200)["members"].as_array().map_or(0, Vec::len),
                etag,
            )
        };

        // Plain: the default answers with the group, the configured service with 204.
        let r = c
            .scim(Method::PATCH, &t, &path, Some(add(&users[0]["id"])))
            .await;
        let etag = r.header("etag").expect("an ETag either way");
        if configured {
            assert_eq!(r.status.as_u16(), 204);
            assert_eq!(r.body, Value::Null, "no body");
            assert!(r.header("preference-applied").is_none(), "nobody asked");
        } else {
            assert_eq!(r.expect(200)["members"][0]["value"], users[0]["id"]);
        }
        assert_eq!(
            member_count().await,
            (1, etag),
            "applied; the ETag is the new one"
        );

        // Asked for: 204 from either service.
        let r = c
            .scim_with(
                Method::PATCH,
                &t,
                &path,
                &[("Prefer", "respond-async, return=minimal")],
                Some(add(&users[1]["id"])),
            )
            .await;
        assert_eq!(r.status.as_u16(), 204);
        assert_eq!(
            r.header("preference-applied").as_deref(),
            Some("return=minimal")
        );
        assert_eq!(member_count().await, (2, r.header("etag").unwrap()));

        // Naming attributes asks for a body: 200 with what was asked, on either service.
        let r = c
            .scim(
                Method::PATCH,
                &t,
                &format!("{path}?excludedAttributes=members"),
                Some(add(&users[2]["id"])),
            )
            .await
            .expect(200);
        assert_eq!(r["displayName"], "Eng");
        assert!(r.get("members").is_none());
        let r = c
            .scim_with(
                Method::PATCH,
                &t,
                &format!("{path}?attributes=members"),
                &[("Prefer", "return=minimal")],
                Some(add(&users[3]["id"])),
            )
            .await
            .expect(200);
        assert_eq!(r["members"].as_array().unwrap().len(), 4);

        // The setting is about Groups: a User PATCH still answers with the user.
        let upath = format!("/Users/{}", users[0]["id"].as_str().unwrap());
        let op = patch_body(json!([{"op": "replace", "path": "displayName", "value": "Zero"}]));
        let r = c
            .scim(Method::PATCH, &t, &upath, Some(op.clone()))
            .await
            .expect(200);
        assert_eq!(r["displayName"], "Zero");
        let r = c
            .scim_with(
                Method::PATCH,
                &t,
                &upath,
                &[("Prefer", "return=minimal")],
                Some(op),
            )
            .await;
        assert_eq!(r.status.as_u16(), 204);

        // A failed PATCH is an error either way, never a 204.
        let bad =
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]));
        c.scim_with(
            Method::PATCH,
            &t,
            &path,
            &[("Prefer", "return=minimal")],
            Some(bad),
        )
        .await
        .expect_scim_error(400, Some("invalidValue"));
        assert_eq!(member_count().await.0, 4);
    }
}

#[actix_rt::test]
async fn bulk_with_references_fail_on_errors_and_limits() {
    let s = TestServer::start_with(|c| c.bulk_max_operations = 5).await;
    let (_, t) = s.client.org_with_token("acme").await;
    let c = &s.client;
    let req = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("ada@acme.test")},
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": "bulkId:u1"}]}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": "Ada"}]))},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user_body("ada@acme.test")}
        ]
    });
    let r = c
        .scim(Method::POST, &t, "/Bulk", Some(req))
        .await
        .expect(200);
    let ops = r["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "409"]);
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let gid = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let g = c
        .scim(Method::GET, &t, &format!("/Groups/{gid}"), None)
        .await
        .expect(200);
    let uid = ops[0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert_eq!(g["members"][0]["value"], uid);
    // failOnErrors: 1 stops after the first error.
    let req = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
        "Operations": [
            {"method": "DELETE", "path": "/Users/9b2f5f0e-58a4-4a5e-9a53-6f0f7f1f2a11"},
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": user_body("never@acme.test")}
        ]
    });
    let r = c
        .scim(Method::POST, &t, "/Bulk", Some(req))
        .await
        .expect(200);
    assert_eq!(r["Operations"].as_array().unwrap().len(), 1);
    assert_eq!(r["Operations"][0]["status"], "404");
    let list = c
        .scim(
            Method::GET,
            &t,
            &format!("/Users?filter={}", enc("userName eq \"never@acme.test\"")),
            None,
        )
        .await
        .expect(200);
    assert_eq!(list["totalResults"], 0);
    // Over maxOperations: 413.
    let ops: Vec<Value> = (0..6)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let req = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
    c.scim(Method::POST, &t, "/Bulk", Some(req))
        .await
        .expect_scim_error(413, None);
}

#[actix_rt::test]
async fn okta_shapes() {
    let (s, t) = setup().await;
    let c = &s.client;
    let a = c.create_user(&t, "a@acme.test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = c.create_user(&t, "b@acme.test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": a, "display": "a"}]});
    let gid = c
        .scim(Method::POST, &t, "/Groups", Some(g))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Remove one member and add another in one request.
    let ops = json!([
        {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
        {"op": "add", "path": "members", "value": [{"value": b, "display": "b"}]}
    ]);
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Groups/{gid}"),
            Some(patch_body(ops)),
        )
        .await
        .expect(200);
    assert_eq!(
        r["members"],
        json!([{"value": b, "type": "User", "$ref": format!("{}/scim/v2/Users/{b}", c.base)}])
    );
    // Rename: a path-less replace of {id, displayName}; members untouched.
    let ops = json!([{"op": "replace", "value": {"id": gid, "displayName": "Engineering"}}]);
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Groups/{gid}"),
            Some(patch_body(ops)),
        )
        .await
        .expect(200);
    assert_eq!(r["displayName"], "Engineering");
    assert_eq!(r["members"].as_array().unwrap().len(), 1);
    // Deactivated users stay readable and findable.
    let ops = json!([{"op": "replace", "value": {"active": false}}]);
    c.scim(
        Method::PATCH,
        &t,
        &format!("/Users/{a}"),
        Some(patch_body(ops)),
    )
    .await
    .expect(200);
    let r = c
        .scim(
            Method::GET,
            &t,
            &format!("/Users?filter={}", enc("userName eq \"a@acme.test\"")),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r["Resources"][0]["active"], false);
    // A User's groups are read-only and current.
    let u = c
        .scim(Method::GET, &t, &format!("/Users/{b}"), None)
        .await
        .expect(200);
    assert_eq!(u["groups"][0]["display"], "Engineering");
}

#[actix_rt::test]
async fn entra_shapes() {
    let (s, t) = setup().await;
    let c = &s.client;
    let mut body = user_body("e@acme.test");
    body.as_object_mut().unwrap().remove("emails");
    body["externalId"] = json!("entra-1");
    let u = c
        .scim(Method::POST, &t, "/Users", Some(body))
        .await
        .expect(201);
    let id = u["id"].as_str().unwrap().to_owned();
    let ops = json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "e.work@acme.test"},
        {"op": "Replace", "value": {"name.givenName": "Eve", (format!("{ENT}:employeeNumber")): "1001"}},
        {"op": "Add", "path": format!("{ENT}:manager"), "value": "mgr-42"}
    ]);
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Users/{id}"),
            Some(patch_body(ops)),
        )
        .await
        .expect(200);
    assert_eq!(r["active"], false);
    assert_eq!(r["emails"][0]["value"], "e.work@acme.test");
    assert_eq!(r["emails"][0]["type"], "work");
    assert_eq!(r["name"]["givenName"], "Eve");
    assert_eq!(r[ENT]["employeeNumber"], "1001");
    assert_eq!(r[ENT]["manager"]["value"], "mgr-42");
    let f = c
        .scim(
            Method::GET,
            &t,
            "/Users?filter=externalId+eq+%22entra-1%22",
            None,
        )
        .await
        .expect(200);
    assert_eq!(f["totalResults"], 1);

    let other = c.create_user(&t, "o@acme.test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales", "members": [{"value": id}, {"value": other}]});
    let gid = c
        .scim(Method::POST, &t, "/Groups", Some(g))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Remove only the listed members, never the whole list.
    let ops = json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]);
    let r = c
        .scim(
            Method::PATCH,
            &t,
            &format!("/Groups/{gid}"),
            Some(patch_body(ops)),
        )
        .await
        .expect(200);
    assert_eq!(r["members"].as_array().unwrap().len(), 1);
    assert_eq!(r["members"][0]["value"], other);
    // Group lookup without members; no Accept header; plain application/json.
    let r = c
        .scim(
            Method::GET,
            &t,
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales%22",
            None,
        )
        .await
        .expect(200);
    assert_eq!(r["Resources"][0]["displayName"], "Sales");
    assert!(r["Resources"][0].get("members").is_none());
    let r = c
        .raw(
            Method::POST,
            "/scim/v2/Users",
            Some(&t),
            &[],
            Some("application/json"),
            Some(user_body("j@acme.test").to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201);
}
