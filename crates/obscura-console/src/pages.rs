//! The routes and their handlers. Each handler reads or changes the index
//! through the core's `Store`, on a blocking thread, and renders a
//! template; none computes figures of its own.

use crate::auth::Auth;
use crate::error::ConsoleError;
use crate::media_roots::MediaRoots;
use crate::proxy::Proxies;
use crate::templates::render;
use crate::ConsoleConfig;
use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Form, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::context;
use obscura_core::clock;
use obscura_core::evidence::retention::HoldTarget;
use obscura_core::evidence::sign::PublicKey;
use obscura_core::store::{IncidentFilter, IncidentRow, Month, Store};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) auth: Auth,
    pub(crate) db: PathBuf,
    pub(crate) media: MediaRoots,
    proxies: Proxies,
    audit_key: Option<PublicKey>,
    pub(crate) exports: Option<PathBuf>,
    pub(crate) reviews: crate::review::Sessions,
    /// Camera profiles by camera number, with their files.
    pub(crate) cameras: Vec<(u32, String, PathBuf)>,
}

impl AppState {
    pub(crate) fn new(config: ConsoleConfig, addr: SocketAddr) -> Result<AppState, ConsoleError> {
        // The index must exist and be one: the console never creates it.
        Store::open_read_only(&config.db)?;
        let audit_key = config
            .audit_key
            .as_deref()
            .map(PublicKey::from_arg)
            .transpose()?;
        let cameras = crate::review::load_cameras(config.cameras.as_deref())?;
        Ok(AppState {
            cameras,
            auth: Auth::new(addr)?,
            media: MediaRoots::new(&config.media)?,
            proxies: Proxies::new(&config.cache)?,
            db: config.db,
            audit_key,
            exports: config.exports,
            reviews: Default::default(),
        })
    }

    pub(crate) fn store(&self) -> Result<Store, ConsoleError> {
        Ok(Store::open_read_only(&self.db)?)
    }

    pub(crate) fn db_name(&self) -> String {
        obscura_core::store::display_location(&self.db)
    }
}

pub(crate) type Shared = Arc<AppState>;

/// The application: every route behind [`crate::auth::guard`].
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(incident))
        .route("/incidents/{id}/thumbnail.jpg", get(thumbnail))
        .route("/incidents/{id}/heatmap.png", get(heatmap))
        .route("/incidents/{id}/clip.mp4", get(clip))
        .route("/incidents/{id}/hold", post(hold))
        .route("/incidents/{id}/export", post(export))
        .route("/report", get(report))
        .route("/report.html", get(report_file))
        .route("/audit", get(audit))
        .route("/media", get(media))
        .merge(crate::review_pages::routes())
        .fallback(|| async { ConsoleError::NotFound("no such page".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard,
        ))
        .with_state(state)
}

/// Runs `f` on a blocking thread (SQLite, files, FFmpeg).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConsoleError::Internal(format!("worker thread: {e}")))?
}

/// A form or query value, None when empty.
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A form value that must be given, trimmed.
pub(crate) fn need(v: &Option<String>, what: &str) -> Result<String, ConsoleError> {
    given(v)
        .map(str::to_string)
        .ok_or_else(|| ConsoleError::BadRequest(format!("{what} is required")))
}

fn parse_time(v: &Option<String>, what: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    given(v)
        .map(|s| {
            clock::parse_time_arg(s).map_err(|e| ConsoleError::BadRequest(format!("{what}: {e}")))
        })
        .transpose()
}

fn parse_day(v: &str) -> Result<NaiveDate, ConsoleError> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| ConsoleError::BadRequest(format!("invalid day {v:?} (expected YYYY-MM-DD)")))
}

#[derive(Debug, Deserialize)]
struct IncidentsQuery {
    camera: Option<String>,
    town: Option<String>,
    desk: Option<String>,
    from: Option<String>,
    to: Option<String>,
    day: Option<String>,
}

/// Rows shown on one page at most.
const MAX_ROWS: usize = 500;

