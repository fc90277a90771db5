//! Load harness: the real scimd binary, driven over loopback HTTP with IdP-shaped traffic,
//! next to two reference limits measured in the same run (a bare actix-web handler and a
//! sled group-commit loop), so the figures can be read as ratios on whatever machine runs it.
//!
//!     cargo bench --bench load                        # 32 connections, 10,000 users, 5 s each
//!     cargo bench --bench load -- --quick             # smoke test of the harness (~20 s)
//!     cargo bench --bench load -- --tenants 4 --duration 10 --scenarios create,lookup
//!
//! Options: `--tenants N` `--concurrency C` `--population P` `--duration SECS` (max 60)
//! `--server-cores K` `--scenarios a,b,..` `--out PATH` `--quick`.
//! Scenarios: create, lookup, patch, member_add, member_add_10k, okta_sync.
//!
//! The server (and both references) run on the first K allowed cores, the load on the
//! others, so client and server do not steal each other's CPU. Every loop is bounded by
//! both a count and a deadline; the table goes to stdout, progress to stderr once a second,
//! and the same figures to `--out` (default `target/load-report.json`) as JSON.

use actix_web::web::Bytes;
use awc::http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "load-admin-token-0123456789abcdef";
const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ALL_SCENARIOS: &[&str] = &[
    "create",
    "lookup",
    "patch",
    "member_add",
    "member_add_10k",
    "okta_sync",
];
/// A scenario never runs longer than this, whatever `--duration` says.
const MAX_DURATION_SECS: u64 = 60;
/// Set-up phases (building populations) are bounded by count; this is their time cap, so a
/// broken server cannot hang the bench.
const SETUP_CAP: Duration = Duration::from_secs(120);
/// Groups per tenant for `member_add`, and per tenant in the Okta sync.
const GROUPS_PER_TENANT: u64 = 8;
/// Members per PATCH while building the big group (an IdP's batch size).
const BIG_BATCH: usize = 500;
/// Per-request timeout of the load clients: a hung request ends as an error, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The single-shot operations on the big group re-evaluate 10,000 users: allow more.
const SINGLE_SHOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest reply read: a PATCH on the big group returns the whole group (~1 MB).
const MAX_REPLY: usize = 64 << 20;

// ---- options ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Opts {
    tenants: u64,
    concurrency: usize,
    population: u64,
    duration: Duration,
    server_cores: usize,
    scenarios: Vec<String>,
    out: PathBuf,
    quick: bool,
    /// Members of the big group (10,000; fewer in `--quick`).
    big_members: u64,
    /// Users of the big group's org outside the group, added one by one by
    /// `member_add_10k` (the scenario's count bound).
    big_extra: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench load -- [--tenants N] [--concurrency C] [--population P] \
         [--duration SECS] [--server-cores K] [--scenarios {}] [--out PATH] [--quick]",
        ALL_SCENARIOS.join(",")
    );
    std::process::exit(2)
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        tenants: 1,
        concurrency: 32,
        population: 10_000,
        duration: Duration::from_secs(5),
        server_cores: 1,
        scenarios: ALL_SCENARIOS.iter().map(|s| s.to_string()).collect(),
        out: PathBuf::from("target/load-report.json"),
        quick: false,
        big_members: 10_000,
        big_extra: 2_000,
    };
    let (mut population, mut duration) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<u64>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--tenants" => o.tenants = num(val()).max(1),
            "--concurrency" => o.concurrency = num(val()).max(1) as usize,
            "--population" => population = Some(num(val()).max(1)),
            "--duration" => duration = Some(num(val()).clamp(1, MAX_DURATION_SECS)),
            "--server-cores" => o.server_cores = num(val()).max(1) as usize,
            "--scenarios" => {
                o.scenarios = val().split(',').map(|s| s.trim().to_owned()).collect();
                if o.scenarios
                    .iter()
                    .any(|s| !ALL_SCENARIOS.contains(&s.as_str()))
                {
                    usage()
                }
            }
            "--out" => o.out = PathBuf::from(val()),
            "--quick" => o.quick = true,
            // cargo bench passes `--bench` to every harness = false target.
            "--bench" => {}
            _ => usage(),
        }
    }
    if o.quick {
        o.population = 500;
        o.duration = Duration::from_secs(1);
        o.big_members = 1_000;
        o.big_extra = 300;
    }
    if let Some(p) = population {
        o.population = p;
    }
    if let Some(d) = duration {
        o.duration = Duration::from_secs(d);
    }
    // Every tenant needs at least one user to look up.
    o.population = o.population.max(o.tenants);
    o
}

// ---- CPU pinning -----------------------------------------------------------------------

/// The CPUs this process may run on (respects a container's cpuset).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed cpu_set_t of the size we pass.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET only writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

/// Pin the calling thread (and the threads and children it starts later, which inherit it).
fn pin_current_thread(cpus: &[usize]) {
    let set = cpu_set(cpus);
    // SAFETY: pid 0 is the calling thread; the set is a valid cpu_set_t.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        eprintln!("load: warning: could not pin the load to cpus {cpus:?}");
    }
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn have_taskset() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("taskset").is_file()))
}

