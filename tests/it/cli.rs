//! The command line: help lists every setting; a first start without an admin token
//! generates one, prints it once, and keeps only its hash.

use crate::common::*;
use awc::http::Method;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "SCIMD_LISTEN",
        "SCIMD_DATA_DIR",
        "SCIMD_ADMIN_TOKEN",
        "SCIMD_PUBLIC_URL",
        "SCIMD_WORKERS",
        "SCIMD_ACTOR_THREADS",
        "SCIMD_MAX_BODY_BYTES",
        "SCIMD_MAX_RESULTS",
        "SCIMD_BULK_MAX_OPERATIONS",
        "SCIMD_ORG_MAX_PENDING",
        "SCIMD_ORG_IDLE_SECS",
        "SCIMD_WRITE_SLOTS",
        "SCIMD_PIPELINE_NICE",
        "SCIMD_GROUP_PATCH_REPLY",
        "SCIMD_SHUTDOWN_TIMEOUT_SECS",
        "SCIMD_STORE_CACHE_MB",
        "SCIMD_LOG",
    ] {
        assert!(
            help.contains(var),
            "{var} missing from serve --help:\n{help}"
        );
    }
    let top = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8(top.stdout).unwrap().contains("serve"));
    for bad in [
        &["--public-url", "ftp://x"][..],
        &["--pipeline-nice", "20"],
        &["--write-slots", "0"],
        &["--group-patch-reply", "maybe"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .arg("serve")
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

/// Start without SCIMD_ADMIN_TOKEN; return (stdout lines up to the listening line, child).
fn start_without_admin_token(dir: &std::path::Path) -> (Vec<String>, KillOnDrop) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--actor-threads",
            "1",
        ])
        .env("SCIMD_DATA_DIR", dir)
        .env_remove("SCIMD_ADMIN_TOKEN")
        .env("SCIMD_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("scimd: listening on ");
        lines.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in reader {});
    (lines, KillOnDrop(child))
}

/// The child dies with the test, even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn first_start_generates_the_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, child) = start_without_admin_token(dir.path());
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("scimd: generated admin token (shown once, store it now): "))
        .expect("the first start prints the generated token")
        .to_owned();
    let base = lines
        .last()
        .unwrap()
        .trim_start_matches("scimd: listening on ")
        .to_owned();
    let c = Client::new(base);
    let r = c
        .raw(
            Method::GET,
            "/admin/v1/orgs/00000000-0000-4000-8000-000000000000",
            Some(&token),
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 404, "the generated token is accepted");
    drop(child);

    // Only its hash is stored: the token text is nowhere in the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{} holds the token",
            entry.display()
        );
    }

    let (lines, child) = start_without_admin_token(dir.path());
    assert!(
        lines.iter().all(|l| !l.contains("generated admin token")),
        "printed once only: {lines:?}"
    );
    let c = Client::new(
        lines
            .last()
            .unwrap()
            .trim_start_matches("scimd: listening on ")
            .to_owned(),
    );
    let r = c
        .raw(
            Method::GET,
            "/admin/v1/orgs/00000000-0000-4000-8000-000000000000",
            Some(&token),
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(
        r.status.as_u16(),
        404,
        "the stored hash still admits it after a restart"
    );
    drop(child);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
