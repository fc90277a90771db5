//! Actor properties: per-org ordering with pipelined commits, and tenant independence.

use crate::common::*;
use awc::http::Method;
use scimd::domain::command::Command;
use scimd::domain::ids::OrgId;
use serde_json::Value;

fn attrs(user_name: &str) -> serde_json::Map<String, Value> {
    scimd::scim::resource::normalize_resource(
        &user_body(user_name),
        &scimd::scim::schema::USER_RESOURCE,
    )
    .unwrap()
}

/// Commands sent to one org in order take effect in that order, even though each one's
/// wait for the disk overlaps the next one's processing: the versions they commit at
/// increase strictly in submission order, and a later command sees the earlier ones.
#[actix_rt::test]
async fn one_orgs_commands_apply_in_mailbox_order() {
    let s = TestServer::start().await;
    let (org, _) = s.client.org_with_token("acme").await;
    let org: OrgId = org.parse().unwrap();
    let dir = s.state.directory.clone();
    const N: usize = 300;
    // join_all polls the futures in order, so the messages enter the mailbox in order.
    let results = futures_util::future::join_all((0..N).map(|i| {
        let dir = dir.clone();
        async move {
            dir.apply(org, Command::CreateUser(attrs(&format!("u{i}@acme.test"))))
                .await
        }
    }))
    .await;
    let mut last = 0;
    for (i, r) in results.into_iter().enumerate() {
        let applied = r.unwrap_or_else(|e| panic!("command {i}: {e}"));
        let v = applied.snapshot.counters.version;
        assert!(
            v > last,
            "command {i} committed at version {v}, after {last}"
        );
        last = v;
        // The snapshot of command i holds users 0..=i: it saw every earlier command.
        assert_eq!(applied.snapshot.users.len(), i + 1);
    }
    // The duplicate of the first user, sent after all of them, is refused: it was
    // validated against state that includes the pending (not yet acknowledged) creates.
    let r = dir
        .apply(org, Command::CreateUser(attrs("u0@acme.test")))
        .await;
    assert!(r.is_err());
}

/// A stalled org holds no other org: while org A's mailbox is paused with a request
/// queued, org B completes a whole batch of writes; then A completes too.
#[actix_rt::test]
async fn a_stalled_org_does_not_hold_another() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (a_id, a) = c.org_with_token("a").await;
    let (_, b) = c.org_with_token("b").await;
    let handle = s.state.directory.get(a_id.parse().unwrap()).await.unwrap();
    let (release, hold) = tokio::sync::oneshot::channel();
    handle.hold(hold);

    let a_request = {
        let (c, a) = (c.clone(), a.clone());
        actix_rt::spawn(async move {
            c.scim(Method::POST, &a, "/Users", Some(user_body("stuck@a.test")))
                .await
        })
    };
    for i in 0..50 {
        c.create_user(&b, &format!("u{i}@b.test")).await;
    }
    assert!(
        !a_request.is_finished(),
        "A's write cannot finish while A is held"
    );
    // Reads of A are served from its snapshot, not its mailbox: they do not wait either.
    c.scim(Method::GET, &a, "/Users", None).await.expect(200);

    release.send(()).unwrap();
    let r = a_request.await.unwrap();
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let list = c.scim(Method::GET, &b, "/Users", None).await.expect(200);
    assert_eq!(list["totalResults"], 50);
}