/// A child process pinned to `cpus`: through `taskset -c` when installed (visible in `ps`),
/// else by setting the affinity between fork and exec.
fn pinned_command(cpus: &[usize], program: &Path, args: &[String]) -> Command {
    if have_taskset() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu_list(cpus)).arg(program).args(args);
        c
    } else {
        use std::os::unix::process::CommandExt;
        let set = cpu_set(cpus);
        let mut c = Command::new(program);
        c.args(args);
        // SAFETY: sched_setaffinity is a plain syscall, safe between fork and exec.
        unsafe {
            c.pre_exec(move || {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
        c
    }
}

/// A child killed when dropped, so a panic in the harness never leaves a server behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Read the child's stdout up to the line starting with `prefix`; return the rest of it.
/// Stdout keeps being drained afterwards so the child never blocks on a full pipe.
fn read_line_with(child: &mut Child, prefix: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let found = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    break rest.trim().to_owned();
                }
            }
            _ => panic!("child exited before printing {prefix:?}"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    found
}

// ---- HTTP helpers ----------------------------------------------------------------------

/// Why one operation did not succeed: 429 (retried after `Retry-After`) or a real error.
enum Fail {
    Throttled(Duration),
    Err(String),
}

type OpResult = Result<(), Fail>;

fn client(timeout: Duration) -> awc::Client {
    // One connection per client: each load task is one IdP connection with keep-alive.
    awc::Client::builder()
        .timeout(timeout)
        .connector(awc::Connector::new().limit(1))
        .finish()
}

/// Percent-encode everything but RFC 3986's unreserved characters (filters carry spaces,
/// quotes and `@`).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One request; 429 becomes `Fail::Throttled`, a transport failure `Fail::Err`.
async fn call(
    c: &awc::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, Bytes), Fail> {
    let mut req = c
        .request(method, url)
        .insert_header(("Authorization", format!("Bearer {token}")));
    let sent = match body {
        Some(b) => {
            req = req.insert_header(("Content-Type", SCIM_JSON));
            req.send_body(b).await
        }
        None => req.send().await,
    };
    let mut res = sent.map_err(|e| Fail::Err(format!("{url}: {e}")))?;
    let status = res.status().as_u16();
    // Read the whole body even on 429 so the connection stays reusable.
    let bytes = res
        .body()
        .limit(MAX_REPLY)
        .await
        .map_err(|e| Fail::Err(format!("{url}: body: {e}")))?;
    if status == 429 {
        let secs = res
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        return Err(Fail::Throttled(Duration::from_secs(secs)));
    }
    Ok((status, bytes))
}

fn want(got: (u16, Bytes), status: u16, what: &str) -> Result<Bytes, Fail> {
    if got.0 == status {
        Ok(got.1)
    } else {
        let body = String::from_utf8_lossy(&got.1[..got.1.len().min(300)]).into_owned();
        Err(Fail::Err(format!(
            "{what}: status {} (want {status}): {body}",
            got.0
        )))
    }
}

fn parse(b: &Bytes, what: &str) -> Result<Value, Fail> {
    serde_json::from_slice(b).map_err(|e| Fail::Err(format!("{what}: bad JSON: {e}")))
}

fn id_of(v: &Value, what: &str) -> Result<String, Fail> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Fail::Err(format!("{what}: no id in reply")))
}

/// Run set-up or single-shot async code on this thread.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix_rt::System::new().block_on(f)
}

#[derive(Clone, Debug)]
struct Tenant {
    org: String,
    token: String,
}

/// Admin calls (set-up only): panic on failure, since nothing after them can run.
async fn admin(c: &awc::Client, base: &str, method: Method, path: &str, body: Value) -> Value {
    let url = format!("{base}/admin/v1{path}");
    let mut req = c
        .request(method, &url)
        .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")));
    let mut res = if body.is_null() {
        req.send().await
    } else {
        req = req.insert_header(("Content-Type", "application/json"));
        req.send_body(body.to_string()).await
    }
    .unwrap_or_else(|e| panic!("{url}: {e}"));
    let bytes = res.body().limit(MAX_REPLY).await.expect("admin reply");
    assert!(
        res.status().is_success(),
        "{url}: {} {}",
        res.status(),
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// An org with SSO, these group-to-role mappings and a SCIM token.
async fn make_tenant(
    c: &awc::Client,
    base: &str,
    name: &str,
    mappings: &[(String, &str)],
) -> Tenant {
    let org = admin(
        c,
        base,
        Method::POST,
        "/orgs",
        json!({"name": name, "owner": {"email": format!("owner@{name}.test"), "name": "Olivia Owner"}}),
    )
    .await;
    let org = org["id"].as_str().expect("org id").to_owned();
    admin(
        c,
        base,
        Method::PUT,
        &format!("/orgs/{org}/sso"),
        json!({"protocol": "saml", "issuer": "https://idp.load.test/"}),
    )
    .await;
    if !mappings.is_empty() {
        let m: Vec<Value> = mappings
            .iter()
            .map(|(g, r)| json!({"group": g, "role": r}))
            .collect();
        admin(
            c,
            base,
            Method::PUT,
            &format!("/orgs/{org}/scim/group-mappings"),
            json!(m),
        )
        .await;
    }
    let t = admin(
        c,
        base,
        Method::POST,
        &format!("/orgs/{org}/scim/token"),
        Value::Null,
    )
    .await;
    Tenant {
        org,
        token: t["token"].as_str().expect("scim token").to_owned(),
    }
}

// ---- workload --------------------------------------------------------------------------

/// User `j` of a family (`prefix`) lives in tenant `j % tenants`.
fn user_name(prefix: &str, j: u64, tenants: u64) -> String {
    format!("{prefix}{j}@t{}.test", j % tenants)
}

/// A ~400-byte user as Okta or Entra sends it (core + enterprise extension).
fn user_body(name: &str, j: u64) -> Vec<u8> {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": format!("00u{j:08}"),
        "userName": name,
        "name": {"givenName": format!("Ada{j}"), "familyName": format!("Lovelace{j}")},
        "displayName": format!("Ada{j} Lovelace{j}"),
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"employeeNumber": format!("{j:06}"), "department": "R&D"},
    })
    .to_string()
    .into_bytes()
}

/// A well-mixed index in 0..n (lookups and patches hit the population at random).
fn spread(i: u64, n: u64) -> u64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % n
}

/// Ids produced by a phase, by operation index (read by later phases).
type Sink = Mutex<HashMap<u64, String>>;

