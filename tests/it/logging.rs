//! Observability: every request line carries a request id (and the org id once the token
//! resolved it); no token and no filter text ever reaches the log.

use crate::common::*;
use awc::http::Method;
use serde_json::json;
use std::process::Stdio;

#[actix_rt::test]
async fn logs_carry_ids_but_never_tokens_or_filters() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("scimd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut p = Process::start_logging(&dir.path().join("db"), "debug", Stdio::from(log));
    let c = p.client.clone();
    let (org, token) = c.org_with_token("acme").await;
    let secret_mail = "grace.hopper.secret@acme.test";
    c.create_user(&token, secret_mail).await;
    let filter = format!("/Users?filter=userName%20eq%20%22{secret_mail}%22");
    c.scim(Method::GET, &token, &filter, None).await.expect(200);
    c.scim(
        Method::GET,
        &token,
        "/Users?filter=userName%20eq%20%22unterminated",
        None,
    )
    .await
    .expect_scim_error(400, Some("invalidFilter"));
    c.scim(Method::GET, "scimd_wrong_token_value", "/Users", None)
        .await
        .expect_scim_error(401, None);
    let rotated = c
        .admin(
            Method::POST,
            &format!("/orgs/{org}/scim/token/rotate"),
            None,
        )
        .await
        .expect(201);
    c.scim(
        Method::POST,
        rotated["token"].as_str().unwrap(),
        "/Users",
        Some(json!({"userName": 7})),
    )
    .await;
    assert_eq!(p.sigterm().code(), Some(0));

    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.lines().count() >= 6,
        "debug logging produced lines:\n{text}"
    );
    for secret in [
        token.as_str(),
        rotated["token"].as_str().unwrap(),
        ADMIN_TOKEN,
        "scimd_wrong_token_value",
        secret_mail,
        "grace.hopper",
        "unterminated",
    ] {
        assert!(
            !text.contains(secret),
            "the log contains {secret:?}:\n{text}"
        );
    }
    let request_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request done"))
        .collect();
    assert!(request_lines.len() >= 6);
    for l in &request_lines {
        assert!(l.contains("request_id="), "{l}");
    }
    assert!(
        request_lines
            .iter()
            .any(|l| l.contains(&format!("org_id={org}")) && l.contains("/scim/v2/")),
        "SCIM request lines carry the org id:\n{text}"
    );
    // Lines logged inside the org actor carry the org id too.
    assert!(
        text.lines()
            .any(|l| l.contains("commit") && l.contains(&org)),
        "{text}"
    );
}