async fn incidents(
    State(st): State<Shared>,
    Query(q): Query<IncidentsQuery>,
) -> Result<Html<String>, ConsoleError> {
    let camera = given(&q.camera)
        .map(|c| {
            c.parse::<u32>()
                .map_err(|_| ConsoleError::BadRequest(format!("invalid camera {c:?}")))
        })
        .transpose()?;
    let from = parse_time(&q.from, "from")?;
    // A day given for `to` includes that day.
    let to = parse_time(&q.to, "to")?.map(|t| match given(&q.to) {
        Some(s) if s.len() == 10 => t + Duration::days(1),
        _ => t,
    });
    let day = given(&q.day).map(parse_day).transpose()?;
    let filter = IncidentFilter {
        camera,
        town: given(&q.town).map(str::to_string),
        desk: given(&q.desk).map(str::to_string),
        from,
        to,
    };
    let st2 = st.clone();
    let (cameras, rows) = blocking(move || {
        let store = st2.store()?;
        Ok((store.cameras()?, store.incidents(&filter)?))
    })
    .await?;
    let mut towns: Vec<&str> = cameras.iter().map(|c| c.town.as_str()).collect();
    towns.sort_unstable();
    towns.dedup();
    let mut desks: Vec<&str> = cameras.iter().map(|c| c.desk.as_str()).collect();
    desks.sort_unstable();
    desks.dedup();
    // The timeline's day: the one asked for, else the latest incident's.
    let day = day.or_else(|| {
        rows.iter()
            .rev()
            .find_map(|r| r.start_utc.as_deref())
            .and_then(|s| clock::parse_time_arg(s).ok())
            .map(|t| t.date_naive())
    });
    let timeline = day.map(|d| timeline(d, &rows));
    let html = render(
        "incidents.html",
        context! {
            title => "Incidents",
            page => "incidents",
            standalone => false,
            db => st.db_name(),
            cameras,
            towns,
            desks,
            filter => context! {
                camera => camera,
                town => given(&q.town),
                desk => given(&q.desk),
                from => given(&q.from),
                to => given(&q.to),
            },
            day => day.map(|d| d.to_string()),
            timeline,
            total => rows.len(),
            shown => rows.len().min(MAX_ROWS),
            incidents => &rows[..rows.len().min(MAX_ROWS)],
        },
    )?;
    Ok(Html(html))
}

/// The SVG timeline of `day` (UTC): one row per camera among `rows`.
fn timeline(day: NaiveDate, rows: &[IncidentRow]) -> String {
    let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let Some(start) = start else {
        return String::new();
    };
    let secs = 86_400.0;
    let mut per_camera: std::collections::BTreeMap<u32, (String, Vec<crate::svg::Span>)> =
        std::collections::BTreeMap::new();
    for r in rows {
        let entry = per_camera
            .entry(r.camera)
            .or_insert_with(|| (format!("{} {}", r.camera, r.camera_name), Vec::new()));
        let (Some(a), Some(b)) = (r.start_utc.as_deref(), r.end_utc.as_deref()) else {
            continue;
        };
        let (Ok(a), Ok(b)) = (clock::parse_time_arg(a), clock::parse_time_arg(b)) else {
            continue;
        };
        let from = (a - start).num_milliseconds() as f64 / 1000.0 / secs;
        let to = (b - start).num_milliseconds() as f64 / 1000.0 / secs;
        if to < 0.0 || from > 1.0 {
            continue;
        }
        entry.1.push(crate::svg::Span {
            from,
            to,
            title: format!(
                "#{} {} to {} ({:.0} s)",
                r.id,
                a.format("%H:%M:%S"),
                b.format("%H:%M:%S"),
                r.end_s - r.start_s
            ),
            href: format!("/incidents/{}", r.id),
        });
    }
    let rows: Vec<(String, Vec<crate::svg::Span>)> = per_camera.into_values().collect();
    crate::svg::day_timeline(&day.to_string(), &rows)
}

async fn find_incident(st: &Shared, id: i64) -> Result<IncidentRow, ConsoleError> {
    let st = st.clone();
    blocking(move || {
        st.store()?
            .incident(id)?
            .ok_or_else(|| ConsoleError::NotFound(format!("no incident {id}")))
    })
    .await
}

async fn incident(
    State(st): State<Shared>,
    Path(id): Path<i64>,
) -> Result<Html<String>, ConsoleError> {
    let i = find_incident(&st, id).await?;
    let st2 = st.clone();
    let path = i.recording.clone();
    let holds = blocking(move || {
        Ok(st2
            .store()?
            .holds(false)?
            .into_iter()
            .filter(|h| h.path == path)
            .collect::<Vec<_>>())
    })
    .await?;
    let html = render(
        "incident.html",
        context! {
            title => format!("Incident {id}"),
            page => "incidents",
            standalone => false,
            db => st.db_name(),
            csrf => st.auth.csrf(),
            exports => st.exports.as_ref().map(|p| p.display().to_string()),
            i,
            holds,
        },
    )?;
    Ok(Html(html))
}