/// What one operation `i` of a scenario does. Tenant of operation i is `i % tenants`
/// unless the variant says otherwise.
enum Plan {
    /// POST user `prefix{i}`; with `check_absent`, first the Okta lookup that must find
    /// nothing. Ids go to `sink` when given.
    CreateUsers {
        tenants: Vec<Tenant>,
        prefix: &'static str,
        check_absent: bool,
        sink: Option<Sink>,
    },
    /// POST group `prefix{i / tenants}` in tenant `i % tenants`.
    CreateGroups {
        tenants: Vec<Tenant>,
        prefix: &'static str,
        sink: Sink,
    },
    /// Filter lookup of a random population user; the one right answer counts.
    Lookup {
        tenants: Vec<Tenant>,
        population: u64,
    },
    /// PATCH `active` and `name.givenName` of a random population user.
    Patch {
        tenants: Vec<Tenant>,
        ids: Arc<HashMap<u64, String>>,
        population: u64,
    },
    /// PATCH one member into a group: user `users[u]` into `groups[g]` of its tenant.
    /// `pair(i)` maps the operation to (user, group index) so no pair repeats.
    AddMember {
        tenants: Vec<Tenant>,
        users: Arc<HashMap<u64, String>>,
        /// Group ids by `g * tenants + t`.
        groups: Arc<HashMap<u64, String>>,
        pairing: Pairing,
        /// Ask for the reply without the member list (`?excludedAttributes=members`,
        /// RFC 7644 §3.9), as a client that does not need the echo can.
        lean: bool,
    },
    /// GET / on the bare reference server.
    Bare,
}

#[derive(Clone, Copy)]
enum Pairing {
    /// Operation i: group `i % groups`, user `i / groups` (all groups grow together).
    Spread { groups: u64, users: u64 },
    /// Operation i: user i into group `(i / tenants) % groups` (the Okta sync: one group
    /// per user).
    OnePerUser { groups: u64 },
}

impl Plan {
    async fn op(&self, c: &awc::Client, base: &str, i: u64) -> OpResult {
        match self {
            Plan::CreateUsers {
                tenants,
                prefix,
                check_absent,
                sink,
            } => {
                let n = tenants.len() as u64;
                let t = &tenants[(i % n) as usize];
                let name = user_name(prefix, i, n);
                if *check_absent {
                    let filter = url_encode(&format!("userName eq \"{name}\""));
                    let url = format!("{base}/scim/v2/Users?filter={filter}");
                    let got = call(c, Method::GET, &url, &t.token, None).await?;
                    let v = parse(&want(got, 200, "okta lookup")?, "okta lookup")?;
                    if v["totalResults"] != 0 {
                        return Err(Fail::Err(format!("okta lookup of {name}: {v}")));
                    }
                }
                let url = format!("{base}/scim/v2/Users");
                let got = call(c, Method::POST, &url, &t.token, Some(user_body(&name, i))).await?;
                let v = parse(&want(got, 201, "create user")?, "create user")?;
                if v["userName"] != name.as_str() {
                    return Err(Fail::Err(format!(
                        "create {name}: reply names {}",
                        v["userName"]
                    )));
                }
                let id = id_of(&v, "create user")?;
                if let Some(s) = sink {
                    s.lock().unwrap().insert(i, id);
                }
                Ok(())
            }
            Plan::CreateGroups {
                tenants,
                prefix,
                sink,
            } => {
                let n = tenants.len() as u64;
                let t = &tenants[(i % n) as usize];
                let body =
                    json!({"schemas": [GROUP_SCHEMA], "displayName": format!("{prefix}{}", i / n)});
                let url = format!("{base}/scim/v2/Groups");
                let got = call(
                    c,
                    Method::POST,
                    &url,
                    &t.token,
                    Some(body.to_string().into_bytes()),
                )
                .await?;
                let v = parse(&want(got, 201, "create group")?, "create group")?;
                sink.lock().unwrap().insert(i, id_of(&v, "create group")?);
                Ok(())
            }
            Plan::Lookup {
                tenants,
                population,
            } => {
                let n = tenants.len() as u64;
                let j = spread(i, *population);
                let t = &tenants[(j % n) as usize];
                let name = user_name("pop", j, n);
                let filter = url_encode(&format!("userName eq \"{name}\""));
                let url = format!("{base}/scim/v2/Users?filter={filter}");
                let got = call(c, Method::GET, &url, &t.token, None).await?;
                let v = parse(&want(got, 200, "lookup")?, "lookup")?;
                // A fast wrong answer is an error, not a result.
                if v["totalResults"] != 1 || v["Resources"][0]["userName"] != name.as_str() {
                    let s = v.to_string();
                    return Err(Fail::Err(format!(
                        "lookup {name}: {}",
                        &s[..s.len().min(300)]
                    )));
                }
                Ok(())
            }
            Plan::Patch {
                tenants,
                ids,
                population,
            } => {
                let n = tenants.len() as u64;
                let j = spread(i, *population);
                let t = &tenants[(j % n) as usize];
                let id = &ids[&j];
                // A new givenName every time, so each PATCH is a real change (a retry of an
                // applied PATCH is a cheaper no-op).
                let body = json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "replace", "value": {"active": i % 3 != 0, "name.givenName": format!("P{i}")}}
                ]});
                let url = format!("{base}/scim/v2/Users/{id}");
                let got = call(
                    c,
                    Method::PATCH,
                    &url,
                    &t.token,
                    Some(body.to_string().into_bytes()),
                )
                .await?;
                let v = parse(&want(got, 200, "patch user")?, "patch user")?;
                if v["name"]["givenName"] != format!("P{i}").as_str() {
                    return Err(Fail::Err(format!("patch {id}: givenName not applied")));
                }
                Ok(())
            }
            Plan::AddMember {
                tenants,
                users,
                groups,
                pairing,
                lean,
            } => {
                let n = tenants.len() as u64;
                let (u, g) = match *pairing {
                    Pairing::Spread { groups, users } => ((i / groups) % users, i % groups),
                    Pairing::OnePerUser { groups } => (i, (i / n) % groups),
                };
                let t = u % n;
                let (Some(uid), Some(gid)) = (users.get(&u), groups.get(&(g * n + t))) else {
                    return Err(Fail::Err(format!(
                        "member add {i}: user or group was not created"
                    )));
                };
                let body = json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": uid}]}
                ]});
                let query = if *lean {
                    "?excludedAttributes=members"
                } else {
                    ""
                };
                let url = format!("{base}/scim/v2/Groups/{gid}{query}");
                let tok = &tenants[t as usize].token;
                let got = call(
                    c,
                    Method::PATCH,
                    &url,
                    tok,
                    Some(body.to_string().into_bytes()),
                )
                .await?;
                want(got, 200, "member add")?;
                Ok(())
            }
            Plan::Bare => {
                let got = call(c, Method::GET, &format!("{base}/"), "x", None).await?;
                want(got, 200, "bare GET")?;
                Ok(())
            }
        }
    }
}

