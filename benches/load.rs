//! Load harness: the real scimd binary, driven over loopback HTTP with IdP-shaped traffic,
//! next to two reference limits measured in the same run (a bare actix-web handler and a
//! sled group-commit loop), so the figures can be read as ratios on whatever machine runs it.
//!
//!     cargo bench --bench load                        # 32 connections, 10,000 users, 5 s each
//!     cargo bench --bench load -- --quick             # smoke test of the harness (~20 s)
//!     cargo bench --bench load -- --quick --full      # smoke test of every scenario (~35 s)
//!     cargo bench --bench load -- --full --runs 3     # everything, medians of 3 runs
//!     cargo bench --bench load -- --tenants 4 --duration 10 --scenarios create,lookup
//!
//! Options: `--tenants N` `--concurrency C` `--population P` `--duration SECS` (max 60)
//! `--server-cores K` `--scenarios a,b,..` `--full` `--runs N` (max 9)
//! `--big-population N` `--orgs N` `--out PATH` `--quick`.
//!
//! Default scenarios, on one shared server: create, lookup, patch, member_add,
//! member_add_10k, okta_sync. The member adds run with the full reply (200 and the whole
//! group, the default), and again with `Prefer: return=minimal` (`.minimal`: 204, what every
//! Group PATCH gets from `--group-patch-reply no-content`); the 10,000-member group also
//! with `?excludedAttributes=members` (`.lean`). Opt-in (by name, or all with `--full`), each on fresh servers
//! of its own, with the targets of the performance issue judged at the end:
//! - memory: RSS growth per user held in memory (`--population` users in one org; target
//!   under 2 KiB), and RSS again after the org went idle (`--org-idle-secs 2`, 4 s wait).
//! - restart: `--big-population` users (100,000) in one org, built at full concurrency for
//!   at most 60 s; SIGTERM (exit 0), start on the same store: time from spawn to `/readyz`
//!   200 and to the org's first SCIM answer (target: ready under 2 s).
//! - population_scaling: lookup and create ops/s of one org at 1,000 and at
//!   `--big-population` users (target: within 20 %).
//! - tenants_scaling: aggregate create ops/s into 1 org and spread over `--orgs` (100) orgs
//!   on the same connections (target: within 20 %).
//! - fairness: a light org's lookup p99 (1 connection, 200/s) alone and while a heavy org
//!   floods creates on the other connections (target: at most 2x), and the heavy org's 429s.
//!
//! `--runs N` repeats every selected scenario N times (fresh servers each time) and reports
//! medians: ops/s, p50, p99 and every single figure; errors and 429s are summed.
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
/// Scenarios on the one shared server; the default set.
const DEFAULT_SCENARIOS: &[&str] = &[
    "create",
    "lookup",
    "patch",
    "member_add",
    "member_add_10k",
    "okta_sync",
];
/// Scenarios that start servers of their own (opt-in: by name or with `--full`).
const OWN_SERVER_SCENARIOS: &[&str] = &[
    "memory",
    "restart",
    "population_scaling",
    "tenants_scaling",
    "fairness",
];
/// Time cap of the big builds (`restart`, `population_scaling`): what is built by then is
/// measured, and reported.
const BUILD_CAP: Duration = Duration::from_secs(60);
/// `memory`: the server's `--org-idle-secs`, and how long the scenario waits after the load.
const MEMORY_IDLE_SECS: u64 = 2;
const MEMORY_IDLE_WAIT: Duration = Duration::from_secs(4);
/// `restart`: longest wait for `/readyz` (and for a SIGTERM'd server to exit).
const READY_CAP: Duration = Duration::from_secs(120);
const STOP_CAP: Duration = Duration::from_secs(60);
/// `fairness`: the light org's paced lookups (one connection).
const LIGHT_RATE: u64 = 200;
/// Most repetitions `--runs` accepts.
const MAX_RUNS: usize = 9;
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
    /// Every scenario (`--full`).
    full: bool,
    /// Repetitions of each selected scenario; medians are reported (`--runs`).
    runs: usize,
    /// The big org of `restart` and `population_scaling` (100,000; fewer in `--quick`).
    big_population: u64,
    /// The small size of `population_scaling`, and the light org of `fairness`.
    small_population: u64,
    /// Orgs of `tenants_scaling` (100; fewer in `--quick`).
    many_orgs: u64,
    /// Members of the big group (10,000; fewer in `--quick`).
    big_members: u64,
    /// Users of the big group's org outside the group, added one by one by
    /// `member_add_10k` (the scenario's count bound).
    big_extra: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench load -- [--tenants N] [--concurrency C] [--population P] \
         [--duration SECS] [--server-cores K] [--scenarios {},{}] [--full] [--runs N] \
         [--big-population N] [--orgs N] [--out PATH] [--quick]",
        DEFAULT_SCENARIOS.join(","),
        OWN_SERVER_SCENARIOS.join(",")
    );
    std::process::exit(2)
}

fn known_scenario(s: &str) -> bool {
    DEFAULT_SCENARIOS.contains(&s) || OWN_SERVER_SCENARIOS.contains(&s)
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        tenants: 1,
        concurrency: 32,
        population: 10_000,
        duration: Duration::from_secs(5),
        server_cores: 1,
        scenarios: DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect(),
        out: PathBuf::from("target/load-report.json"),
        quick: false,
        full: false,
        runs: 1,
        big_population: 100_000,
        small_population: 1_000,
        many_orgs: 100,
        big_members: 10_000,
        big_extra: 3_000,
    };
    let (mut population, mut duration, mut big_population, mut many_orgs) =
        (None, None, None, None);
    let mut named = false;
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
                named = true;
                if o.scenarios.iter().any(|s| !known_scenario(s)) {
                    usage()
                }
            }
            "--full" => o.full = true,
            "--runs" => o.runs = (num(val()) as usize).clamp(1, MAX_RUNS),
            "--big-population" => big_population = Some(num(val()).max(2)),
            "--orgs" => many_orgs = Some(num(val()).max(1)),
            "--out" => o.out = PathBuf::from(val()),
            "--quick" => o.quick = true,
            // cargo bench passes `--bench` to every harness = false target.
            "--bench" => {}
            _ => usage(),
        }
    }
    if o.full && !named {
        o.scenarios = DEFAULT_SCENARIOS
            .iter()
            .chain(OWN_SERVER_SCENARIOS)
            .map(|s| s.to_string())
            .collect();
    }
    if o.quick {
        o.population = 500;
        o.duration = Duration::from_secs(1);
        o.big_members = 1_000;
        o.big_extra = 300;
        o.big_population = 2_000;
        o.small_population = 200;
        o.many_orgs = 10;
    }
    if let Some(p) = population {
        o.population = p;
    }
    if let Some(d) = duration {
        o.duration = Duration::from_secs(d);
    }
    if let Some(p) = big_population {
        o.big_population = p;
    }
    if let Some(n) = many_orgs {
        o.many_orgs = n;
    }
    o.small_population = o.small_population.min(o.big_population / 2).max(1);
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
    call_with(c, method, url, token, &[], body).await
}

