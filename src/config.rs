//! Configuration: parsed once at start-up from flags and `SCIMD_*` variables into a
//! validated [`Config`]. Nothing else in the crate reads the environment.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "scimd",
    version,
    about = "Multi-tenant SCIM 2.0 provisioning service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (embedded sled store; no other service needed).
    Serve(ServeArgs),
}

/// Every setting is a flag and a `SCIMD_*` environment variable; flags win.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCIMD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded store (created on first start).
    #[arg(long, env = "SCIMD_DATA_DIR", default_value = "data/db")]
    pub data_dir: PathBuf,
    /// Token for the admin API (`/admin/v1`). When unset, the first start generates one,
    /// stores only its hash and prints it once.
    #[arg(long, env = "SCIMD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Public base URL of this service, used in `base_url`, `meta.location` and `$ref`
    /// (default: http://LISTEN).
    #[arg(long, env = "SCIMD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SCIMD_WORKERS")]
    pub workers: Option<usize>,
    /// Threads that run organization actors (default: one per core).
    #[arg(long, env = "SCIMD_ACTOR_THREADS")]
    pub actor_threads: Option<usize>,
    /// Largest accepted request body in bytes (larger ones get 413).
    #[arg(long, env = "SCIMD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most resources one list or search page returns (`filter.maxResults`).
    #[arg(long, env = "SCIMD_MAX_RESULTS", default_value_t = 1000)]
    pub max_results: usize,
    /// Most operations in one `/Bulk` request (`bulk.maxOperations`).
    #[arg(long, env = "SCIMD_BULK_MAX_OPERATIONS", default_value_t = 1000)]
    pub bulk_max_operations: usize,
    /// Commits one organization may have waiting for the disk before it gets 429.
    #[arg(long, env = "SCIMD_ORG_MAX_PENDING", default_value_t = 1024)]
    pub org_max_pending: usize,
    /// Writes running at once that active organizations share. While several are active,
    /// each runs at most max(4, this / active) at once and its other writes wait their turn,
    /// so one organization's flood cannot stand before the others' requests. A lone active
    /// organization is not limited.
    #[arg(long, env = "SCIMD_WRITE_SLOTS", default_value_t = 24)]
    pub write_slots: usize,
    /// Nice value (0-19) of the write pipeline's threads (organization actors, the
    /// flusher, the store's IO threads), so the HTTP workers, which answer every
    /// organization's reads, run first. 0 leaves them at the process's priority.
    #[arg(long, env = "SCIMD_PIPELINE_NICE", default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub pipeline_nice: i32,
    /// What a successful PATCH of a Group answers (RFC 7644 §3.5.2 allows either):
    /// `resource` is 200 with the whole group, members included; `no-content` is 204 with
    /// the new ETag, which spares a directory with large groups the echo of every member
    /// list on every membership change (a 10,000-member group is about 1.6 MB). A request
    /// that names `attributes` or `excludedAttributes` always gets 200 with what it asked
    /// for, and any PATCH may ask for 204 with `Prefer: return=minimal` (RFC 7240).
    #[arg(long, env = "SCIMD_GROUP_PATCH_REPLY", value_enum, default_value_t = PatchReply::Resource)]
    pub group_patch_reply: PatchReply,
    /// Seconds an organization may stay idle before its actor is unloaded.
    #[arg(long, env = "SCIMD_ORG_IDLE_SECS", default_value_t = 600)]
    pub org_idle_secs: u64,
    /// Memory the store may use to cache pages, in MiB. Organizations are served from
    /// memory; the cache only speeds up loading them and reading the event log.
    #[arg(long, env = "SCIMD_STORE_CACHE_MB", default_value_t = 64)]
    pub store_cache_mb: u64,
    /// Seconds SIGTERM waits for in-flight requests before stopping.
    #[arg(long, env = "SCIMD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `scimd=debug`.
    #[arg(long, env = "SCIMD_LOG", default_value = "info")]
    pub log: String,
}