// ---- the driver ------------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    next: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Clone, Debug)]
struct Stats {
    name: String,
    ops: u64,
    secs: f64,
    errors: u64,
    throttled: u64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU used by the server (or reference) process, in cores (1.0 = one core busy).
    server_cpu: Option<f64>,
    /// CPU used by this (load) process, in cores.
    load_cpu: Option<f64>,
    error_samples: Vec<String>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }
    fn json(&self) -> Value {
        json!({
            "scenario": self.name, "ops": self.ops, "secs": round3(self.secs),
            "ops_per_s": round3(self.rate()), "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms), "errors": self.errors, "throttled_429": self.throttled,
            "server_cpu_cores": self.server_cpu.map(round3), "load_cpu_cores": self.load_cpu.map(round3),
            "error_samples": self.error_samples,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

/// CPU seconds (user + system, all threads) a process has used so far, from /proc.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted from after its ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); the slice starts at field 3.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / hz.max(1) as f64)
}

struct Run<'a> {
    name: &'a str,
    base: &'a str,
    concurrency: usize,
    /// Load threads (one per load core), each an actix System running its share of tasks.
    threads: usize,
    max_ops: u64,
    duration: Duration,
    /// Print progress (set-up phases are quieter).
    progress: bool,
    /// The process serving `base`, whose CPU use is reported (which side is the bound).
    server_pid: Option<u32>,
}

/// Run `plan` from `concurrency` connections until `max_ops` operations were started or
/// `duration` passed, whichever first.
fn drive(run: &Run, plan: &Arc<Plan>) -> Stats {
    let counters = Arc::new(Counters::default());
    let server_pid = run.server_pid.map(|p| p.to_string());
    let server_cpu0 = server_pid.as_deref().and_then(cpu_secs);
    let load_cpu0 = cpu_secs("self");
    let start = Instant::now();
    let deadline = start + run.duration;
    let done = Arc::new(AtomicBool::new(false));
    let ticker = run.progress.then(|| {
        let (c, done, name) = (counters.clone(), done.clone(), run.name.to_owned());
        std::thread::spawn(move || {
            let mut last = (start, 0u64);
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if last.0.elapsed() < Duration::from_secs(1) {
                    continue;
                }
                let ok = c.ok.load(Ordering::Relaxed);
                let rate = (ok - last.1) as f64 / last.0.elapsed().as_secs_f64();
                last = (Instant::now(), ok);
                eprintln!(
                    "load: {name:<16} {:5.1}s  ok {ok:>8}  {rate:>9.0}/s  errors {}  429 {}",
                    start.elapsed().as_secs_f64(),
                    c.errors.load(Ordering::Relaxed),
                    c.throttled.load(Ordering::Relaxed),
                );
            }
        })
    });
    let threads = run.threads.clamp(1, run.concurrency);
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let tasks = run.concurrency / threads + usize::from(th < run.concurrency % threads);
            let (plan, counters, base, max_ops) = (
                plan.clone(),
                counters.clone(),
                run.base.to_owned(),
                run.max_ops,
            );
            std::thread::spawn(move || {
                block_on(async move {
                    let tasks: Vec<_> = (0..tasks)
                        .map(|_| {
                            let (plan, counters, base) =
                                (plan.clone(), counters.clone(), base.clone());
                            actix_rt::spawn(async move {
                                task(&plan, &counters, &base, max_ops, deadline).await
                            })
                        })
                        .collect();
                    let mut lat = Vec::new();
                    let mut samples = Vec::new();
                    for t in futures_util::future::join_all(tasks).await {
                        let (l, s) = t.expect("load task panicked");
                        lat.extend(l);
                        samples.extend(s);
                    }
                    (lat, samples)
                })
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut samples = Vec::new();
    for h in handles {
        let (l, s) = h.join().expect("load thread panicked");
        lat.extend(l);
        samples.extend(s);
    }
    let secs = start.elapsed().as_secs_f64();
    let used = |before: Option<f64>, pid: Option<&str>| Some((cpu_secs(pid?)? - before?) / secs);
    let server_cpu = used(server_cpu0, server_pid.as_deref());
    let load_cpu = used(load_cpu0, Some("self"));
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        t.join().expect("progress thread");
    }
    lat.sort_unstable();
    samples.truncate(5);
    Stats {
        name: run.name.to_owned(),
        ops: counters.ok.load(Ordering::Relaxed),
        secs,
        errors: counters.errors.load(Ordering::Relaxed),
        throttled: counters.throttled.load(Ordering::Relaxed),
        p50_ms: percentile_ms(&lat, 50.0),
        p99_ms: percentile_ms(&lat, 99.0),
        server_cpu,
        load_cpu,
        error_samples: samples,
    }
}

/// One connection: take the next operation index until the count or the time runs out.
/// Latencies are of successful operations only; a 429 is retried (same operation) after
/// its Retry-After, capped by the deadline, as an IdP would.
async fn task(
    plan: &Plan,
    counters: &Counters,
    base: &str,
    max_ops: u64,
    deadline: Instant,
) -> (Vec<u32>, Vec<String>) {
    let c = client(REQUEST_TIMEOUT);
    let mut lat = Vec::with_capacity(4096);
    let mut samples = Vec::new();
    'ops: while Instant::now() < deadline {
        let i = counters.next.fetch_add(1, Ordering::Relaxed);
        if i >= max_ops {
            break;
        }
        loop {
            let t0 = Instant::now();
            match plan.op(&c, base, i).await {
                Ok(()) => {
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    counters.ok.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(Fail::Err(e)) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    if samples.len() < 5 {
                        samples.push(e);
                    }
                    break;
                }
                Err(Fail::Throttled(wait)) => {
                    counters.throttled.fetch_add(1, Ordering::Relaxed);
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break 'ops;
                    }
                    actix_rt::time::sleep(wait.min(left).min(Duration::from_secs(1))).await;
                }
            }
        }
    }
    (lat, samples)
}

// ---- references ------------------------------------------------------------------------

