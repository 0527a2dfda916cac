//! # obscura-console
//!
//! A local web application over `obscura-core` for the people who work a
//! CCTV control room day to day: supervisors browsing motion incidents and
//! writing the monthly Code of Practice report, and anyone checking the
//! audit trail. Everything it shows comes from the core's public API (the
//! index [`Store`](obscura_core::store::Store), the audit chain, the
//! pipeline); nothing is computed only here.
//!
//! ## Pages
//! - **Incidents**: filters by camera, town, desk and date range, a
//!   per-camera day timeline (server-side SVG), thumbnails and motion
//!   heatmaps, and each incident played in the page from an H.264 proxy
//!   made on demand, cached, and served with HTTP range requests. A
//!   recording can be held as evidence from there, and the incident's
//!   stretch exported as an exhibit (the core's `Exporter`: native-format
//!   masters, manifest with file and frame hashes, sources held, audited).
//! - **Report**: incidents and active minutes per camera, town and desk
//!   for a month, with the month before beside them, as SVG charts and
//!   tables. The same page is written as one self-contained file by
//!   [`report::write_html`] (`obscura report --html`): inline SVG and CSS,
//!   no script, no external request.
//! - **Audit**: the trail, searchable, with its chain status (intact, or
//!   the first bad entry) and the head signatures' status.
//! - **Media**: the files under the `--media` roots.
//!
//! ## Security
//! The console serves evidence, so it assumes a shared workstation:
//! - it binds 127.0.0.1 unless told otherwise;
//! - every request needs the run's random token: the printed URL carries
//!   it once, the console moves it into an `HttpOnly`, `SameSite=Strict`
//!   cookie named for the port, and redirects to the URL without it;
//! - every POST also needs the run's CSRF token (a hidden form field), and
//!   a cross-site `Origin` is refused;
//! - the `Host` header must name the address the console listens on, so a
//!   web page cannot reach it through DNS rebinding;
//! - files are read only where the index says a recording is, or under a
//!   `--media` root: a path from the client is resolved inside its root
//!   (symlinks followed) and refused if it leaves it;
//! - every action that changes anything needs an operator name and is
//!   written to the audit trail by the core;
//! - pages carry a strict Content-Security-Policy and are not cached.

#![deny(missing_docs)]

mod auth;
mod error;
mod media_roots;
mod pages;
mod proxy;
pub mod report;
mod review;
mod review_pages;
mod svg;
mod templates;

pub use error::ConsoleError;
pub use media_roots::{Listing, MediaRoots};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What a console serves.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The index database (incidents, recordings, audit trail).
    pub db: PathBuf,
    /// Folders whose files may be opened (for review).
    pub media: Vec<PathBuf>,
    /// Where proxies for playback are cached (created if missing).
    pub cache: PathBuf,
    /// The audit trail's public key (hex, or a `KEY.pub` file), to check
    /// who signed its head.
    pub audit_key: Option<String>,
    /// Where evidence exports and redacted outputs go (an exhibit folder
    /// each; redactions in `sar/`); without it the console writes nothing.
    pub exports: Option<PathBuf>,
    /// A folder of camera profiles (`*.toml`): a review of a camera's
    /// recording draws its privacy masks, which may then be lifted under
    /// an authorisation.
    pub cameras: Option<PathBuf>,
}

/// A console ready to serve: its configuration checked, its secrets made.
#[derive(Debug, Clone)]
pub struct Console {
    state: Arc<pages::AppState>,
}

impl Console {
    /// Checks `config` (the database opens, the media roots are folders,
    /// the cache folder can be made, the key reads) and makes this run's
    /// token and CSRF token. `addr` is where it will listen: requests must
    /// name it in their `Host` header.
    ///
    /// # Errors
    /// [`ConsoleError`] naming what is wrong with the configuration.
    pub fn new(config: ConsoleConfig, addr: SocketAddr) -> Result<Console, ConsoleError> {
        pages::AppState::new(config, addr).map(|s| Console { state: Arc::new(s) })
    }

    /// The address URL to open, with the token.
    pub fn url(&self) -> String {
        self.state.auth.url()
    }

    /// This run's access token.
    pub fn token(&self) -> &str {
        self.state.auth.token()
    }

    /// This run's CSRF token (forms carry it as `csrf`).
    pub fn csrf(&self) -> &str {
        self.state.auth.csrf()
    }

    /// The name of the cookie that carries the token.
    pub fn cookie_name(&self) -> &str {
        self.state.auth.cookie_name()
    }

    /// The web application: every route behind the token guard.
    pub fn router(&self) -> axum::Router {
        pages::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// When the server fails (the listener breaks).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Binds `addr`, hands the console to `ready` (to print its URL), and
/// serves until `stop` is cancelled (Ctrl-C in the CLI). Requests in
/// flight finish first.
///
/// # Errors
/// [`ConsoleError::Config`] when the address cannot be bound or the
/// configuration is wrong; [`ConsoleError::Internal`] when the server
/// fails.
pub fn run(
    config: ConsoleConfig,
    addr: SocketAddr,
    stop: obscura_core::Cancel,
    ready: impl FnOnce(&Console),
) -> Result<(), ConsoleError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ConsoleError::Internal(format!("cannot start the server's threads: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ConsoleError::Config(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| ConsoleError::Config(format!("cannot listen on {addr}: {e}")))?;
        // Opening the store blocks (a PostgreSQL client runs its own
        // runtime): off the server's threads, as every request does.
        let console = tokio::task::spawn_blocking(move || Console::new(config, bound))
            .await
            .map_err(|e| ConsoleError::Internal(format!("worker thread: {e}")))??;
        ready(&console);
        let shutdown = async move {
            while !stop.is_cancelled() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        console
            .serve(listener, shutdown)
            .await
            .map_err(|e| ConsoleError::Internal(format!("the server failed: {e}")))
    })
}
