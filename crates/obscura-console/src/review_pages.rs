//! The SAR review's routes (see [`crate::review`]).

use crate::error::ConsoleError;
use crate::pages::{blocking, given, need, Shared};
use crate::review::{self, Phase, RedactRequest, Work};
use crate::templates::render;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// The review routes, merged into the console's router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/review", get(list))
        .route("/review/start", post(start))
        .route("/review/{sid}", get(page))
        .route("/review/{sid}/events", get(events))
        .route("/review/{sid}/cancel", post(cancel))
        .route("/review/{sid}/frame/{n}", get(frame))
        .route("/review/{sid}/track/{id}", get(track_thumbnail))
        .route("/review/{sid}/keep", post(keep))
        .route("/review/{sid}/obscure", post(obscure))
        .route("/review/{sid}/box", post(add_box))
        .route("/review/{sid}/unbox", post(remove_box))
        .route("/review/{sid}/lift", post(lift))
        .route("/review/{sid}/save", post(save))
        .route("/review/reopen", post(reopen))
        .route("/review/{sid}/restore", post(restore))
        .route("/review/{sid}/redact", post(redact))
        .route("/review/{sid}/disclose", post(disclose))
        .route("/static/console.js", get(script))
}

/// The page script: progress over server-sent events, the frame viewer's
/// scrubber, and boxes drawn with the mouse. Small and dependency-free.
const SCRIPT: &str = include_str!("../templates/console.js");

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn list(State(st): State<Shared>) -> Result<Html<String>, ConsoleError> {
    let st2 = st.clone();
    let recordings = blocking(move || Ok(st2.store()?.recordings(None)?)).await?;
    let sessions: Vec<_> = st
        .reviews
        .all()
        .iter()
        .map(|s| context! { id => s.id.clone(), input => s.input.display().to_string(), phase => s.phase() })
        .collect();
    Ok(Html(render(
        "reviews.html",
        context! {
            title => "Subject access review",
            page => "review",
            standalone => false,
            db => st.db_name(),
            csrf => st.auth.csrf(),
            recordings,
            sessions,
            cameras => st.cameras.iter().map(|c| context! { number => c.0, name => c.1.clone() }).collect::<Vec<_>>(),
            outputs => st.exports.as_ref().map(|p| p.display().to_string()),
            saved => st.exports.as_ref().map(|p| review::saved_reviews(&p.join("sar"))).unwrap_or_default(),
        },
    )?))
}

#[derive(Debug, Deserialize)]
struct StartForm {
    csrf: Option<String>,
    recording: Option<i64>,
    root: Option<usize>,
    path: Option<String>,
    /// A camera number whose profile applies ("" for none; a recording
    /// of the index takes its own camera's by default).
    camera: Option<String>,
    people: Option<String>,
    /// Review only this stretch (media seconds), cut at keyframes.
    from: Option<String>,
    to: Option<String>,
}