async fn thumbnail(
    State(st): State<Shared>,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let jpeg = blocking(move || {
        st.store()?
            .incident_images(id)?
            .and_then(|i| i.thumbnail)
            .ok_or_else(|| ConsoleError::NotFound(format!("no thumbnail of incident {id}")))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

async fn heatmap(State(st): State<Shared>, Path(id): Path<i64>) -> Result<Response, ConsoleError> {
    let png = blocking(move || {
        let images = st
            .store()?
            .incident_images(id)?
            .ok_or_else(|| ConsoleError::NotFound(format!("no incident {id}")))?;
        let grid = images.heatmap_grid()?;
        let (rows, cols) = grid.dim();
        // Red, as opaque as the cell was busy.
        let img = image::RgbaImage::from_fn(cols as u32, rows as u32, |x, y| {
            image::Rgba([220, 20, 20, grid[(y as usize, x as usize)]])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| ConsoleError::Internal(format!("cannot encode the heatmap: {e}")))?;
        Ok(out.into_inner())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn clip(
    State(st): State<Shared>,
    Path(id): Path<i64>,
    req: Request,
) -> Result<Response, ConsoleError> {
    let i = find_incident(&st, id).await?;
    let st2 = st.clone();
    let file = blocking(move || {
        let store = st2.store()?;
        let rec = store
            .recordings(Some(i.camera))?
            .into_iter()
            .find(|r| r.path == i.recording)
            .ok_or_else(|| ConsoleError::NotFound(format!("recording of incident {id}")))?;
        // The path comes from the index, never from the request.
        st2.proxies.clip(
            std::path::Path::new(&rec.path),
            &rec.sha256,
            i.start_s,
            i.end_s,
        )
    })
    .await?;
    // Range requests, conditional requests and the content type.
    let resp = tower_http::services::ServeFile::new(file)
        .oneshot(req)
        .await
        .map_err(|e| ConsoleError::Internal(format!("cannot serve the clip: {e}")))?;
    Ok(resp.into_response())
}

#[derive(Debug, Deserialize)]
struct HoldForm {
    csrf: Option<String>,
    operator: Option<String>,
    reference: Option<String>,
    reason: Option<String>,
}

async fn hold(
    State(st): State<Shared>,
    Path(id): Path<i64>,
    Form(f): Form<HoldForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let operator = need(&f.operator, "the operator's name")?;
    let reference = need(&f.reference, "a reference")?;
    let reason = need(&f.reason, "a reason")?;
    let i = find_incident(&st, id).await?;
    let db = st.db.clone();
    blocking(move || {
        // The core writes the hold and its audit entry in one transaction.
        let mut store = Store::open(&db)?;
        store.place_hold(
            &HoldTarget::Recording(PathBuf::from(&i.recording)),
            &reference,
            &operator,
            &reason,
            None,
        )?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
struct ExportForm {
    csrf: Option<String>,
    operator: Option<String>,
    exhibit: Option<String>,
    reason: Option<String>,
    working_copy: Option<String>,
}

/// Exports the incident's stretch of its camera's recordings as an
/// exhibit: the core's exporter writes the masters, the manifest and the
/// audit entry, and holds the sources.
async fn export(
    State(st): State<Shared>,
    Path(id): Path<i64>,
    Form(f): Form<ExportForm>,
) -> Result<Html<String>, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let out_dir = st.exports.clone().ok_or_else(|| {
        ConsoleError::Forbidden(
            "this console was started without --exports DIR: it exports nothing".into(),
        )
    })?;
    let operator = need(&f.operator, "the operator's name")?;
    let exhibit = need(&f.exhibit, "an exhibit reference")?;
    let reason = need(&f.reason, "a reason")?;
    let i = find_incident(&st, id).await?;
    let (Some(from), Some(to)) = (i.start_utc.as_deref(), i.end_utc.as_deref()) else {
        return Err(ConsoleError::BadRequest(format!(
            "incident {id} has no wall-clock time: its recording cannot be placed in time for an export"
        )));
    };
    let req = obscura_core::pipeline::export::ExportRequest {
        camera: i.camera,
        from: clock::parse_time_arg(from)?,
        to: clock::parse_time_arg(to)?,
        exhibit,
        operator,
        reason,
        out_dir,
        working_copy: given(&f.working_copy).is_some(),
        hold: true,
        decode: Default::default(),
    };
    let db = st.db.clone();
    let done = blocking(move || {
        let mut exporter = obscura_core::pipeline::Exporter::new(&db, None)?;
        Ok(exporter.export(&req, &mut obscura_core::pipeline::Job::new())?)
    })
    .await?;
    let html = render(
        "exported.html",
        context! {
            title => format!("Exported incident {id}"),
            page => "incidents",
            standalone => false,
            db => st.db_name(),
            id,
            e => done,
        },
    )?;
    Ok(Html(html))
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    month: Option<String>,
    compare: Option<String>,
}

impl ReportQuery {
    fn month(&self) -> Result<Month, ConsoleError> {
        match given(&self.month) {
            Some(m) => m
                .parse()
                .map_err(|e: obscura_core::Error| ConsoleError::BadRequest(e.to_string())),
            None => Ok(Month::of(&Utc::now())),
        }
    }

    fn compare(&self) -> Result<bool, ConsoleError> {
        match given(&self.compare) {
            None | Some("none") => Ok(false),
            Some("previous") => Ok(true),
            Some(other) => Err(ConsoleError::BadRequest(format!(
                "invalid comparison {other:?} (expected previous or none)"
            ))),
        }
    }
}

async fn report(
    State(st): State<Shared>,
    Query(q): Query<ReportQuery>,
) -> Result<Html<String>, ConsoleError> {
    let (month, compare) = (q.month()?, q.compare()?);
    let html = blocking(move || {
        let r = crate::report::monthly(&st.store()?, month, compare)?;
        crate::report::render(&r, &st.db_name(), false)
    })
    .await?;
    Ok(Html(html))
}

/// The self-contained report, as a download.
async fn report_file(
    State(st): State<Shared>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let (month, compare) = (q.month()?, q.compare()?);
    let html = blocking(move || {
        let r = crate::report::monthly(&st.store()?, month, compare)?;
        crate::report::render(&r, &st.db_name(), true)
    })
    .await?;
    let disposition = format!("attachment; filename=\"obscura-report-{month}.html\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        html,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    q: Option<String>,
}

/// Entries shown on one page at most.
const MAX_ENTRIES: usize = 1000;

async fn audit(
    State(st): State<Shared>,
    Query(q): Query<AuditQuery>,
) -> Result<Html<String>, ConsoleError> {
    let needle = given(&q.q).map(str::to_lowercase);
    let st2 = st.clone();
    let (report, entries) = blocking(move || {
        let store = st2.store()?;
        let report = store.verify_audit(st2.audit_key.as_ref())?;
        let mut entries = store.audit_entries()?;
        entries.reverse();
        if let Some(n) = &needle {
            entries.retain(|e| {
                [
                    &e.utc,
                    &e.operator,
                    &e.action,
                    &e.subject,
                    &e.reason,
                    &e.details,
                ]
                .iter()
                .any(|f| f.to_lowercase().contains(n.as_str()))
            });
        }
        entries.truncate(MAX_ENTRIES);
        Ok((report, entries))
    })
    .await?;
    let signatures = signature_status(&report, st.audit_key.is_some());
    let html = render(
        "audit.html",
        context! {
            title => "Audit trail",
            page => "audit",
            standalone => false,
            db => st.db_name(),
            a => &report,
            signatures,
            q => given(&q.q),
            shown => entries.len(),
            entries,
        },
    )?;
    Ok(Html(html))
}

/// The head signatures' status in words.
fn signature_status(r: &obscura_core::evidence::audit::AuditReport, keyed: bool) -> String {
    if r.signatures.is_empty() {
        return "none: the head of the trail has never been signed".into();
    }
    let bad: Vec<String> = r
        .signatures
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("#{} ({})", s.signature.id, s.message))
        .collect();
    let mut out = if bad.is_empty() {
        format!("{} signature(s), all valid", r.signatures.len())
    } else {
        format!(
            "{} of {} signature(s) do NOT verify: {}",
            bad.len(),
            r.signatures.len(),
            bad.join("; ")
        )
    };
    out.push_str(if keyed {
        ", checked against the public key given"
    } else {
        "; checked only against the keys stored with them (start the console with --audit-key to check who signed)"
    });
    if let Some(n) = r.unsigned_entries {
        out.push_str(&format!("; {n} entries after the last signed head"));
    }
    out
}

#[derive(Debug, Deserialize)]
struct MediaQuery {
    root: Option<usize>,
    path: Option<String>,
}

async fn media(
    State(st): State<Shared>,
    Query(q): Query<MediaQuery>,
) -> Result<Html<String>, ConsoleError> {
    let st2 = st.clone();
    let listing = match q.root {
        Some(root) => {
            let rel = q.path.clone().unwrap_or_default();
            Some(blocking(move || st2.media.list(root, &rel)).await?)
        }
        None => None,
    };
    let roots: Vec<String> = st
        .media
        .roots()
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    let html = render(
        "media.html",
        context! {
            title => "Media",
            page => "media",
            standalone => false,
            db => st.db_name(),
            roots,
            listing,
            csrf => st.auth.csrf(),
            cameras => st.cameras.iter().map(|c| context! { number => c.0, name => c.1.clone() }).collect::<Vec<_>>(),
        },
    )?;
    Ok(Html(html))
}