/// The reply to a successful PATCH (RFC 7644 §3.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatchReply {
    /// 200 with the resource.
    Resource,
    /// 204 with the `ETag`.
    NoContent,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_token: Option<String>,
    /// Without a trailing slash.
    pub public_url: String,
    pub workers: usize,
    pub actor_threads: usize,
    pub max_body_bytes: usize,
    pub max_results: usize,
    pub bulk_max_operations: usize,
    pub org_max_pending: usize,
    pub write_slots: usize,
    pub pipeline_nice: i32,
    pub group_patch_reply: PatchReply,
    pub org_idle: Duration,
    pub shutdown_timeout: Duration,
    pub store_cache_bytes: u64,
    pub log: String,
}

impl Config {
    pub fn from_args(a: ServeArgs) -> Result<Config, String> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let public_url = a
            .public_url
            .unwrap_or_else(|| format!("http://{}", a.listen));
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err("SCIMD_PUBLIC_URL must start with http:// or https://".into());
        }
        if let Some(t) = &a.admin_token {
            if t.len() < 16 {
                return Err("SCIMD_ADMIN_TOKEN must be at least 16 characters".into());
            }
        }
        for (name, v) in [
            ("SCIMD_MAX_BODY_BYTES", a.max_body_bytes),
            ("SCIMD_MAX_RESULTS", a.max_results),
            ("SCIMD_BULK_MAX_OPERATIONS", a.bulk_max_operations),
            ("SCIMD_ORG_MAX_PENDING", a.org_max_pending),
            ("SCIMD_WRITE_SLOTS", a.write_slots),
        ] {
            if v == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        Ok(Config {
            listen: a.listen,
            data_dir: a.data_dir,
            admin_token: a.admin_token,
            public_url,
            workers: a.workers.unwrap_or(cores).max(1),
            actor_threads: a.actor_threads.unwrap_or(cores).max(1),
            max_body_bytes: a.max_body_bytes,
            max_results: a.max_results,
            bulk_max_operations: a.bulk_max_operations,
            org_max_pending: a.org_max_pending,
            write_slots: a.write_slots,
            pipeline_nice: a.pipeline_nice,
            group_patch_reply: a.group_patch_reply,
            org_idle: Duration::from_secs(a.org_idle_secs.max(1)),
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout_secs),
            store_cache_bytes: a.store_cache_mb.max(1) << 20,
            log: a.log,
        })
    }

    /// A configuration for tests: loopback on a free port, the given data directory, a
    /// fixed admin token, one worker.
    pub fn for_test(data_dir: PathBuf) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("loopback"),
            data_dir,
            admin_token: Some("test-admin-token-0123456789".into()),
            public_url: String::new(),
            workers: 1,
            actor_threads: 1,
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            bulk_max_operations: 1000,
            org_max_pending: 1024,
            write_slots: 24,
            pipeline_nice: 0,
            group_patch_reply: PatchReply::Resource,
            org_idle: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(5),
            store_cache_bytes: 16 << 20,
            log: "warn".into(),
        }
    }

    /// The SCIM base URL of every org (DESIGN §1): the token picks the org.
    pub fn scim_base_url(&self) -> String {
        format!("{}/scim/v2", self.public_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let Command::Serve(a) = cli.command;
        Config::from_args(a)
    }

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let c = parse(&["scimd", "serve"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.scim_base_url(), "http://127.0.0.1:8080/scim/v2");
        assert_eq!(c.group_patch_reply, PatchReply::Resource);
        let c = parse(&["scimd", "serve", "--group-patch-reply", "no-content"]).unwrap();
        assert_eq!(c.group_patch_reply, PatchReply::NoContent);
        assert!(parse(&["scimd", "serve", "--group-patch-reply", "none"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["scimd", "serve", "--public-url", "ftp://x"]).is_err());
        assert!(parse(&["scimd", "serve", "--admin-token", "short"]).is_err());
        assert!(parse(&["scimd", "serve", "--max-results", "0"]).is_err());
        assert!(parse(&["scimd", "serve", "--listen", "not-an-address"]).is_err());
    }

    #[test]
    fn public_url_loses_trailing_slash() {
        let c = parse(&[
            "scimd",
            "serve",
            "--public-url",
            "https://scim.example.com/",
        ])
        .unwrap();
        assert_eq!(c.scim_base_url(), "https://scim.example.com/scim/v2");
    }
}
