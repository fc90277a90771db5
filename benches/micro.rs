//! Criterion micro-benchmarks of the hot pure code: filter parsing and evaluation over
//! 10,000 users, a member PATCH on a 10,000-member group, and a list page.
//!
//!     cargo bench --bench micro

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use scimd::domain::command::Command;
use scimd::domain::ids::ScimId;
use scimd::domain::query::{self, Kind};
use scimd::domain::OrgState;
use scimd::scim::filter::{matches, parse_filter};
use scimd::scim::list::{from_query_pairs, ListLimits};
use scimd::scim::patch::parse_patch;
use scimd::scim::resource::normalize_resource;
use scimd::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{json, Value};

const N: usize = 10_000;

fn user_body(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i}@acme.test"),
        "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
        "emails": [{"value": format!("user{i}@acme.test"), "type": "work", "primary": true}],
        "active": i % 7 != 0,
    })
}

/// An org with N users, all in one group.
fn org() -> (OrgState, Vec<ScimId>, ScimId) {
    let (mut state, _) = OrgState::create("Acme".into(), "o@acme.test".into(), "Owner".into());
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let mut tx = state.begin();
        let attrs = normalize_resource(&user_body(i), &USER_RESOURCE).unwrap();
        ids.push(tx.create_user(attrs).unwrap());
        tx.finish();
    }
    let members: Vec<Value> = ids
        .iter()
        .map(|id| json!({"value": id.to_string()}))
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone", "members": members});
    let mut tx = state.begin();
    let gid = tx
        .create_group(normalize_resource(&body, &GROUP_RESOURCE).unwrap())
        .unwrap();
    tx.finish();
    (state, ids, gid)
}

fn benches(c: &mut Criterion) {
    let (state, ids, gid) = org();
    let complex = r#"emails[type eq "work" and value co "@acme"] and (active eq true or name.familyName sw "Fam") and not (userName eq "x")"#;
    c.bench_function("filter/parse complex", |b| {
        b.iter(|| parse_filter(black_box(complex)).unwrap())
    });

    let rendered: Vec<Value> = ids
        .iter()
        .map(|id| {
            query::get(
                &state,
                Kind::User,
                *id,
                "http://h/scim/v2",
                &Default::default(),
            )
            .unwrap()
            .0
        })
        .collect();
    let f = parse_filter(complex).unwrap();
    c.bench_function("filter/evaluate over 10k users", |b| {
        b.iter(|| {
            rendered
                .iter()
                .filter(|u| matches(&f, u, &USER_RESOURCE))
                .count()
        })
    });

    let lookup = from_query_pairs(
        &[("filter".into(), "userName eq \"user5000@acme.test\"".into())],
        &ListLimits {
            max_results: 100,
            default_count: 100,
        },
    )
    .unwrap();
    c.bench_function("list/userName eq lookup in 10k", |b| {
        b.iter(|| query::list(&state, Kind::User, &lookup, "http://h/scim/v2"))
    });

    let page = from_query_pairs(
        &[("count".into(), "100".into())],
        &ListLimits {
            max_results: 100,
            default_count: 100,
        },
    )
    .unwrap();
    c.bench_function("list/page of 100 users, serialized", |b| {
        b.iter(|| query::list(&state, Kind::User, &page, "http://h/scim/v2").to_string())
    });

    // One member leaves and rejoins a 10,000-member group: the per-op cost must not grow
    // with the group (the member set is indexed, the state copy is O(1)).
    let remove = parse_patch(
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[42])}]}),
    )
    .unwrap();
    let add = parse_patch(
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ids[42].to_string()}]}]}),
    )
    .unwrap();
    c.bench_function("patch/member remove+add on 10k-member group", |b| {
        b.iter(|| {
            let mut next = state.clone();
            let mut tx = next.begin();
            Command::PatchGroup {
                id: gid,
                ops: remove.clone(),
                if_match: None,
            }
            .run(&mut tx)
            .unwrap();
            Command::PatchGroup {
                id: gid,
                ops: add.clone(),
                if_match: None,
            }
            .run(&mut tx)
            .unwrap();
            black_box(tx.finish().len())
        })
    });
}

criterion_group! {
    name = micro;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(micro);
