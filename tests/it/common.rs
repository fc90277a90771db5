//! Test kit: a real scimd on 127.0.0.1:0 (in-process or as a child process) and a small
//! HTTP client for the admin and SCIM APIs.

#![allow(dead_code)]

use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const SCIM_JSON: &str = "application/scim+json";

pub struct Reply {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
    /// Assert a SCIM error body (RFC 7644 §3.12) with this status and scimType.
    #[track_caller]
    pub fn expect_scim_error(self, status: u16, scim_type: Option<&str>) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.to_string(), "{}", self.body);
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "{}",
            self.body
        );
        self.body
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: awc::Client,
}

impl Client {
    pub fn new(base: String) -> Client {
        let http = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        Client { base, http }
    }

    /// Any request; `body` is sent as-is with `content_type` when given.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.try_raw(method, path, token, headers, content_type, body)
            .await
            .expect("request failed")
    }

    /// Like `raw`, but a transport failure (the server is gone) is an `Err`.
    pub async fn try_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let mut res = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        }
        .map_err(|e| e.to_string())?;
        let bytes = res
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| e.to_string())?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Reply {
            status: res.status(),
            headers: res.headers().clone(),
            body,
        })
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let ct = body.as_ref().map(|_| "application/json");
        self.raw(
            method,
            &format!("/admin/v1{path}"),
            Some(ADMIN_TOKEN),
            &[],
            ct,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    pub async fn scim(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.scim_with(method, token, path, &[], body).await
    }

    pub async fn scim_with(
        &self,
        method: Method,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let ct = body.as_ref().map(|_| SCIM_JSON);
        self.raw(
            method,
            &format!("/scim/v2{path}"),
            Some(token),
            headers,
            ct,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Create an org with SSO and a SCIM token. Returns (org id, token).
    pub async fn org_with_token(&self, name: &str) -> (String, String) {
        let org = self
            .admin(Method::POST, "/orgs", Some(json!({"name": name, "owner": {"email": format!("owner@{name}.test"), "name": "Olivia Owner"}})))
            .await
            .expect(201);
        let id = org["id"].as_str().unwrap().to_owned();
        self.admin(
            Method::PUT,
            &format!("/orgs/{id}/sso"),
            Some(json!({"protocol": "saml", "issuer": "https://idp.example/"})),
        )
        .await
        .expect(200);
        let t = self
            .admin(Method::POST, &format!("/orgs/{id}/scim/token"), None)
            .await
            .expect(201);
        (id, t["token"].as_str().unwrap().to_owned())
    }

    pub async fn create_user(&self, token: &str, user_name: &str) -> Value {
        self.scim(Method::POST, token, "/Users", Some(user_body(user_name)))
            .await
            .expect(201)
    }
}

pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

pub fn patch_body(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// scimd running in this test's actix system.
pub struct TestServer {
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub handle: actix_web::dev::ServerHandle,
    pub state: actix_web::web::Data<scimd::app::AppState>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut scimd::config::Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = scimd::config::Config::for_test(dir.path().join("db"));
        tweak(&mut config);
        let running = scimd::app::start(config).await.expect("server starts");
        let client = Client::new(format!("http://{}", running.addr));
        let handle = running.handle();
        let state = running.state.clone();
        actix_web::rt::spawn(running.run_until_stopped());
        TestServer {
            client,
            dir,
            handle,
            state,
        }
    }
}

/// scimd as a child process (the real binary), for kill and signal tests.
pub struct Process {
    pub child: Child,
    pub client: Client,
}

impl Process {
    pub fn start(data_dir: &std::path::Path) -> Process {
        Self::start_logging(data_dir, "warn", Stdio::inherit())
    }

    /// Start with a log filter, sending the log (stderr) where `log` says.
    pub fn start_logging(data_dir: &std::path::Path, filter: &str, log: Stdio) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--actor-threads",
                "1",
            ])
            .env("SCIMD_DATA_DIR", data_dir)
            .env("SCIMD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SCIMD_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn scimd");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("scimd exited before listening")
                .expect("stdout");
            if let Some(rest) = line.strip_prefix("scimd: listening on ") {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            client: Client::new(addr),
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.child.wait().expect("reaped")
    }

    /// SIGTERM without waiting, so requests in flight can be watched while it drains.
    pub fn send_sigterm(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("reaped")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