/// `--reference-server K`: a bare actix-web handler on K workers; prints its address.
fn reference_server(workers: usize) -> std::io::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    actix_rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new().route(
                "/",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(r#"{"status":"ok","service":"reference"}"#)
                }),
            )
        })
        .workers(workers)
        .bind("127.0.0.1:0")?;
        let addr = server.addrs()[0];
        println!("reference: listening on http://{addr}");
        std::io::stdout().flush()?;
        server.run().await
    })
}

/// Durability epochs of the sled reference: writers wait until a flush that started after
/// their insert has finished.
#[derive(Default)]
struct Epochs {
    /// The epoch the next flush will make durable.
    filling: u64,
    /// Every epoch below this is durable.
    durable: u64,
    /// Writers waiting for a flush.
    waiting: usize,
    stop: bool,
}

/// `--reference-sled DIR THREADS SECS MAX_OPS`: C writers inserting ~400-byte values, each
/// waiting for durability; one flusher thread flushing whatever was inserted since the last
/// flush (scimd's group commit, without scimd). Prints one JSON line.
fn reference_sled(dir: &Path, threads: usize, secs: u64, max_ops: u64) {
    let db = sled::Config::new()
        .path(dir)
        // As scimd: only the explicit flushes write, sled's timer would add fsyncs.
        .flush_every_ms(None)
        .open()
        .expect("open sled");
    let sync = Arc::new((Mutex::new(Epochs::default()), Condvar::new()));
    let flusher = {
        let (db, sync) = (db.clone(), sync.clone());
        std::thread::spawn(move || {
            let (m, cv) = &*sync;
            loop {
                let epoch = {
                    let mut s = m.lock().unwrap();
                    while s.waiting == 0 && !s.stop {
                        s = cv.wait(s).unwrap();
                    }
                    if s.stop {
                        return;
                    }
                    s.filling += 1;
                    s.filling - 1
                };
                // The flush starts after every insert whose writer saw `filling == epoch`.
                db.flush().expect("flush");
                m.lock().unwrap().durable = epoch + 1;
                cv.notify_all();
            }
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let writers: Vec<_> = (0..threads)
        .map(|_| {
            let (db, sync, next) = (db.clone(), sync.clone(), next.clone());
            std::thread::spawn(move || {
                let (m, cv) = &*sync;
                let value = vec![b'x'; 400];
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= max_ops {
                        break;
                    }
                    let t0 = Instant::now();
                    db.insert(i.to_be_bytes(), value.as_slice())
                        .expect("insert");
                    let mut s = m.lock().unwrap();
                    let mine = s.filling;
                    s.waiting += 1;
                    cv.notify_all();
                    while s.durable <= mine {
                        s = cv.wait(s).unwrap();
                    }
                    s.waiting -= 1;
                    drop(s);
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<u32> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let secs = start.elapsed().as_secs_f64();
    sync.0.lock().unwrap().stop = true;
    sync.1.notify_all();
    flusher.join().unwrap();
    lat.sort_unstable();
    println!(
        "reference-sled: {}",
        json!({"ops": lat.len(), "secs": secs,
               "p50_ms": percentile_ms(&lat, 50.0), "p99_ms": percentile_ms(&lat, 99.0),
               "cpu_cores": cpu_secs("self").map(|c| c / secs)})
    );
}

// ---- the bench -------------------------------------------------------------------------

struct Env {
    opts: Opts,
    base: String,
    server_cpus: Vec<usize>,
    load_threads: usize,
    server_pid: u32,
}

impl Env {
    fn run<'a>(&'a self, name: &'a str, max_ops: u64) -> Run<'a> {
        Run {
            name,
            base: &self.base,
            concurrency: self.opts.concurrency,
            threads: self.load_threads,
            max_ops,
            duration: self.opts.duration,
            progress: true,
            server_pid: Some(self.server_pid),
        }
    }
    /// A set-up phase: bounded by count (and `SETUP_CAP`), every operation must succeed.
    fn setup(&self, name: &str, max_ops: u64, plan: &Arc<Plan>) -> Stats {
        let run = Run {
            duration: SETUP_CAP,
            ..self.run(name, max_ops)
        };
        let s = drive(&run, plan);
        assert!(
            s.errors == 0 && s.ops == max_ops,
            "set-up {name} failed: {} of {max_ops} done, {} errors: {:?}",
            s.ops,
            s.errors,
            s.error_samples
        );
        eprintln!(
            "load: set-up {name}: {} in {:.1} s ({:.0}/s)",
            s.ops,
            s.secs,
            s.rate()
        );
        s
    }
    fn wants(&self, s: &str) -> bool {
        self.opts.scenarios.iter().any(|x| x == s)
    }
}

fn sink_of(plan: Arc<Plan>) -> Arc<HashMap<u64, String>> {
    let plan = Arc::try_unwrap(plan).unwrap_or_else(|_| panic!("plan still shared"));
    match plan {
        Plan::CreateUsers { sink: Some(s), .. } | Plan::CreateGroups { sink: s, .. } => {
            Arc::new(s.into_inner().unwrap())
        }
        _ => panic!("plan has no sink"),
    }
}

fn tenants(env: &Env, prefix: &str, n: u64, mappings: &[(String, &str)]) -> Vec<Tenant> {
    let c = client(REQUEST_TIMEOUT);
    block_on(async {
        let mut v = Vec::new();
        for t in 0..n {
            v.push(make_tenant(&c, &env.base, &format!("{prefix}-{t}"), mappings).await);
        }
        v
    })
}

fn team_mappings(prefix: &str, role: &'static str) -> Vec<(String, &'static str)> {
    (0..GROUPS_PER_TENANT)
        .map(|g| (format!("{prefix}{g}"), role))
        .collect()
}

/// Results of the big-group scenario's single shots, in milliseconds.
struct BigGroup {
    members: u64,
    /// Size of the group's representation, which every PATCH on it returns.
    reply_bytes: usize,
    build_ms: f64,
    remap_ms: f64,
    empty_ms: f64,
}

fn big_group(env: &Env, table: &mut Vec<Stats>) -> BigGroup {
    let o = &env.opts;
    let tenant = tenants(env, "load-big", 1, &[]).remove(0);
    // Users 0..big_members go into the group in batches; the rest are added one at a time.
    let total = o.big_members + o.big_extra;
    let users = Arc::new(Plan::CreateUsers {
        tenants: vec![tenant.clone()],
        prefix: "big",
        check_absent: false,
        sink: Some(Sink::default()),
    });
    env.setup("big users", total, &users);
    let ids = sink_of(users);
    let c = client(SINGLE_SHOT_TIMEOUT);
    let base = env.base.clone();
    let patch = |ops: Value| {
        json!({"schemas": [PATCH_OP], "Operations": ops})
            .to_string()
            .into_bytes()
    };
    let (gid, build_ms) = block_on(async {
        let url = format!("{base}/scim/v2/Groups");
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone"});
        let got = call(
            &c,
            Method::POST,
            &url,
            &tenant.token,
            Some(body.to_string().into_bytes()),
        )
        .await;
        let gid = match got
            .and_then(|g| want(g, 201, "big group"))
            .and_then(|b| parse(&b, "big group"))
        {
            Ok(v) => v["id"].as_str().unwrap().to_owned(),
            Err(_) => panic!("creating the big group failed"),
        };
        let url = format!("{base}/scim/v2/Groups/{gid}");
        let t0 = Instant::now();
        let mut k = 0;
        while k < o.big_members {
            let end = (k + BIG_BATCH as u64).min(o.big_members);
            let members: Vec<Value> = (k..end).map(|j| json!({"value": ids[&j]})).collect();
            let body = patch(json!([{"op": "add", "path": "members", "value": members}]));
            let res = call(&c, Method::PATCH, &url, &tenant.token, Some(body)).await;
            if res.and_then(|r| want(r, 200, "batch add")).is_err() {
                panic!("adding members {k}..{end} to the big group failed");
            }
            k = end;
        }
        (gid, t0.elapsed().as_secs_f64() * 1000.0)
    });
    eprintln!(
        "load: built a {}-member group in {:.0} ms ({} PATCHes of {BIG_BATCH})",
        o.big_members,
        build_ms,
        o.big_members.div_ceil(BIG_BATCH as u64)
    );
    // One-at-a-time adds of users not yet in it: the group is already big.
    let extras: HashMap<u64, String> = (0..o.big_extra)
        .map(|k| (k, ids[&(o.big_members + k)].clone()))
        .collect();
    // Half of the extra users with the full reply (what Okta and Entra get), half with
    // `?excludedAttributes=members`: the difference is the cost of echoing the group.
    let half = o.big_extra / 2;
    let (full_users, lean_users): (HashMap<u64, String>, HashMap<u64, String>) =
        extras.into_iter().partition(|(k, _)| *k < half);
    let lean_users: HashMap<u64, String> =
        lean_users.into_iter().map(|(k, v)| (k - half, v)).collect();
    let mut members = o.big_members;
    for (name, users, lean) in [
        ("member_add_10k", full_users, false),
        ("member_add_10k.lean", lean_users, true),
    ] {
        let n = users.len() as u64;
        let plan = Arc::new(Plan::AddMember {
            tenants: vec![tenant.clone()],
            users: Arc::new(users),
            groups: Arc::new(HashMap::from([(0, gid.clone())])),
            pairing: Pairing::Spread {
                groups: 1,
                users: n,
            },
            lean,
        });
        table.push(drive(&env.run(name, n), &plan));
        members += table.last().unwrap().ops;
    }
    // The group grew by the adds above; the single shots act on all of its members.
    let (reply_bytes, remap_ms, empty_ms) = block_on(async {
        let url = format!("{base}/scim/v2/Groups/{gid}");
        let got = call(&c, Method::GET, &url, &tenant.token, None).await;
        let reply_bytes = match got.and_then(|g| want(g, 200, "get big group")) {
            Ok(b) => b.len(),
            Err(_) => panic!("reading the big group failed"),
        };
        // Mapping the group re-evaluates every member in one commit (all become members).
        let t0 = Instant::now();
        admin(
            &c,
            &base,
            Method::PUT,
            &format!("/orgs/{}/scim/group-mappings", tenant.org),
            json!([{"group": "Everyone", "role": "developer"}]),
        )
        .await;
        let remap_ms = t0.elapsed().as_secs_f64() * 1000.0;
        // Emptying the mapped group removes every member, again in one commit.
        let body = patch(json!([{"op": "replace", "path": "members", "value": []}]));
        let t0 = Instant::now();
        let res = call(&c, Method::PATCH, &url, &tenant.token, Some(body)).await;
        let empty_ms = t0.elapsed().as_secs_f64() * 1000.0;
        match res
            .and_then(|r| want(r, 200, "empty group"))
            .and_then(|b| parse(&b, "empty group"))
        {
            Ok(v) if v["members"].as_array().is_none_or(|m| m.is_empty()) => {}
            _ => panic!("emptying the big group failed"),
        }
        (reply_bytes, remap_ms, empty_ms)
    });
    BigGroup {
        members,
        reply_bytes,
        build_ms,
        remap_ms,
        empty_ms,
    }
}

fn okta_sync(env: &Env, table: &mut Vec<Stats>) {
    let o = &env.opts;
    let ts = tenants(
        env,
        "okta",
        o.tenants,
        &team_mappings("okta-group-", "developer"),
    );
    // 1. Users: the lookup that finds nothing, then the POST; bounded by the duration.
    let users = Arc::new(Plan::CreateUsers {
        tenants: ts.clone(),
        prefix: "okta",
        check_absent: true,
        sink: Some(Sink::default()),
    });
    let u = drive(&env.run("okta_sync.users", o.population), &users);
    let user_ids = sink_of(users);
    // 2. Groups, 3. one member add per user; both bounded by count (and the hard cap).
    let groups = Arc::new(Plan::CreateGroups {
        tenants: ts.clone(),
        prefix: "okta-group-",
        sink: Sink::default(),
    });
    let g = drive(
        &Run {
            duration: Duration::from_secs(MAX_DURATION_SECS),
            ..env.run("okta_sync.groups", GROUPS_PER_TENANT * o.tenants)
        },
        &groups,
    );
    let group_ids = sink_of(groups);
    let max_user = user_ids.keys().max().map_or(0, |m| m + 1);
    let members = Arc::new(Plan::AddMember {
        tenants: ts,
        users: user_ids,
        groups: group_ids,
        pairing: Pairing::OnePerUser {
            groups: GROUPS_PER_TENANT,
        },
        lean: false,
    });
    let m = drive(
        &Run {
            duration: Duration::from_secs(MAX_DURATION_SECS),
            ..env.run("okta_sync.members", max_user)
        },
        &members,
    );
    // Users fully synced per second of the whole sync.
    table.push(Stats {
        name: "okta_sync".into(),
        ops: u.ops,
        secs: u.secs + g.secs + m.secs,
        errors: u.errors + g.errors + m.errors,
        throttled: u.throttled + g.throttled + m.throttled,
        p50_ms: u.p50_ms,
        p99_ms: u.p99_ms,
        server_cpu: None,
        load_cpu: None,
        error_samples: [&u, &g, &m]
            .iter()
            .flat_map(|s| s.error_samples.clone())
            .take(5)
            .collect(),
    });
    table.extend([u, g, m]);
}

fn reference_http(env: &Env, exe: &Path) -> Stats {
    let mut child = ChildGuard(
        pinned_command(
            &env.server_cpus,
            exe,
            &[
                "--reference-server".into(),
                env.opts.server_cores.to_string(),
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn reference server"),
    );
    let base = read_line_with(&mut child.0, "reference: listening on ");
    let plan = Arc::new(Plan::Bare);
    drive(
        &Run {
            base: &base,
            server_pid: Some(child.0.id()),
            ..env.run("ref_bare_http", u64::MAX)
        },
        &plan,
    )
}

fn reference_sled_run(env: &Env, exe: &Path) -> Stats {
    // The same disk as scimd's store (both are temp dirs).
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!(
        "load: reference sled group commit ({} writers)",
        env.opts.concurrency
    );
    let mut child = ChildGuard(
        pinned_command(
            &env.server_cpus,
            exe,
            &[
                "--reference-sled".into(),
                dir.path().join("db").display().to_string(),
                env.opts.concurrency.to_string(),
                env.opts.duration.as_secs().to_string(),
                // Bounded by count too: far above what one disk flushes in the duration.
                "10000000".into(),
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sled reference"),
    );
    let line = read_line_with(&mut child.0, "reference-sled: ");
    let _ = child.0.wait();
    let v: Value = serde_json::from_str(&line).expect("sled reference JSON");
    Stats {
        name: "ref_sled_commit".into(),
        ops: v["ops"].as_u64().unwrap_or(0),
        secs: v["secs"].as_f64().unwrap_or(1.0),
        errors: 0,
        throttled: 0,
        p50_ms: v["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: v["p99_ms"].as_f64().unwrap_or(0.0),
        server_cpu: v["cpu_cores"].as_f64(),
        load_cpu: None,
        error_samples: vec![],
    }
}

/// Which side a figure is bounded by: the side whose cores were >= 90% busy, else "wait"
/// (both had idle CPU: the disk, a lock or one serialised actor is the limit).
fn bound(s: &Stats, server_cores: usize, load_cores: usize) -> &'static str {
    let busy = |c: Option<f64>, cores: usize| c.is_some_and(|c| c >= 0.9 * cores as f64);
    match (
        busy(s.server_cpu, server_cores),
        busy(s.load_cpu, load_cores),
    ) {
        // CPU time is counted in 10 ms ticks: too coarse for a phase this short.
        _ if s.server_cpu.is_none() || s.secs < 0.5 => "-",
        (true, true) => "both",
        (true, false) => "server",
        (false, true) => "client",
        (false, false) => "wait",
    }
}

fn print_table(rows: &[Stats], server_cores: usize, load_cores: usize) {
    println!();
    println!(
        "{:<18} {:>9} {:>11} {:>9} {:>9} {:>7} {:>6} {:>8} {:>8}  bound",
        "scenario", "ops", "ops/s", "p50 ms", "p99 ms", "errors", "429", "srv cpu", "load cpu"
    );
    // CPU in percent of one core: near 100 x cores on one side says which side bounds it.
    let pct = |c: Option<f64>| c.map_or("-".to_owned(), |c| format!("{:.0}%", c * 100.0));
    for s in rows {
        println!(
            "{:<18} {:>9} {:>11.1} {:>9.2} {:>9.2} {:>7} {:>6} {:>8} {:>8}  {}",
            s.name,
            s.ops,
            s.rate(),
            s.p50_ms,
            s.p99_ms,
            s.errors,
            s.throttled,
            pct(s.server_cpu),
            pct(s.load_cpu),
            bound(s, server_cores, load_cores)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Hidden modes: this binary re-executed as a reference, pinned by the parent.
    match args.first().map(String::as_str) {
        Some("--reference-server") => {
            let workers = args.get(1).and_then(|w| w.parse().ok()).unwrap_or(1);
            reference_server(workers).expect("reference server");
            return;
        }
        Some("--reference-sled") => {
            let num = |k: usize| {
                args.get(k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .expect("sled args")
            };
            reference_sled(Path::new(&args[1]), num(2) as usize, num(3), num(4));
            return;
        }
        _ => {}
    }
    let opts = parse_opts(&args);
    let exe = std::env::current_exe().expect("current exe");

    // Server on the first K allowed cores, load on the rest (all of them if none is left).
    let cpus = allowed_cpus();
    let k = opts.server_cores.min(cpus.len());
    let server_cpus = cpus[..k].to_vec();
    let load_cpus = if cpus.len() > k {
        cpus[k..].to_vec()
    } else {
        eprintln!(
            "load: warning: {} cpu(s) only: load and server share them",
            cpus.len()
        );
        cpus.clone()
    };
    pin_current_thread(&load_cpus);
    eprintln!(
        "load: server on cpus [{}], load on cpus [{}] ({}), {} tenants, {} connections, \
         population {}, {} s per scenario",
        cpu_list(&server_cpus),
        cpu_list(&load_cpus),
        if have_taskset() {
            "taskset"
        } else {
            "sched_setaffinity"
        },
        opts.tenants,
        opts.concurrency,
        opts.population,
        opts.duration.as_secs()
    );

    let data = tempfile::tempdir().expect("tempdir");
    let server_args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        &opts.server_cores.to_string(),
        "--actor-threads",
        &opts.server_cores.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut server = ChildGuard(
        pinned_command(
            &server_cpus,
            Path::new(env!("CARGO_BIN_EXE_scimd")),
            &server_args,
        )
        .env("SCIMD_DATA_DIR", data.path().join("db"))
        .env("SCIMD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCIMD_LOG", OsString::from("warn"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scimd"),
    );
    let base = read_line_with(&mut server.0, "scimd: listening on ");
    let env = Env {
        server_pid: server.0.id(),
        load_threads: load_cpus.len(),
        opts,
        base,
        server_cpus,
    };
    let o = env.opts.clone();
    eprintln!(
        "load: scimd at {} (user body {} bytes)",
        env.base,
        user_body(&user_name("pop", 12345, 1), 12345).len()
    );

    let mut table: Vec<Stats> = Vec::new();
    let mut setup: Vec<Stats> = Vec::new();
    let mut big = None;
    let load_tenants = tenants(&env, "load", o.tenants, &team_mappings("team-", "viewer"));

    if env.wants("create") {
        let plan = Arc::new(Plan::CreateUsers {
            tenants: load_tenants.clone(),
            prefix: "new",
            check_absent: false,
            sink: None,
        });
        table.push(drive(&env.run("create", u64::MAX), &plan));
    }
    if ["lookup", "patch", "member_add"]
        .iter()
        .any(|s| env.wants(s))
    {
        let plan = Arc::new(Plan::CreateUsers {
            tenants: load_tenants.clone(),
            prefix: "pop",
            check_absent: false,
            sink: Some(Sink::default()),
        });
        setup.push(env.setup("population", o.population, &plan));
        let pop = sink_of(plan);
        if env.wants("lookup") {
            let plan = Arc::new(Plan::Lookup {
                tenants: load_tenants.clone(),
                population: o.population,
            });
            table.push(drive(&env.run("lookup", u64::MAX), &plan));
        }
        if env.wants("patch") {
            let plan = Arc::new(Plan::Patch {
                tenants: load_tenants.clone(),
                ids: pop.clone(),
                population: o.population,
            });
            table.push(drive(&env.run("patch", u64::MAX), &plan));
        }
        if env.wants("member_add") {
            let plan = Arc::new(Plan::CreateGroups {
                tenants: load_tenants.clone(),
                prefix: "team-",
                sink: Sink::default(),
            });
            setup.push(env.setup("groups", GROUPS_PER_TENANT * o.tenants, &plan));
            let groups = sink_of(plan);
            let plan = Arc::new(Plan::AddMember {
                tenants: load_tenants.clone(),
                users: pop,
                groups,
                pairing: Pairing::Spread {
                    groups: GROUPS_PER_TENANT,
                    users: o.population,
                },
                lean: false,
            });
            table.push(drive(
                &env.run("member_add", GROUPS_PER_TENANT * o.population),
                &plan,
            ));
        }
    }
    if env.wants("member_add_10k") {
        big = Some(big_group(&env, &mut table));
    }
    if env.wants("okta_sync") {
        okta_sync(&env, &mut table);
    }
    // The server is done: stop it before the references so nothing else uses the cores.
    drop(server);

    let bare = reference_http(&env, &exe);
    let sled = reference_sled_run(&env, &exe);
    let refs = [bare.clone(), sled.clone()];

    let cores = (env.server_cpus.len(), env.load_threads);
    print_table(&table, cores.0, cores.1);
    print_table(&refs, cores.0, cores.1);
    println!();
    let find = |n: &str| table.iter().find(|s| s.name == n).map(Stats::rate);
    let mut ratios = serde_json::Map::new();
    if let Some(c) = find("create") {
        let r = c / sled.rate().max(1e-9);
        println!(
            "create / sled group commit:  {r:.3}  ({c:.0} vs {:.0} durable inserts/s)",
            sled.rate()
        );
        ratios.insert("create_over_sled".into(), json!(round3(r)));
    }
    if let Some(l) = find("lookup") {
        let r = l / bare.rate().max(1e-9);
        println!(
            "lookup / bare actix handler: {r:.3}  ({l:.0} vs {:.0} GETs/s)",
            bare.rate()
        );
        ratios.insert("lookup_over_bare_http".into(), json!(round3(r)));
    }
    if let Some(b) = &big {
        println!(
            "big group ({} members, {} KB as returned by each PATCH): built in {:.0} ms \
             ({BIG_BATCH} per PATCH); remap to a role {:.0} ms; replace members with [] {:.0} ms \
             (single requests)",
            b.members,
            b.reply_bytes / 1024,
            b.build_ms,
            b.remap_ms,
            b.empty_ms
        );
    }
    for s in setup.iter().chain(&table).chain(&refs) {
        for e in &s.error_samples {
            println!("error sample [{}]: {e}", s.name);
        }
    }

    let with_bound = |s: &Stats| {
        let mut v = s.json();
        v["bound"] = json!(bound(s, cores.0, cores.1));
        v
    };
    let report = json!({
        "config": {
            "tenants": o.tenants, "concurrency": o.concurrency, "population": o.population,
            "duration_secs": o.duration.as_secs(), "server_cores": o.server_cores,
            "server_cpus": env.server_cpus, "load_threads": env.load_threads,
            "quick": o.quick, "scenarios": o.scenarios,
        },
        "scenarios": table.iter().map(with_bound).collect::<Vec<_>>(),
        "setup": setup.iter().map(with_bound).collect::<Vec<_>>(),
        "references": refs.iter().map(with_bound).collect::<Vec<_>>(),
        "ratios": ratios,
        "big_group": big.as_ref().map(|b| json!({
            "members": b.members, "reply_bytes": b.reply_bytes, "build_ms": round3(b.build_ms), "batch": BIG_BATCH,
            "remap_ms": round3(b.remap_ms), "empty_ms": round3(b.empty_ms),
        })),
    });
    if let Some(dir) = o.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).expect("report directory");
    }
    std::fs::write(&o.out, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    println!("report: {}", o.out.display());
    let errors: u64 = table.iter().chain(&refs).map(|s| s.errors).sum();
    if errors > 0 {
        eprintln!("load: {errors} errors");
        std::process::exit(1);
    }
}
