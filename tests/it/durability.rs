//! Durability, proven by killing the real binary: every acknowledged write survives
//! SIGKILL, and nothing is half-written; SIGTERM drains, flushes and exits 0.

use crate::common::*;
use awc::http::Method;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Acked {
    /// org token -> acknowledged user ids that were also added to the mapped group.
    members: HashMap<String, HashSet<String>>,
    /// org token -> acknowledged user ids (create acknowledged).
    users: HashMap<String, HashSet<String>>,
}

/// Each worker: create a user (201 recorded), then add it to the org's mapped group
/// (200 recorded: that PATCH also makes a member and a `member_added` event in the same
/// commit). The process is SIGKILLed while workers are mid-stream.
#[actix_rt::test]
async fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Process::start(dir.path());
    let c = p.client.clone();
    let mut orgs = Vec::new();
    for name in ["a", "b", "c"] {
        let (id, token) = c.org_with_token(name).await;
        c.admin(
            Method::PUT,
            &format!("/orgs/{id}/scim/group-mappings"),
            Some(json!([{"group": "Engineering", "role": "developer"}])),
        )
        .await
        .expect(200);
        let g = c
            .scim(Method::POST, &token, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering"})))
            .await
            .expect(201);
        orgs.push((id, token, g["id"].as_str().unwrap().to_owned()));
    }

    let acked = Arc::new(Mutex::new(Acked {
        members: HashMap::new(),
        users: HashMap::new(),
    }));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..12 {
        let (org_id, token, gid) = orgs[w % orgs.len()].clone();
        let _ = org_id;
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        workers.push(actix_rt::spawn(async move {
            for i in 0..2000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let name = format!("w{w}-{i}@x.test");
                let body = user_body(&name).to_string().into_bytes();
                let Some(r) = try_req(&c, Method::POST, &token, "/Users", body).await else {
                    break;
                };
                if r.0 != 201 {
                    break;
                }
                let uid = r.1["id"].as_str().unwrap().to_owned();
                acked
                    .lock()
                    .unwrap()
                    .users
                    .entry(token.clone())
                    .or_default()
                    .insert(uid.clone());
                let patch = patch_body(
                    json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
                )
                .to_string()
                .into_bytes();
                let Some(r) =
                    try_req(&c, Method::PATCH, &token, &format!("/Groups/{gid}"), patch).await
                else {
                    break;
                };
                if r.0 != 200 {
                    break;
                }
                acked
                    .lock()
                    .unwrap()
                    .members
                    .entry(token.clone())
                    .or_default()
                    .insert(uid);
            }
        }));
    }
    // Let the stream run, then kill mid-flight.
    loop {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        let n: usize = acked
            .lock()
            .unwrap()
            .members
            .values()
            .map(HashSet::len)
            .sum();
        if n >= 600 || workers.iter().all(|w| w.is_finished()) {
            break;
        }
    }
    p.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }

    let p2 = Process::start(dir.path());
    let c = p2.client.clone();
    let acked = {
        let a = acked.lock().unwrap();
        Acked {
            members: a.members.clone(),
            users: a.users.clone(),
        }
    };
    let total: usize = acked.users.values().map(HashSet::len).sum();
    assert!(
        total >= 100,
        "the stream ran before the kill ({total} creates acknowledged)"
    );
    for (org_id, token, gid) in &orgs {
        let users = c
            .scim(
                Method::GET,
                token,
                "/Users?count=100000&attributes=id",
                None,
            )
            .await
            .expect(200);
        let present: HashSet<String> = users["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        for uid in acked.users.get(token).into_iter().flatten() {
            assert!(present.contains(uid), "acknowledged user {uid} lost");
        }
        let group = c
            .scim(Method::GET, token, &format!("/Groups/{gid}"), None)
            .await
            .expect(200);
        let in_group: HashSet<String> = group["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        for uid in acked.members.get(token).into_iter().flatten() {
            assert!(
                in_group.contains(uid),
                "acknowledged membership of {uid} lost"
            );
        }
        // Nothing half-written: group membership, members and member_added events agree
        // exactly (each PATCH wrote all three in one commit, or none of them).
        let members = c
            .admin(Method::GET, &format!("/orgs/{org_id}/members"), None)
            .await
            .expect(200);
        let linked: HashSet<String> = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["scim_user_id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(linked, in_group, "members and group membership disagree");
        let mut added = HashSet::new();
        let mut after = 0;
        loop {
            let page = c
                .admin(
                    Method::GET,
                    &format!("/orgs/{org_id}/events?after={after}&limit=1000"),
                    None,
                )
                .await
                .expect(200);
            let events = page["events"].as_array().unwrap().clone();
            if events.is_empty() {
                break;
            }
            for e in &events {
                assert_eq!(
                    e["seq"].as_u64().unwrap(),
                    after + 1,
                    "event log has no gaps"
                );
                after += 1;
                if e["kind"] == "member_added" {
                    added.insert(e["scim_user_id"].as_str().unwrap().to_owned());
                }
            }
        }
        assert_eq!(added, in_group, "member_added events and members disagree");
    }
}

async fn try_req(
    c: &Client,
    m: Method,
    token: &str,
    path: &str,
    body: Vec<u8>,
) -> Option<(u16, Value)> {
    // After the kill, connections fail: that is the end of this worker's stream.
    let path = format!("/scim/v2{path}");
    let r = c
        .try_raw(m, &path, Some(token), &[], Some(SCIM_JSON), Some(body))
        .await
        .ok()?;
    Some((r.status.as_u16(), r.body))
}

/// SIGTERM while 8 clients stream writes: the server drains and exits 0, and every write
/// it acknowledged, including those answered during the drain, is there after the
/// restart; a token rotated before the restart stays dead after it.
#[actix_rt::test]
async fn sigterm_drains_flushes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Process::start(dir.path());
    let c = p.client.clone();
    let (id, old) = c.org_with_token("acme").await;
    let rotated = c
        .admin(Method::POST, &format!("/orgs/{id}/scim/token/rotate"), None)
        .await
        .expect(201);
    let token = rotated["token"].as_str().unwrap().to_owned();

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (c, token, acked) = (c.clone(), token.clone(), acked.clone());
        workers.push(actix_rt::spawn(async move {
            for i in 0..5000 {
                let body = user_body(&format!("w{w}-{i}@acme.test"))
                    .to_string()
                    .into_bytes();
                match try_req(&c, Method::POST, &token, "/Users", body).await {
                    Some((201, v)) => acked
                        .lock()
                        .unwrap()
                        .push(v["id"].as_str().unwrap().to_owned()),
                    // Refused or cut off once the server stops accepting: the end.
                    _ => break,
                }
            }
        }));
    }
    // Bounded wait for the stream to be well under way.
    for _ in 0..3000 {
        if acked.lock().unwrap().len() >= 200 || workers.iter().all(|w| w.is_finished()) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        acked.lock().unwrap().len() >= 200,
        "the writers stopped early"
    );
    p.send_sigterm();
    for w in workers {
        w.await.unwrap();
    }
    let status = p.wait();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");

    let p2 = Process::start(dir.path());
    let c = p2.client.clone();
    let ids = acked.lock().unwrap().clone();
    let list = c
        .scim(
            Method::GET,
            &token,
            "/Users?count=100000&attributes=id",
            None,
        )
        .await
        .expect(200);
    let present: HashSet<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    for uid in &ids {
        assert!(
            present.contains(uid),
            "acknowledged user {uid} lost across SIGTERM"
        );
    }
    c.scim(Method::GET, &old, "/Users", None)
        .await
        .expect_scim_error(401, None);
}