/// Starts a review of a recording of the index, or of a file under a
/// media root: the only two ways a file is named.
async fn start(
    State(st): State<Shared>,
    Form(f): Form<StartForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let seconds = |v: &Option<String>, what: &str| -> Result<Option<f64>, ConsoleError> {
        given(v)
            .map(|t| {
                t.parse::<f64>().map_err(|_| {
                    ConsoleError::BadRequest(format!("invalid {what} {t:?} (seconds)"))
                })
            })
            .transpose()
    };
    let range = match (seconds(&f.from, "from")?, seconds(&f.to, "to")?) {
        (None, None) => None,
        (a, b) => Some((a.unwrap_or(0.0), b.unwrap_or(f64::MAX))),
    };
    let cuts = match range {
        Some(_) => Some(sar_dir(&st)?.join("cuts")),
        None => None,
    };
    let chosen = match given(&f.camera) {
        Some(c) => Some(
            c.parse::<u32>()
                .map_err(|_| ConsoleError::BadRequest(format!("invalid camera {c:?}")))?,
        ),
        None => None,
    };
    let st2 = st.clone();
    let (input, camera) = blocking(move || match (f.recording, f.root) {
        (Some(id), None) => st2
            .store()?
            .recordings(None)?
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| (std::path::PathBuf::from(r.path), chosen.or(Some(r.camera))))
            .ok_or_else(|| ConsoleError::NotFound(format!("no recording {id}"))),
        (None, Some(root)) => {
            let p = st2.media.resolve(root, f.path.as_deref().unwrap_or(""))?;
            if p.is_file() {
                Ok((p, chosen))
            } else {
                Err(ConsoleError::BadRequest("pick a file, not a folder".into()))
            }
        }
        _ => Err(ConsoleError::BadRequest(
            "name a recording of the index or a file under a media root".into(),
        )),
    })
    .await?;
    // The profile, if the console has one for that camera (a camera asked
    // for by number must have one).
    let profile = match camera {
        Some(n) => {
            let found = st.cameras.iter().find(|c| c.0 == n).map(|c| c.2.clone());
            if found.is_none() && chosen.is_some() {
                return Err(ConsoleError::BadRequest(format!(
                    "no profile for camera {n} (start the console with --cameras DIR)"
                )));
            }
            found
        }
        None => None,
    };
    let input = match (range, cuts) {
        (Some((from_s, to_s)), Some(dir)) => {
            let source = input.clone();
            blocking(move || {
                let to_s = if to_s == f64::MAX {
                    obscura_core::media::probe(&source)?.duration_s
                } else {
                    to_s
                };
                review::cut(&source, from_s, to_s, &dir)
            })
            .await?
        }
        _ => input,
    };
    let session = st
        .reviews
        .start(input, profile, given(&f.people).is_some(), None)?;
    Ok(Redirect::to(&format!("/review/{}", session.id)).into_response())
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    frame: Option<u64>,
}