/// Idle orgs are unloaded and come back from the store on the next request.
#[actix_rt::test]
async fn idle_orgs_unload_and_reload() {
    let s = TestServer::start_with(|c| c.org_idle = std::time::Duration::from_millis(200)).await;
    let c = &s.client;
    let (_, token) = c.org_with_token("acme").await;
    let user = c.create_user(&token, "ada@acme.test").await;
    let mut waited = 0;
    while s.state.directory.loaded() > 0 {
        assert!(waited < 100, "org never unloaded");
        actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let got = c
        .scim(
            Method::GET,
            &token,
            &format!("/Users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await
        .expect(200);
    assert_eq!(got["userName"], "ada@acme.test");
    assert_eq!(s.state.directory.loaded(), 1);
    // Versions continue from the stored counter after a reload.
    let next = c.create_user(&token, "bob@acme.test").await;
    assert_ne!(next["meta"]["version"], user["meta"]["version"]);
}

/// Backpressure: an org's pending work is bounded. Past the bound, requests get 429 with
/// `Retry-After` at once (nothing queues without bound); other orgs are unaffected; the
/// admitted requests complete when the org moves again.
#[actix_rt::test]
async fn a_flooding_org_gets_429_with_retry_after() {
    let s = TestServer::start_with(|c| c.org_max_pending = 4).await;
    let c = &s.client;
    let (a_id, a) = c.org_with_token("a").await;
    let (_, b) = c.org_with_token("b").await;
    let handle = s.state.directory.get(a_id.parse().unwrap()).await.unwrap();
    let (release, hold) = tokio::sync::oneshot::channel();
    handle.hold(hold);

    let mut admitted = Vec::new();
    let mut refused = 0;
    for i in 0..10 {
        let (c2, a2) = (c.clone(), a.clone());
        let task = actix_rt::spawn(async move {
            c2.scim(
                Method::POST,
                &a2,
                "/Users",
                Some(user_body(&format!("f{i}@a.test"))),
            )
            .await
        });
        // Each request either is admitted (the org's in-flight count rises: it waits
        // behind the hold) or is refused at once; wait for one or the other.
        let before = admitted.len();
        let mut waited = 0;
        while !task.is_finished() && handle.in_flight() == before {
            assert!(waited < 1000, "request {i} neither admitted nor refused");
            actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
            waited += 1;
        }
        if handle.in_flight() > before {
            admitted.push(task);
        } else {
            let r = task.await.unwrap();
            assert_eq!(r.header("retry-after").as_deref(), Some("1"));
            r.expect_scim_error(429, None);
            refused += 1;
        }
    }
    assert_eq!(
        (admitted.len(), refused),
        (4, 6),
        "exactly max_pending requests are admitted"
    );
    // Another org is served meanwhile.
    c.create_user(&b, "ok@b.test").await;
    release.send(()).unwrap();
    for t in admitted {
        t.await.unwrap().expect(201);
    }
    let list = c.scim(Method::GET, &a, "/Users", None).await.expect(200);
    assert_eq!(list["totalResults"], 4, "refused requests changed nothing");
}

/// Fair shares: while another org is active, a flooding org runs at most its share of the
/// write slots at once (24 / 2 here); its other writes wait, admitted and counted but not
/// running. When the org moves again every write completes. A lone org is not limited.
/// The pipeline's short scheduler slices follow the same activity.
#[actix_rt::test]
async fn a_flooding_org_runs_at_most_its_share_while_others_are_active() {
    let s = TestServer::start().await;
    let c = &s.client;
    let (a_id, _) = c.org_with_token("a").await;
    let (b_id, _) = c.org_with_token("b").await;
    let (a_id, b_id): (OrgId, OrgId) = (a_id.parse().unwrap(), b_id.parse().unwrap());
    let dir = s.state.directory.clone();

    // Flood `org` with `n` writes while its mailbox is held; return how many ran at once.
    let flood = |org: OrgId, n: usize, other: Option<OrgId>, round: u8| {
        let dir = dir.clone();
        async move {
            let handle = dir.get(org).await.unwrap();
            let (release, hold) = tokio::sync::oneshot::channel();
            handle.hold(hold);
            if let Some(other) = other {
                dir.get(other).await.unwrap(); // `other` makes a request: it is active
            }
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let dir = dir.clone();
                    actix_rt::spawn(async move {
                        dir.apply(
                            org,
                            Command::CreateUser(attrs(&format!("r{round}-{i}@a.test"))),
                        )
                        .await
                    })
                })
                .collect();
            let mut waited = 0;
            while handle.in_flight() < n {
                assert!(waited < 1000, "writes never admitted");
                actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
                waited += 1;
            }
            let running = handle.running();
            release.send(()).unwrap();
            for t in tasks {
                t.await.unwrap().expect("every write completes");
            }
            assert_eq!(handle.running(), 0);
            running
        }
    };
    assert_eq!(
        flood(a_id, 40, Some(b_id), 1).await,
        12,
        "two active orgs: 24 / 2"
    );
    assert_eq!(dir.active(), 2);
    assert!(
        dir.contended(),
        "two active orgs: the pipeline yields the core quickly"
    );

    // Once B has been quiet for two epochs, A alone runs all its writes at once.
    actix_rt::time::sleep(scimd::actors::share::EPOCH * 3).await;
    assert_eq!(
        flood(a_id, 40, None, 2).await,
        40,
        "a lone org is not limited"
    );
    assert_eq!(dir.active(), 1);
    assert!(!dir.contended(), "a lone org: default slices again");
}
