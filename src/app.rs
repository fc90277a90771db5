//! Wiring: open the store, start the actors, serve HTTP. Used by `main` and by the tests,
//! so both run exactly the same service.

use crate::actors::directory::{Directory, DirectoryConfig};
use crate::actors::persistence::{CommitStats, Drain, PersistenceActor};
use crate::actors::registry::{generate_secret, hash_token, TokenIndex, TokenRegistry};
use crate::config::Config;
use crate::domain::model::TokenHash;
use crate::http;
use crate::store::sled_store::SledStore;
use crate::store::Store;
use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by every handler.
pub struct AppState {
    pub config: Config,
    pub scim_base_url: String,
    pub directory: Arc<Directory>,
    pub tokens: TokenIndex,
    pub registry: Addr<TokenRegistry>,
    /// Read-only queries that no org state answers (the event log).
    pub store: Arc<dyn Store>,
    pub admin_token_hash: TokenHash,
    pub commits: Arc<CommitStats>,
    pub ready: AtomicBool,
}

impl AppState {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.commits.failed.load(Ordering::Acquire)
    }
}

/// A started service.
pub struct Running {
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    /// Set when this start generated the admin token (first start without one configured).
    pub generated_admin_token: Option<String>,
    server: actix_web::dev::Server,
    persistence: Addr<PersistenceActor>,
    arbiters: Vec<Arbiter>,
}

const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

fn admin_token(
    store: &dyn Store,
    configured: Option<&str>,
) -> std::io::Result<(TokenHash, Option<String>)> {
    if let Some(t) = configured {
        return Ok((hash_token(t), None));
    }
    if let Some(h) = store
        .setting(ADMIN_TOKEN_SETTING)
        .map_err(std::io::Error::other)?
    {
        let h: [u8; 32] = h
            .as_slice()
            .try_into()
            .map_err(|_| std::io::Error::other("corrupt admin token hash"))?;
        return Ok((TokenHash(h), None));
    }
    let raw = generate_secret();
    let hash = hash_token(&raw);
    store
        .put_setting(ADMIN_TOKEN_SETTING, &hash.0)
        .map_err(std::io::Error::other)?;
    Ok((hash, Some(raw)))
}

/// Open the store and settle the admin token, on a thread of its own at the write
/// pipeline's priority: the threads sled starts (its flusher and IO pool) inherit it.
async fn open_store(
    config: &Config,
) -> std::io::Result<(Arc<dyn Store>, (TokenHash, Option<String>))> {
    let (dir, cache, nice) = (
        config.data_dir.clone(),
        config.store_cache_bytes,
        config.pipeline_nice,
    );
    let configured = config.admin_token.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("scimd-store-open".into())
        .spawn(move || {
            crate::util::lower_thread_priority(nice);
            let opened = SledStore::open(&dir, cache)
                .map_err(std::io::Error::other)
                .and_then(|store| {
                    let store: Arc<dyn Store> = Arc::new(store);
                    let admin = admin_token(&*store, configured.as_deref())?;
                    Ok((store, admin))
                });
            let _ = tx.send(opened);
        })?;
    rx.await.map_err(std::io::Error::other)?
}

/// Open the store, start the actors and bind the HTTP server (not yet awaited).
pub async fn start(config: Config) -> std::io::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)?;
    let (store, (admin_token_hash, generated_admin_token)) = open_store(&config).await?;
    let tokens = TokenIndex::new(store.tokens().map_err(std::io::Error::other)?);

    let commits = Arc::new(CommitStats::default());
    let persistence =
        PersistenceActor::new(store.clone(), commits.clone(), config.pipeline_nice).start();
    let nice = config.pipeline_nice;
    let arbiters: Vec<Arbiter> = (0..config.actor_threads)
        .map(|_| {
            let a = Arbiter::new();
            a.spawn_fn(move || crate::util::enter_write_pipeline(nice));
            a
        })
        .collect();
    let directory = Directory::new(
        store.clone(),
        persistence.clone(),
        arbiters.iter().map(|a| a.handle()).collect(),
        DirectoryConfig {
            max_pending: config.org_max_pending,
            idle_after: config.org_idle,
            write_slots: config.write_slots,
            pipeline_nice: config.pipeline_nice,
        },
    );
    let registry = TokenRegistry::new(tokens.clone(), directory.clone()).start();

    let mut config = config;
    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    if config.public_url.is_empty() {
        config.public_url = format!("http://{addr}");
    }
    let state = web::Data::new(AppState {
        scim_base_url: config.scim_base_url(),
        directory,
        tokens,
        registry,
        store,
        admin_token_hash,
        commits,
        ready: AtomicBool::new(false),
        config: config.clone(),
    });
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new().configure(|cfg| http::configure(cfg, app_state.clone()))
    })
    .workers(config.workers)
    .shutdown_timeout(config.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    state.ready.store(true, Ordering::Release);
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "scimd listening");
    Ok(Running {
        addr,
        state,
        generated_admin_token,
        server,
        persistence,
        arbiters,
    })
}

impl Running {
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until the server stops (SIGTERM / SIGINT or `handle().stop()`), then flush
    /// everything queued and stop the actors. In-flight requests are drained by the
    /// server first, and each of them waits for its own commit.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.state.ready.store(true, Ordering::Release);
        let result = self.server.await;
        self.state.ready.store(false, Ordering::Release);
        let _ = self.persistence.send(Drain).await;
        for a in self.arbiters {
            a.stop();
        }
        tracing::info!("scimd stopped; store flushed");
        result
    }
}