async fn page(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, ConsoleError> {
    let s = st.reviews.get(&sid)?;
    let phase = s.phase();
    let d = s.decisions();
    let masks = s.review().map(|r| r.masks()).unwrap_or_default();
    let (tracks, timeline, info) = match s.review() {
        Ok(r) => (
            review::track_rows(r, &d),
            review::timeline(r, &d),
            Some(context! {
                frames => r.info().frames,
                width => r.info().width,
                height => r.info().height,
                fps => r.info().fps,
            }),
        ),
        Err(_) => (Vec::new(), String::new(), None),
    };
    let boxes: Vec<_> = d
        .boxes
        .iter()
        .map(|b| context! { first => b.first, last => b.last, rect => b.rect })
        .collect();
    Ok(Html(render(
        "review.html",
        context! {
            title => "Review",
            page => "review",
            standalone => false,
            db => st.db_name(),
            csrf => st.auth.csrf(),
            sid,
            input => s.input.display().to_string(),
            phase,
            tracks,
            timeline,
            info,
            boxes,
            masks,
            lifted => d.lifted,
            frame => q.frame.unwrap_or(0),
            outcome => s.outcome(),
            work => s.work(),
            outputs => st.exports.as_ref().map(|p| p.display().to_string()),
        },
    )?))
}

/// The search's progress, every quarter second, until it ends.
async fn events(
    State(st): State<Shared>,
    Path(sid): Path<String>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ConsoleError> {
    let s = st.reviews.get(&sid)?;
    let watcher = s.watch();
    let stream = futures_util::stream::unfold((watcher, false, true), move |(w, ended, first)| {
        let s = s.clone();
        async move {
            if ended {
                return None;
            }
            if !first {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let phase = s.phase();
            let work = s.work();
            let ended = !s.busy();
            let data = match (&phase, &work) {
                (Phase::Finding { .. }, _) => serde_json::to_string(&phase),
                (_, Work::Running { .. }) => serde_json::to_string(&work),
                _ => serde_json::to_string(&phase),
            }
            .unwrap_or_default();
            let event = Event::default()
                .event(if ended { "end" } else { "progress" })
                .data(data);
            Some((Ok(event), (w, ended, false)))
        }
    });
    Ok(Sse::new(stream))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn cancel(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let s = st.reviews.get(&sid)?;
    s.stop();
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

async fn frame(
    State(st): State<Shared>,
    Path((sid, n)): Path<(String, u64)>,
) -> Result<Response, ConsoleError> {
    let s = st.reviews.get(&sid)?;
    let jpeg = blocking(move || {
        let r = s.review()?;
        review::frame_jpeg(r, &s.decisions(), n)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

async fn track_thumbnail(
    State(st): State<Shared>,
    Path((sid, id)): Path<(String, u32)>,
) -> Result<Response, ConsoleError> {
    let s = st.reviews.get(&sid)?;
    let jpeg = review::thumbnail_jpeg(s.review()?, id)?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

#[derive(Debug, Deserialize)]
struct TrackForm {
    csrf: Option<String>,
    id: u32,
    reason: Option<String>,
}

async fn keep(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<TrackForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let reason = need(&f.reason, "a reason for keeping the track visible")?;
    let s = st.reviews.get(&sid)?;
    s.decide(|d| review::keep(d, f.id, &reason))?;
    Ok(Redirect::to(&format!("/review/{sid}#track-{}", f.id)).into_response())
}

async fn obscure(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<TrackForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let s = st.reviews.get(&sid)?;
    s.decide(|d| d.keep.retain(|k| k.id != f.id))?;
    Ok(Redirect::to(&format!("/review/{sid}#track-{}", f.id)).into_response())
}

#[derive(Debug, Deserialize)]
struct BoxForm {
    csrf: Option<String>,
    first: u64,
    last: u64,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

async fn add_box(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<BoxForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let b = review::manual_box(f.first, f.last, [f.x, f.y, f.w, f.h])?;
    let s = st.reviews.get(&sid)?;
    s.decide(|d| d.boxes.push(b))?;
    Ok(Redirect::to(&format!("/review/{sid}?frame={}", f.first)).into_response())
}

#[derive(Debug, Deserialize)]
struct UnboxForm {
    csrf: Option<String>,
    n: usize,
}

async fn remove_box(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<UnboxForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let s = st.reviews.get(&sid)?;
    if f.n == 0 || f.n > s.decisions().boxes.len() {
        return Err(ConsoleError::NotFound(format!("no box {}", f.n)));
    }
    s.decide(|d| {
        d.boxes.remove(f.n - 1);
    })?;
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

#[derive(Debug, Deserialize)]
struct RedactForm {
    csrf: Option<String>,
    operator: Option<String>,
    reason: Option<String>,
    case_reference: Option<String>,
    name: Option<String>,
}

async fn redact(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<RedactForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let out_dir = st.exports.clone().ok_or_else(|| {
        ConsoleError::Forbidden(
            "this console was started without --exports DIR: it writes no output".into(),
        )
    })?;
    let operator = need(&f.operator, "the operator's name")?;
    let reason = need(&f.reason, "a reason")?;
    let s = st.reviews.get(&sid)?;
    let name = review::output_name(f.name.as_deref().unwrap_or(""), &s.input);
    let req = RedactRequest {
        operator,
        reason,
        case_reference: given(&f.case_reference).map(str::to_string),
        out_dir: out_dir.join("sar"),
        name,
        db: st.db.clone(),
    };
    if s.busy() {
        return Err(ConsoleError::BadRequest(
            "this review is busy: wait for it, or cancel".into(),
        ));
    }
    let s2 = s.clone();
    let prepared = blocking(move || review::prepare(&s2, req)).await?;
    review::run(s, prepared);
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

#[derive(Debug, Deserialize)]
struct DiscloseForm {
    csrf: Option<String>,
    operator: Option<String>,
    recipient: Option<String>,
    reason: Option<String>,
}

async fn disclose(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<DiscloseForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let operator = need(&f.operator, "the operator's name")?;
    let recipient = need(&f.recipient, "the recipient")?;
    let reason = need(&f.reason, "a reason")?;
    let s = st.reviews.get(&sid)?;
    let mut outcome = s
        .outcome()
        .ok_or_else(|| ConsoleError::BadRequest("nothing redacted yet to disclose".into()))?;
    let db = st.db.clone();
    let record = outcome.record.clone();
    let entry = blocking(move || {
        let mut store = obscura_core::store::Store::open(&db)?;
        Ok(obscura_core::pipeline::disclose::log_disclosure(
            &mut store, &record, &recipient, &operator, &reason, None,
        )?)
    })
    .await?;
    outcome.disclosed = Some(entry.seq);
    s.set_outcome(outcome);
    Ok(Redirect::to(&format!("/review/{sid}#outcome")).into_response())
}

#[derive(Debug, Deserialize)]
struct LiftForm {
    csrf: Option<String>,
    mask: Option<String>,
    authorisation: Option<String>,
    operator: Option<String>,
}

/// Lifts a privacy mask for this review, under an authorisation, by a
/// named operator (the redaction's record and audit entry carry both).
async fn lift(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<LiftForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let mask = need(&f.mask, "the mask to lift")?;
    let authorisation = need(&f.authorisation, "an authorisation reference (e.g. RIPA)")?;
    let operator = need(&f.operator, "the operator's name")?;
    let s = st.reviews.get(&sid)?;
    s.decide(|d| {
        d.lifted.retain(|m| m.id != mask);
        d.lifted.push(obscura_core::pipeline::redact::LiftedMask {
            id: mask.clone(),
            authorisation,
            operator,
        });
    })?;
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

#[derive(Debug, Deserialize)]
struct RestoreForm {
    csrf: Option<String>,
    mask: Option<String>,
}

async fn restore(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<RestoreForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let mask = need(&f.mask, "the mask")?;
    let s = st.reviews.get(&sid)?;
    s.decide(|d| d.lifted.retain(|m| m.id != mask))?;
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

/// Where the console writes SAR outputs and saved reviews.
fn sar_dir(st: &Shared) -> Result<std::path::PathBuf, ConsoleError> {
    st.exports.as_ref().map(|p| p.join("sar")).ok_or_else(|| {
        ConsoleError::Forbidden(
            "this console was started without --exports DIR: it writes no output".into(),
        )
    })
}

#[derive(Debug, Deserialize)]
struct SaveForm {
    csrf: Option<String>,
    operator: Option<String>,
    reason: Option<String>,
    name: Option<String>,
}

async fn save(
    State(st): State<Shared>,
    Path(sid): Path<String>,
    Form(f): Form<SaveForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let dir = sar_dir(&st)?;
    let operator = need(&f.operator, "the operator's name")?;
    let reason = need(&f.reason, "a reason")?;
    let s = st.reviews.get(&sid)?;
    let name = review::output_name(f.name.as_deref().unwrap_or(""), &s.input);
    let stem = name.trim_end_matches(".mp4").to_string();
    blocking(move || review::save(&s, &dir, &stem, &operator, &reason)).await?;
    Ok(Redirect::to(&format!("/review/{sid}")).into_response())
}

#[derive(Debug, Deserialize)]
struct ReopenForm {
    csrf: Option<String>,
    name: Option<String>,
}

/// Reopens a saved review: its file's tracks are found again and its
/// decisions applied. The record names the file; it must still be a
/// recording of the index or under a media root.
async fn reopen(
    State(st): State<Shared>,
    Form(f): Form<ReopenForm>,
) -> Result<Response, ConsoleError> {
    st.auth.check_csrf(f.csrf.as_deref().unwrap_or(""))?;
    let dir = sar_dir(&st)?;
    let name = need(&f.name, "the saved review")?;
    // Only a name the console listed: never a path.
    if !review::saved_reviews(&dir).contains(&name) {
        return Err(ConsoleError::NotFound(format!("no saved review {name:?}")));
    }
    let st2 = st.clone();
    let (input, camera, decisions) = blocking(move || {
        let record = obscura_core::pipeline::redact::read_record(&dir.join(&name))?;
        let input = record.input.path.clone();
        let indexed = st2
            .store()?
            .recordings(None)?
            .iter()
            .any(|r| std::path::Path::new(&r.path) == input);
        let real = std::fs::canonicalize(&input).map_err(|_| {
            ConsoleError::NotFound(format!("the reviewed file {} is gone", input.display()))
        })?;
        let in_media = st2.media.roots().iter().any(|r| real.starts_with(r));
        if !indexed && !in_media {
            return Err(ConsoleError::Forbidden(format!(
                "{} is neither a recording of the index nor under a media root",
                input.display()
            )));
        }
        let camera = record.camera.as_ref().and_then(|c| {
            st2.cameras
                .iter()
                .find(|k| k.2 == c.path)
                .map(|k| k.2.clone())
        });
        Ok((input, camera, review::saved_decisions(&record)))
    })
    .await?;
    let session = st.reviews.start(input, camera, false, Some(decisions))?;
    Ok(Redirect::to(&format!("/review/{}", session.id)).into_response())
}