/// Ask for a PATCH reply without a body (RFC 7240 §4.2).
const PREFER_MINIMAL: &[(&str, &str)] = &[("Prefer", "return=minimal")];

async fn call_with(
    c: &awc::Client,
    method: Method,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<(u16, Bytes), Fail> {
    let mut req = c
        .request(method, url)
        .insert_header(("Authorization", format!("Bearer {token}")));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
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

/// What a lookup's check reads of a `ListResponse`; serde skips the rest.
#[derive(serde::Deserialize)]
struct LookupReply {
    #[serde(rename = "totalResults")]
    total: u64,
    #[serde(rename = "Resources", default)]
    resources: Vec<UserNameOnly>,
}

#[derive(serde::Deserialize)]
struct UserNameOnly {
    #[serde(rename = "userName")]
    user_name: String,
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
        /// Operation i creates user `offset + i` (a population grown in steps).
        offset: u64,
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
        reply: AddReply,
    },
    /// GET / on the bare reference server.
    Bare,
}

/// What a member add asks to get back (RFC 7644 §3.5.2).
#[derive(Clone, Copy, PartialEq)]
enum AddReply {
    /// 200 with the whole group, members included: what Okta and Entra get by default.
    Full,
    /// 200 without the member list (`?excludedAttributes=members`, RFC 7644 §3.9).
    Lean,
    /// 204 (`Prefer: return=minimal`): what every Group PATCH gets from a server run with
    /// `--group-patch-reply no-content` (the same code path; a test holds them equal).
    Minimal,
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
                offset,
                check_absent,
                sink,
            } => {
                let i = offset + i;
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
                let body = want(got, 200, "lookup")?;
                // A fast wrong answer is an error, not a result. The reply is parsed whole
                // (it must be JSON) but into the two fields checked, not a `Value` tree:
                // at 60,000+ lookups/s the client's own parsing was the bound.
                let found: Result<LookupReply, _> = serde_json::from_slice(&body);
                match found {
                    Ok(r)
                        if r.total == 1
                            && r.resources.first().is_some_and(|u| u.user_name == name) =>
                    {
                        Ok(())
                    }
                    _ => Err(Fail::Err(format!(
                        "lookup {name}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ))),
                }
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
                reply,
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
                let query = if *reply == AddReply::Lean {
                    "?excludedAttributes=members"
                } else {
                    ""
                };
                let url = format!("{base}/scim/v2/Groups/{gid}{query}");
                let tok = &tenants[t as usize].token;
                let body = Some(body.to_string().into_bytes());
                if *reply == AddReply::Minimal {
                    let got = call_with(c, Method::PATCH, &url, tok, PREFER_MINIMAL, body).await?;
                    want(got, 204, "member add")?;
                } else {
                    let got = call(c, Method::PATCH, &url, tok, body).await?;
                    want(got, 200, "member add")?;
                }
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
    /// With `--runs N` > 1: the median of the runs' ops/s (ops and secs are then medians
    /// too, and no longer give it exactly).
    median_rate: Option<f64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.median_rate
            .unwrap_or_else(|| self.ops as f64 / self.secs.max(1e-9))
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
    /// Paced connections: each starts an operation at most once per this interval.
    pace: Option<Duration>,
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
            let (plan, counters, base, max_ops, pace) = (
                plan.clone(),
                counters.clone(),
                run.base.to_owned(),
                run.max_ops,
                run.pace,
            );
            std::thread::spawn(move || {
                block_on(async move {
                    let tasks: Vec<_> = (0..tasks)
                        .map(|_| {
                            let (plan, counters, base) =
                                (plan.clone(), counters.clone(), base.clone());
                            actix_rt::spawn(async move {
                                task(&plan, &counters, &base, (max_ops, deadline), pace).await
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
        median_rate: None,
    }
}

/// One connection: take the next operation index until the count or the time runs out.
/// Latencies are of successful operations only; a 429 is retried (same operation) after
/// its Retry-After, capped by the deadline, as an IdP would. With `pace`, an operation
/// starts at most once per interval (no catch-up burst after a slow one); the latency is
/// still from its send.
async fn task(
    plan: &Plan,
    counters: &Counters,
    base: &str,
    (max_ops, deadline): (u64, Instant),
    pace: Option<Duration>,
) -> (Vec<u32>, Vec<String>) {
    let c = client(REQUEST_TIMEOUT);
    let mut lat = Vec::with_capacity(4096);
    let mut samples = Vec::new();
    let mut next_start = Instant::now();
    'ops: while Instant::now() < deadline {
        if let Some(p) = pace {
            let now = Instant::now();
            if next_start > now {
                actix_rt::time::sleep(next_start.min(deadline) - now).await;
                if Instant::now() >= deadline {
                    break;
                }
            }
            // The schedule sets the next start, not the wake-up (timers are coarse); an
            // operation later than one interval resets it, so there is no burst.
            next_start = next_start.max(Instant::now().checked_sub(p).unwrap_or(next_start)) + p;
        }
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
            pace: None,
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
        offset: 0,
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
    // A third of the extra users each with the full reply (what Okta and Entra get by
    // default), with `?excludedAttributes=members`, and with a 204: the differences are
    // the cost of echoing the group.
    let third = o.big_extra / 3;
    let mut parts: Vec<HashMap<u64, String>> = vec![HashMap::new(); 3];
    for (k, id) in extras {
        let part = (k / third.max(1)).min(2);
        parts[part as usize].insert(k - part * third, id);
    }
    let mut members = o.big_members;
    let mut parts = parts.into_iter();
    for (name, reply) in [
        ("member_add_10k", AddReply::Full),
        ("member_add_10k.lean", AddReply::Lean),
        ("member_add_10k.minimal", AddReply::Minimal),
    ] {
        let users = parts.next().expect("three parts");
        let n = users.len() as u64;
        let plan = Arc::new(Plan::AddMember {
            tenants: vec![tenant.clone()],
            users: Arc::new(users),
            groups: Arc::new(HashMap::from([(0, gid.clone())])),
            pairing: Pairing::Spread {
                groups: 1,
                users: n,
            },
            reply,
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
        offset: 0,
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
        reply: AddReply::Full,
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
        median_rate: None,
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
        median_rate: None,
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
        "{:<26} {:>9} {:>11} {:>9} {:>9} {:>7} {:>6} {:>8} {:>8}  bound",
        "scenario", "ops", "ops/s", "p50 ms", "p99 ms", "errors", "429", "srv cpu", "load cpu"
    );
    // CPU in percent of one core: near 100 x cores on one side says which side bounds it.
    let pct = |c: Option<f64>| c.map_or("-".to_owned(), |c| format!("{:.0}%", c * 100.0));
    for s in rows {
        println!(
            "{:<26} {:>9} {:>11.1} {:>9.2} {:>9.2} {:>7} {:>6} {:>8} {:>8}  {}",
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

// ---- servers of the bench --------------------------------------------------------------

/// What every scenario shares: the options and the cores of each side.
struct Ctx {
    opts: Opts,
    server_cpus: Vec<usize>,
    load_threads: usize,
}

impl Ctx {
    fn env(&self, base: String, server_pid: u32) -> Env {
        Env {
            opts: self.opts.clone(),
            base,
            server_cpus: self.server_cpus.clone(),
            load_threads: self.load_threads,
            server_pid,
        }
    }
    fn wants(&self, s: &str) -> bool {
        self.opts.scenarios.iter().any(|x| x == s)
    }
}

/// A running scimd of the bench (killed when dropped).
struct Scimd {
    /// Held for its Drop (the process is killed with the struct).
    _child: ChildGuard,
    base: String,
    pid: u32,
}

impl Scimd {
    fn env(&self, ctx: &Ctx) -> Env {
        ctx.env(self.base.clone(), self.pid)
    }
}

/// Spawn scimd on the server cores with its store in `data`; its stdout is piped (read the
/// listening line with `read_line_with`).
fn spawn_scimd(ctx: &Ctx, data: &Path, listen: &str, extra: &[&str]) -> ChildGuard {
    let k = ctx.opts.server_cores.to_string();
    let args: Vec<String> = [
        "serve",
        "--listen",
        listen,
        "--workers",
        &k,
        "--actor-threads",
        &k,
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    ChildGuard(
        pinned_command(
            &ctx.server_cpus,
            Path::new(env!("CARGO_BIN_EXE_scimd")),
            &args,
        )
        .env("SCIMD_DATA_DIR", data)
        .env("SCIMD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCIMD_LOG", OsString::from("warn"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scimd"),
    )
}

/// A fresh scimd on a free port, once it printed its address.
fn start_scimd(ctx: &Ctx, data: &Path, extra: &[&str]) -> Scimd {
    let mut child = spawn_scimd(ctx, data, "127.0.0.1:0", extra);
    let base = read_line_with(&mut child.0, "scimd: listening on ");
    let pid = child.0.id();
    Scimd {
        _child: child,
        base,
        pid,
    }
}

/// SIGTERM, then wait (up to `STOP_CAP`) for the exit: its code (None: killed or signalled)
/// and how long it took, in ms.
fn stop_scimd(child: &mut ChildGuard) -> (Option<i32>, f64) {
    let t0 = Instant::now();
    // SAFETY: kill(2) on the pid of our own child (taskset execs scimd, same pid).
    unsafe {
        libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM);
    }
    loop {
        match child.0.try_wait() {
            Ok(Some(st)) => return (st.code(), t0.elapsed().as_secs_f64() * 1000.0),
            Ok(None) if t0.elapsed() < STOP_CAP => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                return (None, t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Status of a plain blocking `GET path` (None: no connection or no answer).
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    std::str::from_utf8(&head)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// VmRSS and VmHWM (peak) of a process, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn kib(b: f64) -> String {
    format!("{:.0} KiB", b / 1024.0)
}

/// "1k", "100k", or the number itself.
fn size_label(n: u64) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// One filter lookup of `name` that must find exactly it; its latency in ms.
async fn lookup_once(c: &awc::Client, base: &str, token: &str, name: &str) -> Result<f64, String> {
    let filter = url_encode(&format!("userName eq \"{name}\""));
    let url = format!("{base}/scim/v2/Users?filter={filter}");
    let t0 = Instant::now();
    let got = call(c, Method::GET, &url, token, None).await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    match got
        .and_then(|g| want(g, 200, "lookup"))
        .and_then(|b| parse(&b, "lookup"))
    {
        Ok(v) if v["totalResults"] == 1 => Ok(ms),
        Ok(v) => Err(format!("lookup {name}: totalResults {}", v["totalResults"])),
        Err(Fail::Err(e)) => Err(e),
        Err(Fail::Throttled(_)) => Err(format!("lookup {name}: 429")),
    }
}

fn create_plan(tenants: Vec<Tenant>, prefix: &'static str, offset: u64) -> Arc<Plan> {
    Arc::new(Plan::CreateUsers {
        tenants,
        prefix,
        offset,
        check_absent: false,
        sink: None,
    })
}

// ---- scenarios with servers of their own -----------------------------------------------

/// Everything one run measured: rows of the table, set-up phases, single figures.
#[derive(Default)]
struct Outcome {
    table: Vec<Stats>,
    setup: Vec<Stats>,
    /// Single figures by name ("memory.bytes_per_user"), in the order measured.
    metrics: Vec<(String, f64)>,
    /// Failures outside the load loops (an exit code, a single request).
    errors: Vec<String>,
}

impl Outcome {
    fn put(&mut self, key: &str, v: f64) {
        self.metrics.push((key.to_owned(), v));
    }
    fn get(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// `memory`: RSS per user held in memory, and RSS after the org went idle.
fn memory(ctx: &Ctx, out: &mut Outcome) {
    let n = ctx.opts.population;
    eprintln!(
        "load: memory: fresh scimd (--org-idle-secs {MEMORY_IDLE_SECS}), then {n} users in one org"
    );
    let data = tempfile::tempdir().expect("tempdir");
    let idle = MEMORY_IDLE_SECS.to_string();
    let s = start_scimd(ctx, &data.path().join("db"), &["--org-idle-secs", &idle]);
    let env = s.env(ctx);
    let t = tenants(&env, "mem", 1, &[]).remove(0);
    let (before, _) = rss(s.pid);
    // In two halves: the second half's growth is the marginal cost of a user, without the
    // fixed costs (connections, buffers) the first requests pay.
    let half = n / 2;
    let plan = |from| create_plan(vec![t.clone()], "pop", from);
    out.setup
        .push(env.setup("memory.users_first_half", half, &plan(0)));
    let (mid, _) = rss(s.pid);
    out.setup
        .push(env.setup("memory.users_second_half", n - half, &plan(half)));
    let (after, peak) = rss(s.pid);
    let per_user = (after as f64 - before as f64) / n as f64;
    let marginal = (after as f64 - mid as f64) / (n - half).max(1) as f64;
    eprintln!(
        "load: memory: rss {} with the org, {} with {n} users: {per_user:.0} bytes/user",
        kib(before as f64),
        kib(after as f64)
    );
    let t0 = Instant::now();
    while t0.elapsed() < MEMORY_IDLE_WAIT {
        std::thread::sleep(Duration::from_secs(1));
        eprintln!(
            "load: memory: idle {:.0} s, rss {}",
            t0.elapsed().as_secs_f64(),
            kib(rss(s.pid).0 as f64)
        );
    }
    let (idle_rss, _) = rss(s.pid);
    // The first lookup after the wait loads the org from the store again (if it was
    // unloaded); the second is served from memory.
    let name = user_name("pop", n / 2, 1);
    let (first, warm) = block_on(async {
        let c = client(SINGLE_SHOT_TIMEOUT);
        let first = lookup_once(&c, &env.base, &t.token, &name).await;
        let warm = lookup_once(&c, &env.base, &t.token, &name).await;
        (first, warm)
    });
    out.put("memory.users", n as f64);
    out.put("memory.rss_org_bytes", before as f64);
    out.put("memory.rss_users_bytes", after as f64);
    out.put("memory.bytes_per_user", per_user);
    out.put("memory.rss_half_bytes", mid as f64);
    out.put("memory.bytes_per_user_second_half", marginal);
    out.put("memory.rss_peak_bytes", peak as f64);
    out.put("memory.idle_wait_secs", MEMORY_IDLE_WAIT.as_secs_f64());
    out.put("memory.rss_after_idle_bytes", idle_rss as f64);
    for (k, r) in [
        ("memory.first_lookup_after_idle_ms", first),
        ("memory.next_lookup_ms", warm),
    ] {
        match r {
            Ok(ms) => out.put(k, ms),
            Err(e) => out.errors.push(format!("memory: {e}")),
        }
    }
}

/// `restart`: build a big org, SIGTERM, start again on the same store; time to /readyz
/// and to the first SCIM answer of that org.
fn restart(ctx: &Ctx, out: &mut Outcome) {
    let n = ctx.opts.big_population;
    let data = tempfile::tempdir().expect("tempdir");
    let db = data.path().join("db");
    let listen = format!("127.0.0.1:{}", free_port());
    eprintln!("load: restart: building {n} users in one org (cap {BUILD_CAP:?})");
    let mut child = spawn_scimd(ctx, &db, &listen, &[]);
    let base = read_line_with(&mut child.0, "scimd: listening on ");
    let env = ctx.env(base.clone(), child.0.id());
    let t = tenants(&env, "restart", 1, &[]).remove(0);
    let plan = create_plan(vec![t.clone()], "pop", 0);
    let build = drive(
        &Run {
            duration: BUILD_CAP,
            ..env.run("restart.build", n)
        },
        &plan,
    );
    eprintln!(
        "load: restart: built {} of {n} in {:.1} s ({:.0}/s)",
        build.ops,
        build.secs,
        build.rate()
    );
    let name = user_name("pop", 0, 1);
    let before = block_on(async {
        let c = client(SINGLE_SHOT_TIMEOUT);
        lookup_once(&c, &base, &t.token, &name).await
    });
    let (code, stop_ms) = stop_scimd(&mut child);
    if code != Some(0) {
        out.errors
            .push(format!("restart: SIGTERM exit status {code:?} (want 0)"));
    }
    let store = dir_bytes(&db);
    eprintln!(
        "load: restart: stopped (exit {code:?}) in {stop_ms:.0} ms; store {:.1} MB; starting again",
        store as f64 / 1e6
    );
    drop(child);
    let t0 = Instant::now();
    let mut child = spawn_scimd(ctx, &db, &listen, &[]);
    let ready = loop {
        if http_status(&listen, "/readyz") == Some(200) {
            break Some(t0.elapsed());
        }
        if t0.elapsed() > READY_CAP || matches!(child.0.try_wait(), Ok(Some(_))) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let Some(ready) = ready else {
        out.errors
            .push("restart: the restarted server never answered /readyz 200".into());
        return;
    };
    let (first, warm) = block_on(async {
        let c = client(SINGLE_SHOT_TIMEOUT);
        let first = lookup_once(&c, &base, &t.token, &name).await;
        let since_spawn = t0.elapsed().as_secs_f64() * 1000.0;
        let warm = lookup_once(&c, &base, &t.token, &name).await;
        (first.map(|ms| (ms, since_spawn)), warm)
    });
    let _ = read_line_with(&mut child.0, "scimd: listening on ");
    let (code2, _) = stop_scimd(&mut child);
    if code2 != Some(0) {
        out.errors
            .push(format!("restart: second SIGTERM exit status {code2:?}"));
    }
    out.put("restart.target_users", n as f64);
    out.put("restart.built_users", build.ops as f64);
    out.put("restart.build_secs", build.secs);
    out.put("restart.build_ops_per_s", build.rate());
    out.put("restart.store_bytes", store as f64);
    out.put("restart.stop_ms", stop_ms);
    out.put("restart.stop_exit_code", code.map_or(-1.0, f64::from));
    out.put("restart.ready_ms", ready.as_secs_f64() * 1000.0);
    match before {
        Ok(ms) => out.put("restart.lookup_before_stop_ms", ms),
        Err(e) => out.errors.push(format!("restart: before stop: {e}")),
    }
    match first {
        Ok((ms, since)) => {
            out.put("restart.first_scim_ms", since);
            out.put("restart.first_scim_request_ms", ms);
        }
        Err(e) => out.errors.push(format!("restart: first SCIM request: {e}")),
    }
    match warm {
        Ok(ms) => out.put("restart.next_scim_request_ms", ms),
        Err(e) => out
            .errors
            .push(format!("restart: second SCIM request: {e}")),
    }
    out.setup.push(build);
}

/// `population_scaling`: lookup and create throughput of one org at the small size, then
/// again after it grew to the big one. Every user of the org is `pop{j}`, j contiguous, so
/// the lookups (first, while the org holds exactly that many) draw from all of them; the
/// create window that follows grows the org further, and both ends are reported.
fn population_scaling(ctx: &Ctx, out: &mut Outcome) {
    let o = &ctx.opts;
    let data = tempfile::tempdir().expect("tempdir");
    let s = start_scimd(ctx, &data.path().join("db"), &[]);
    let env = s.env(ctx);
    let t = vec![tenants(&env, "scale", 1, &[]).remove(0)];
    out.setup.push(env.setup(
        "population_scaling.grow",
        o.small_population,
        &create_plan(t.clone(), "pop", 0),
    ));
    let mut org_users = o.small_population;
    // (lookup ops/s, create ops/s, org users at the window's start, at its end)
    let mut window = |org_users: &mut u64| {
        let start = *org_users;
        let label = size_label(start);
        eprintln!("load: population_scaling: org holds {start} users");
        let plan = Arc::new(Plan::Lookup {
            tenants: t.clone(),
            population: start,
        });
        let lookup = drive(&env.run(&format!("scale.lookup@{label}"), u64::MAX), &plan);
        let create = drive(
            &env.run(&format!("scale.create@{label}"), u64::MAX),
            &create_plan(t.clone(), "pop", start),
        );
        *org_users += create.ops;
        let r = (
            lookup.rate(),
            create.rate(),
            start as f64,
            *org_users as f64,
        );
        out.table.extend([lookup, create]);
        r
    };
    let small = window(&mut org_users);
    let more = o.big_population.saturating_sub(org_users);
    eprintln!(
        "load: population_scaling: growing the org by {more} to {} users (cap {BUILD_CAP:?})",
        org_users + more
    );
    let grow = drive(
        &Run {
            duration: BUILD_CAP,
            ..env.run("population_scaling.grow", more)
        },
        &create_plan(t.clone(), "pop", org_users),
    );
    org_users += grow.ops;
    out.setup.push(grow);
    let big = window(&mut org_users);
    for (k, v) in [
        ("population_scaling.small_org_users", small.2),
        ("population_scaling.small_org_users_after_creates", small.3),
        ("population_scaling.big_org_users", big.2),
        ("population_scaling.big_org_users_after_creates", big.3),
        ("population_scaling.lookup_small_ops_per_s", small.0),
        ("population_scaling.lookup_big_ops_per_s", big.0),
        ("population_scaling.lookup_ratio", big.0 / small.0.max(1e-9)),
        ("population_scaling.create_small_ops_per_s", small.1),
        ("population_scaling.create_big_ops_per_s", big.1),
        ("population_scaling.create_ratio", big.1 / small.1.max(1e-9)),
    ] {
        out.put(k, v);
    }
}

/// `tenants_scaling`: aggregate create throughput into one org, then spread over many.
fn tenants_scaling(ctx: &Ctx, out: &mut Outcome) {
    let n = ctx.opts.many_orgs;
    let data = tempfile::tempdir().expect("tempdir");
    let s = start_scimd(ctx, &data.path().join("db"), &[]);
    let env = s.env(ctx);
    let one = tenants(&env, "solo", 1, &[]);
    let t0 = Instant::now();
    let many = tenants(&env, "many", n, &[]);
    eprintln!(
        "load: tenants_scaling: {n} orgs created in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let a = drive(
        &env.run("tenants.create@1org", u64::MAX),
        &create_plan(one, "ts1", 0),
    );
    let b = drive(
        &env.run(&format!("tenants.create@{n}orgs"), u64::MAX),
        &create_plan(many, "tsn", 0),
    );
    out.put("tenants_scaling.orgs", n as f64);
    out.put("tenants_scaling.one_org_ops_per_s", a.rate());
    out.put("tenants_scaling.many_orgs_ops_per_s", b.rate());
    out.put("tenants_scaling.ratio", b.rate() / a.rate().max(1e-9));
    out.table.extend([a, b]);
}

/// `fairness`: a light org's paced lookups, idle and while a heavy org floods creates.
fn fairness(ctx: &Ctx, out: &mut Outcome) {
    let o = &ctx.opts;
    let data = tempfile::tempdir().expect("tempdir");
    let s = start_scimd(ctx, &data.path().join("db"), &[]);
    let env = s.env(ctx);
    let light = vec![tenants(&env, "light", 1, &[]).remove(0)];
    let heavy = vec![tenants(&env, "heavy", 1, &[]).remove(0)];
    out.setup.push(env.setup(
        "fairness.light_users",
        o.small_population,
        &create_plan(light.clone(), "pop", 0),
    ));
    let lookups = Arc::new(Plan::Lookup {
        tenants: light,
        population: o.small_population,
    });
    let light_run = |name| Run {
        concurrency: 1,
        threads: 1,
        pace: Some(Duration::from_secs(1) / LIGHT_RATE as u32),
        ..env.run(name, u64::MAX)
    };
    eprintln!("load: fairness: light org alone ({LIGHT_RATE} lookups/s, 1 connection)");
    let idle = drive(&light_run("fairness.light_idle"), &lookups);
    let flood = create_plan(heavy, "flood", 0);
    let heavy_conns = o.concurrency.saturating_sub(1).max(1);
    eprintln!(
        "load: fairness: again while the heavy org floods creates on {heavy_conns} connections"
    );
    let lead = Duration::from_millis(500);
    let (loaded, flooded) = std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            drive(
                &Run {
                    concurrency: heavy_conns,
                    duration: o.duration + 2 * lead,
                    ..env.run("fairness.heavy_create", u64::MAX)
                },
                &flood,
            )
        });
        std::thread::sleep(lead);
        let l = drive(&light_run("fairness.light_loaded"), &lookups);
        (l, h.join().expect("heavy load"))
    });
    out.put("fairness.light_rate_per_s", LIGHT_RATE as f64);
    out.put("fairness.idle_p99_ms", idle.p99_ms);
    out.put("fairness.loaded_p99_ms", loaded.p99_ms);
    out.put("fairness.p99_ratio", loaded.p99_ms / idle.p99_ms.max(1e-9));
    out.put("fairness.idle_p50_ms", idle.p50_ms);
    out.put("fairness.loaded_p50_ms", loaded.p50_ms);
    out.put("fairness.heavy_ops_per_s", flooded.rate());
    out.put("fairness.heavy_429", flooded.throttled as f64);
    out.table.extend([idle, loaded, flooded]);
}

/// A scenario that starts its own servers.
type Scenario = fn(&Ctx, &mut Outcome);

/// The six scenarios of the shared server (the default set).
fn shared_server(ctx: &Ctx, out: &mut Outcome) {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start_scimd(ctx, &data.path().join("db"), &[]);
    let env = server.env(ctx);
    let o = env.opts.clone();
    eprintln!(
        "load: scimd at {} (user body {} bytes)",
        env.base,
        user_body(&user_name("pop", 12345, 1), 12345).len()
    );
    let table = &mut out.table;
    let setup = &mut out.setup;
    let mut big = None;
    let load_tenants = tenants(&env, "load", o.tenants, &team_mappings("team-", "viewer"));

    if env.wants("create") {
        let plan = Arc::new(Plan::CreateUsers {
            tenants: load_tenants.clone(),
            prefix: "new",
            offset: 0,
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
            offset: 0,
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
            // Groups growing from empty, once with the full reply (the default) and once,
            // into new groups, with a 204: the difference is the cost of the echo.
            for (name, prefix, reply) in [
                ("member_add", "team-", AddReply::Full),
                ("member_add.minimal", "squad-", AddReply::Minimal),
            ] {
                let plan = Arc::new(Plan::CreateGroups {
                    tenants: load_tenants.clone(),
                    prefix,
                    sink: Sink::default(),
                });
                setup.push(env.setup("groups", GROUPS_PER_TENANT * o.tenants, &plan));
                let groups = sink_of(plan);
                let plan = Arc::new(Plan::AddMember {
                    tenants: load_tenants.clone(),
                    users: pop.clone(),
                    groups,
                    pairing: Pairing::Spread {
                        groups: GROUPS_PER_TENANT,
                        users: o.population,
                    },
                    reply,
                });
                table.push(drive(
                    &env.run(name, GROUPS_PER_TENANT * o.population),
                    &plan,
                ));
            }
        }
    }
    if env.wants("member_add_10k") {
        big = Some(big_group(&env, table));
    }
    if env.wants("okta_sync") {
        okta_sync(&env, table);
    }
    // The server is done: stop it before anything else uses the cores.
    drop(server);
    if let Some(b) = big {
        out.put("big_group.members", b.members as f64);
        out.put("big_group.reply_bytes", b.reply_bytes as f64);
        out.put("big_group.build_ms", b.build_ms);
        out.put("big_group.remap_ms", b.remap_ms);
        out.put("big_group.empty_ms", b.empty_ms);
    }
}

// ---- runs, medians, report -------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Rows of the same name across runs, in the order they first appear.
fn by_name<'a>(lists: impl Iterator<Item = &'a [Stats]>) -> Vec<Vec<&'a Stats>> {
    let mut groups: Vec<Vec<&Stats>> = Vec::new();
    for s in lists.flatten() {
        match groups.iter_mut().find(|g| g[0].name == s.name) {
            Some(g) => g.push(s),
            None => groups.push(vec![s]),
        }
    }
    groups
}

/// One row from the runs of a scenario: median ops/s, p50, p99 (and ops, secs, CPU);
/// errors and 429s summed.
fn median_stats(rows: &[&Stats]) -> Stats {
    if let [one] = rows {
        return (*one).clone();
    }
    let med = |f: fn(&Stats) -> f64| median(rows.iter().map(|s| f(s)).collect());
    let med_opt = |f: fn(&Stats) -> Option<f64>| {
        let v: Vec<f64> = rows.iter().filter_map(|s| f(s)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    Stats {
        name: rows[0].name.clone(),
        ops: med(|s| s.ops as f64).round() as u64,
        secs: med(|s| s.secs),
        errors: rows.iter().map(|s| s.errors).sum(),
        throttled: rows.iter().map(|s| s.throttled).sum(),
        p50_ms: med(|s| s.p50_ms),
        p99_ms: med(|s| s.p99_ms),
        server_cpu: med_opt(|s| s.server_cpu),
        load_cpu: med_opt(|s| s.load_cpu),
        error_samples: rows
            .iter()
            .flat_map(|s| s.error_samples.clone())
            .take(5)
            .collect(),
        median_rate: Some(med(Stats::rate)),
    }
}

/// The medians of the runs (the one run itself when there is one).
fn aggregate(runs: &[Outcome]) -> Outcome {
    let rows = |f: fn(&Outcome) -> &[Stats]| {
        by_name(runs.iter().map(f))
            .iter()
            .map(|g| median_stats(g))
            .collect()
    };
    let mut metrics: Vec<(String, Vec<f64>)> = Vec::new();
    for (k, v) in runs.iter().flat_map(|r| &r.metrics) {
        match metrics.iter_mut().find(|(m, _)| m == k) {
            Some((_, vs)) => vs.push(*v),
            None => metrics.push((k.clone(), vec![*v])),
        }
    }
    let mut out = Outcome {
        table: rows(|r| &r.table),
        setup: rows(|r| &r.setup),
        metrics: metrics.into_iter().map(|(k, v)| (k, median(v))).collect(),
        errors: runs.iter().flat_map(|r| r.errors.clone()).collect(),
    };
    // A ratio is of the medians (so the printed line adds up), not the median of the ratios.
    for (ratio, num, den) in RATIOS {
        if let (Some(n), Some(d)) = (out.get(num), out.get(den)) {
            for (k, v) in out.metrics.iter_mut() {
                if k == ratio {
                    *v = n / d.max(1e-9);
                }
            }
        }
    }
    out
}

/// Ratios among the single figures: (ratio, numerator, denominator).
const RATIOS: &[(&str, &str, &str)] = &[
    (
        "population_scaling.lookup_ratio",
        "population_scaling.lookup_big_ops_per_s",
        "population_scaling.lookup_small_ops_per_s",
    ),
    (
        "population_scaling.create_ratio",
        "population_scaling.create_big_ops_per_s",
        "population_scaling.create_small_ops_per_s",
    ),
    (
        "tenants_scaling.ratio",
        "tenants_scaling.many_orgs_ops_per_s",
        "tenants_scaling.one_org_ops_per_s",
    ),
    (
        "fairness.p99_ratio",
        "fairness.loaded_p99_ms",
        "fairness.idle_p99_ms",
    ),
];

/// A target of the performance issue, judged on the (median) figure.
struct Target {
    what: &'static str,
    key: &'static str,
    /// true: the figure must be at most `limit`; false: at least.
    at_most: bool,
    limit: f64,
}

const TARGETS: &[Target] = &[
    Target {
        what: "memory: bytes per user held in memory",
        key: "memory.bytes_per_user",
        at_most: true,
        limit: 2048.0,
    },
    Target {
        what: "restart: ms from spawn to /readyz 200",
        key: "restart.ready_ms",
        at_most: true,
        limit: 2000.0,
    },
    Target {
        what: "restart: ms from spawn to the big org's first SCIM answer",
        key: "restart.first_scim_ms",
        at_most: true,
        limit: 2000.0,
    },
    Target {
        what: "population_scaling: create ops/s, big / small org",
        key: "population_scaling.create_ratio",
        at_most: false,
        limit: 0.8,
    },
    Target {
        what: "population_scaling: lookup ops/s, big / small org",
        key: "population_scaling.lookup_ratio",
        at_most: false,
        limit: 0.8,
    },
    Target {
        what: "tenants_scaling: aggregate create ops/s, many orgs / one org",
        key: "tenants_scaling.ratio",
        at_most: false,
        limit: 0.8,
    },
    Target {
        what: "fairness: light org p99, loaded / idle",
        key: "fairness.p99_ratio",
        at_most: true,
        limit: 2.0,
    },
];

/// The single figures of the own-server scenarios, as lines.
fn print_findings(m: &Outcome, o: &Opts) {
    let g = |k: &str| m.get(k).unwrap_or(f64::NAN);
    let has = |k: &str| m.get(k).is_some();
    if has("memory.bytes_per_user") {
        println!(
            "memory: {:.0} users in one org: RSS {} after the org, {} after the users: \
             {:.0} bytes/user ({:.0} for the second half alone; peak {}); {} after {:.0} s idle (--org-idle-secs {MEMORY_IDLE_SECS}); \
             first lookup after the wait {:.2} ms, next {:.2} ms",
            g("memory.users"),
            kib(g("memory.rss_org_bytes")),
            kib(g("memory.rss_users_bytes")),
            g("memory.bytes_per_user"),
            g("memory.bytes_per_user_second_half"),
            kib(g("memory.rss_peak_bytes")),
            kib(g("memory.rss_after_idle_bytes")),
            g("memory.idle_wait_secs"),
            g("memory.first_lookup_after_idle_ms"),
            g("memory.next_lookup_ms"),
        );
    }
    if has("restart.built_users") {
        println!(
            "restart: built {:.0} of {:.0} users in one org in {:.1} s ({:.0}/s, cap {} s), \
             store {:.1} MB; SIGTERM exit code {:.0} after {:.0} ms; restarted: /readyz 200 \
             {:.1} ms after spawn, first SCIM answer (the org's load) {:.1} ms after spawn \
             (request {:.1} ms, next {:.2} ms; {:.2} ms before the stop)",
            g("restart.built_users"),
            g("restart.target_users"),
            g("restart.build_secs"),
            g("restart.build_ops_per_s"),
            BUILD_CAP.as_secs(),
            g("restart.store_bytes") / 1e6,
            g("restart.stop_exit_code"),
            g("restart.stop_ms"),
            g("restart.ready_ms"),
            g("restart.first_scim_ms"),
            g("restart.first_scim_request_ms"),
            g("restart.next_scim_request_ms"),
            g("restart.lookup_before_stop_ms"),
        );
    }
    if has("population_scaling.create_ratio") {
        println!(
            "population_scaling: one org at {:.0} vs {:.0} users: lookup {:.0} vs {:.0}/s = \
             {:.3}; create {:.0} vs {:.0}/s = {:.3} (the create windows grew the org to {:.0} \
             and {:.0})",
            g("population_scaling.small_org_users"),
            g("population_scaling.big_org_users"),
            g("population_scaling.lookup_small_ops_per_s"),
            g("population_scaling.lookup_big_ops_per_s"),
            g("population_scaling.lookup_ratio"),
            g("population_scaling.create_small_ops_per_s"),
            g("population_scaling.create_big_ops_per_s"),
            g("population_scaling.create_ratio"),
            g("population_scaling.small_org_users_after_creates"),
            g("population_scaling.big_org_users_after_creates"),
        );
    }
    if has("tenants_scaling.ratio") {
        println!(
            "tenants_scaling: {} connections, create into 1 org {:.0}/s vs spread over {:.0} \
             orgs {:.0}/s = {:.3}",
            o.concurrency,
            g("tenants_scaling.one_org_ops_per_s"),
            g("tenants_scaling.orgs"),
            g("tenants_scaling.many_orgs_ops_per_s"),
            g("tenants_scaling.ratio"),
        );
    }
    if has("fairness.p99_ratio") {
        println!(
            "fairness: light org lookups at {:.0}/s on 1 connection: p99 {:.2} ms idle, {:.2} ms \
             while the heavy org creates {:.0}/s on {} connections = {:.2}x (p50 {:.2} vs {:.2} \
             ms); heavy org got {:.0} 429s",
            g("fairness.light_rate_per_s"),
            g("fairness.idle_p99_ms"),
            g("fairness.loaded_p99_ms"),
            g("fairness.heavy_ops_per_s"),
            o.concurrency.saturating_sub(1).max(1),
            g("fairness.p99_ratio"),
            g("fairness.idle_p50_ms"),
            g("fairness.loaded_p50_ms"),
            g("fairness.heavy_429"),
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
         population {}, {} s per scenario, {} run(s) of: {}",
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
        opts.duration.as_secs(),
        opts.runs,
        opts.scenarios.join(",")
    );
    let ctx = Ctx {
        opts,
        server_cpus,
        load_threads: load_cpus.len(),
    };
    let o = ctx.opts.clone();

    let mut runs = Vec::new();
    for r in 0..o.runs {
        if o.runs > 1 {
            eprintln!("load: ---- run {} of {} ----", r + 1, o.runs);
        }
        let mut out = Outcome::default();
        if DEFAULT_SCENARIOS.iter().any(|s| ctx.wants(s)) {
            shared_server(&ctx, &mut out);
        }
        let own: [(&str, Scenario); 5] = [
            ("memory", memory),
            ("restart", restart),
            ("population_scaling", population_scaling),
            ("tenants_scaling", tenants_scaling),
            ("fairness", fairness),
        ];
        for (name, f) in own {
            if ctx.wants(name) {
                f(&ctx, &mut out);
            }
        }
        runs.push(out);
    }
    let med = aggregate(&runs);

    // The references once, with no server running (context for the shared-server rows).
    let refs = if DEFAULT_SCENARIOS.iter().any(|s| ctx.wants(s)) {
        let env = ctx.env(String::new(), 0);
        vec![reference_http(&env, &exe), reference_sled_run(&env, &exe)]
    } else {
        vec![]
    };

    let cores = (ctx.server_cpus.len(), ctx.load_threads);
    if o.runs > 1 {
        println!();
        println!(
            "medians of {} runs (ops/s, p50, p99, ops, secs, cpu and every single figure; \
             ratios are of the medians); errors and 429 summed",
            o.runs
        );
    }
    print_table(&med.table, cores.0, cores.1);
    if !refs.is_empty() {
        print_table(&refs, cores.0, cores.1);
    }
    println!();
    let find = |n: &str| med.table.iter().find(|s| s.name == n).map(Stats::rate);
    let ref_rate = |n: &str| refs.iter().find(|s| s.name == n).map(Stats::rate);
    let mut ratios = serde_json::Map::new();
    if let (Some(c), Some(sled)) = (find("create"), ref_rate("ref_sled_commit")) {
        let r = c / sled.max(1e-9);
        println!("create / sled group commit:  {r:.3}  ({c:.0} vs {sled:.0} durable inserts/s)");
        ratios.insert("create_over_sled".into(), json!(round3(r)));
    }
    if let (Some(l), Some(bare)) = (find("lookup"), ref_rate("ref_bare_http")) {
        let r = l / bare.max(1e-9);
        println!("lookup / bare actix handler: {r:.3}  ({l:.0} vs {bare:.0} GETs/s)");
        ratios.insert("lookup_over_bare_http".into(), json!(round3(r)));
    }
    if let Some(members) = med.get("big_group.members") {
        let g = |k: &str| med.get(k).unwrap_or(f64::NAN);
        println!(
            "big group ({members:.0} members, {:.0} KB as returned by each PATCH): built in {:.0} ms \
             ({BIG_BATCH} per PATCH); remap to a role {:.0} ms; replace members with [] {:.0} ms \
             (single requests)",
            g("big_group.reply_bytes") / 1024.0,
            g("big_group.build_ms"),
            g("big_group.remap_ms"),
            g("big_group.empty_ms")
        );
    }
    print_findings(&med, &o);
    let mut targets = Vec::new();
    let judged: Vec<_> = TARGETS
        .iter()
        .filter_map(|t| med.get(t.key).map(|v| (t, v)))
        .collect();
    if !judged.is_empty() {
        println!();
    }
    for (t, v) in judged {
        let met = if t.at_most {
            v <= t.limit
        } else {
            v >= t.limit
        };
        let op = if t.at_most { "<=" } else { ">=" };
        println!(
            "target {:<60} {v:>10.3}  (want {op} {})  {}",
            t.what,
            t.limit,
            if met { "MET" } else { "NOT MET" }
        );
        targets.push(
            json!({"target": t.what, "metric": t.key, "value": round3(v),
                            "limit": t.limit, "at_most": t.at_most, "met": met}),
        );
    }
    for s in med.setup.iter().chain(&med.table).chain(&refs) {
        for e in &s.error_samples {
            println!("error sample [{}]: {e}", s.name);
        }
    }
    for e in &med.errors {
        println!("error: {e}");
    }

    let with_bound = |s: &Stats| {
        let mut v = s.json();
        v["bound"] = json!(bound(s, cores.0, cores.1));
        v
    };
    let metrics_json = |m: &[(String, f64)]| {
        m.iter()
            .map(|(k, v)| (k.clone(), json!(round3(*v))))
            .collect::<serde_json::Map<_, _>>()
    };
    let g = |k: &str| med.get(k).map(round3);
    let mut report = json!({
        "config": {
            "tenants": o.tenants, "concurrency": o.concurrency, "population": o.population,
            "duration_secs": o.duration.as_secs(), "server_cores": o.server_cores,
            "server_cpus": ctx.server_cpus, "load_threads": ctx.load_threads,
            "quick": o.quick, "full": o.full, "runs": o.runs, "scenarios": o.scenarios,
            "big_population": o.big_population, "small_population": o.small_population,
            "many_orgs": o.many_orgs,
        },
        "scenarios": med.table.iter().map(with_bound).collect::<Vec<_>>(),
        "setup": med.setup.iter().map(with_bound).collect::<Vec<_>>(),
        "references": refs.iter().map(with_bound).collect::<Vec<_>>(),
        "ratios": ratios,
        "big_group": g("big_group.members").map(|m| json!({
            "members": m, "reply_bytes": g("big_group.reply_bytes"),
            "build_ms": g("big_group.build_ms"), "batch": BIG_BATCH,
            "remap_ms": g("big_group.remap_ms"), "empty_ms": g("big_group.empty_ms"),
        })),
        "metrics": metrics_json(&med.metrics),
        "targets": targets,
        "errors": med.errors,
    });
    if o.runs > 1 {
        report["runs"] = runs
            .iter()
            .map(|r| {
                json!({
                    "scenarios": r.table.iter().map(with_bound).collect::<Vec<_>>(),
                    "setup": r.setup.iter().map(with_bound).collect::<Vec<_>>(),
                    "metrics": metrics_json(&r.metrics),
                })
            })
            .collect();
    }
    if let Some(dir) = o.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).expect("report directory");
    }
    std::fs::write(&o.out, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    println!("report: {}", o.out.display());
    let errors: u64 =
        med.table.iter().chain(&refs).map(|s| s.errors).sum::<u64>() + med.errors.len() as u64;
    if errors > 0 {
        eprintln!("load: {errors} errors");
        std::process::exit(1);
    }
}
