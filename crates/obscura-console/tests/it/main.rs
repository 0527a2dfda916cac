//! The console's handlers, driven in process with `tower::ServiceExt::oneshot`
//! over an index of the real sample footage (`bash scripts/setup.sh` fetches
//! it): every route with and without the token, bad CSRF tokens, foreign
//! hosts and origins, traversal out of the media roots, unknown ids; and
//! the self-contained report opened in headless Chromium with every network
//! request logged.

#[path = "../../../../tests/support/backends.rs"]
mod backends;
use backends::{backends, test_db, Backend};
mod browser;
mod webdriver;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use obscura_console::{Console, ConsoleConfig};
use obscura_core::mask::camera::CameraProfile;
use obscura_core::motion::MotionOptions;
use obscura_core::pipeline::{Indexer, Job};
use std::path::{Path, PathBuf};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:8080";

pub fn sample(name: &str) -> PathBuf {
    let p = obscura_core::home().join("samples").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/setup.sh`",
        p.display()
    );
    p
}

/// Two faces side by side at `dst`: the carphone sample beside its mirror
/// image (the two-face sample of the redaction tests).
pub fn two_faces(dst: &Path) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(sample("carphone_pristine.mp4"))
        .args([
            "-filter_complex",
            "[0]split[a][b];[b]hflip[c];[a][c]hstack",
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-preset",
            "veryfast",
        ])
        .arg(dst)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}

/// An index of two cameras in two towns: vtest.avi on camera 1 on
/// 3 November 2026, carphone on camera 2 on 20 October.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub media: PathBuf,
    pub console: Console,
}

fn profile(number: u32, name: &str, town: &str, desk: &str) -> CameraProfile {
    let text = format!(
        "camera = {number}\nname = \"{name}\"\ntown = \"{town}\"\ndesk = \"{desk}\"\ncoordinates = \"normalised\"\n"
    );
    CameraProfile::parse(&text, Path::new("camera.toml")).expect("valid profile")
}

fn index(db: &Path, camera: CameraProfile, clip: &Path, start: &str) {
    let indexer = Indexer::new(db, camera, MotionOptions::default()).expect("indexer");
    let start = obscura_core::clock::parse_time_arg(start).expect("time");
    let done = indexer
        .index(&[clip.to_path_buf()], Some(start), &mut Job::new())
        .expect("indexes");
    assert!(done.iter().all(|r| r.is_ok()), "{done:?}");
}

impl Fixture {
    pub fn build() -> Fixture {
        Fixture::build_on(Backend::Sqlite)
    }

    /// The fixture with its index on `backend`.
    pub fn build_on(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = test_db(dir.path(), "index.db", backend);
        let media = dir.path().join("media");
        std::fs::create_dir_all(media.join("cam1")).expect("media");
        std::fs::copy(sample("vtest.avi"), media.join("cam1").join("vtest.avi")).expect("copy");
        index(
            &db,
            profile(1, "High St", "Northtown", "Desk A"),
            &media.join("cam1").join("vtest.avi"),
            "2026-11-03 10:00:00",
        );
        index(
            &db,
            profile(2, "Car park", "Southtown", "Desk B"),
            &sample("carphone_pristine.mp4"),
            "2026-10-20 22:15:00",
        );
        // A profile with a privacy mask over the top left of a picture.
        let cameras = dir.path().join("cameras");
        std::fs::create_dir_all(&cameras).expect("cameras");
        std::fs::write(
            cameras.join("flat.toml"),
            "camera = 9\nname = \"Flats\"\ntown = \"Northtown\"\ndesk = \"Desk A\"\n\
             coordinates = \"normalised\"\n\n[[mask]]\nid = \"flat-window\"\n\
             polygon = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.4], [0.0, 0.4]]\nstyle = \"solid\"\n",
        )
        .expect("profile");
        let console = Console::new(
            ConsoleConfig {
                db: db.clone(),
                media: vec![media.clone()],
                cache: dir.path().join("cache"),
                audit_key: None,
                exports: Some(dir.path().join("exports")),
                cameras: Some(cameras),
            },
            HOST.parse().expect("addr"),
        )
        .expect("console");
        Fixture {
            dir,
            db,
            media,
            console,
        }
    }

    pub fn cookie(&self) -> String {
        format!("{}={}", self.console.cookie_name(), self.console.token())
    }

    /// `GET uri` with the token cookie.
    pub async fn get(&self, uri: &str) -> Response {
        self.send(
            Request::get(uri)
                .header(header::HOST, HOST)
                .header(header::COOKIE, self.cookie())
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn send(&self, req: Request<Body>) -> Response {
        self.console
            .router()
            .oneshot(req)
            .await
            .expect("infallible")
    }

    /// `POST uri` with the cookie and a form body.
    pub async fn post(&self, uri: &str, form: &[(&str, &str)]) -> Response {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect();
        self.send(
            Request::post(uri)
                .header(header::HOST, HOST)
                .header(header::COOKIE, self.cookie())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.join("&")))
                .expect("request"),
        )
        .await
    }

    pub fn incident_ids(&self) -> Vec<i64> {
        let store = obscura_core::store::Store::open_read_only(&self.db).expect("db");
        store
            .incidents(&Default::default())
            .expect("incidents")
            .iter()
            .map(|i| i.id)
            .collect()
    }
}

/// The page a `303 See Other` sends the browser to.
pub fn location(resp: &Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    resp.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_string()
}

pub async fn body(resp: Response) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}

/// `s` as the pages' templates escape it (`/` too).
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('/', "&#x2f;")
}

pub async fn text(resp: Response) -> String {
    String::from_utf8(body(resp).await).expect("utf-8")
}

/// Reloads `page` until it shows `word` (up to 2 minutes); the page.
pub async fn wait_for(f: &Fixture, page: &str, word: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let text = text(f.get(page).await).await;
        if text.contains(word) {
            return text;
        }
        assert!(!text.contains("The search failed"), "{text}");
        assert!(
            std::time::Instant::now() < deadline,
            "{page}: no {word:?} in {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every POST of the review, on a session that does not exist.
const REVIEW_POSTS: [&str; 12] = [
    "/review/0123456789abcdef/keep",
    "/review/0123456789abcdef/obscure",
    "/review/0123456789abcdef/box",
    "/review/0123456789abcdef/unbox",
    "/review/0123456789abcdef/lift",
    "/review/0123456789abcdef/restore",
    "/review/0123456789abcdef/save",
    "/review/0123456789abcdef/redact",
    "/review/0123456789abcdef/disclose",
    "/review/0123456789abcdef/cancel",
    "/review/start",
    "/review/reopen",
];

const PAGES: [&str; 9] = [
    "/",
    "/incidents",
    "/incidents/1",
    "/incidents/1/thumbnail.jpg",
    "/incidents/1/heatmap.png",
    "/incidents/1/clip.mp4",
    "/report?month=2026-11",
    "/report.html?month=2026-11",
    "/audit",
];

/// The same pages from an index in PostgreSQL: the store is opened off
/// the server's threads (the PostgreSQL client runs its own runtime).
#[test]
fn the_console_serves_an_index_in_postgresql() {
    for b in backends() {
        let f = Fixture::build_on(b);
        runtime().block_on(async {
            for uri in &PAGES[1..] {
                let resp = f.get(uri).await;
                assert_eq!(resp.status(), StatusCode::OK, "{b:?} {uri}");
            }
            let page = text(f.get("/incidents?town=northtown").await).await;
            // The town matched whatever its case: its camera's rows only.
            assert!(page.contains("<td>1 High St</td>"), "{b:?}: {page}");
            assert!(!page.contains("<td>2 Car park</td>"), "{b:?}: {page}");
        });
    }
}

#[test]
fn every_route_refuses_a_request_without_the_token() {
    let f = Fixture::build();
    runtime().block_on(async {
        for uri in PAGES.iter().chain(&[
            "/media",
            "/nowhere",
            "/review",
            "/review/abc",
            "/static/console.js",
        ]) {
            let none = f
                .send(
                    Request::get(*uri)
                        .header(header::HOST, HOST)
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{uri}");
            let wrong = f
                .send(
                    Request::get(*uri)
                        .header(header::HOST, HOST)
                        .header(
                            header::COOKIE,
                            format!("{}={}", f.console.cookie_name(), "0".repeat(64)),
                        )
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{uri}");
        }
        for uri in REVIEW_POSTS
            .iter()
            .chain(&["/incidents/1/hold", "/incidents/1/export"])
        {
            let resp = f
                .send(
                    Request::post(*uri)
                        .header(header::HOST, HOST)
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(Body::from(format!("csrf={}", f.console.csrf())))
                        .expect("request"),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{uri}");
        }
        let post = f
            .send(
                Request::post("/incidents/1/hold")
                    .header(header::HOST, HOST)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "csrf={}&operator=x&reference=y&reason=z",
                        f.console.csrf()
                    )))
                    .expect("request"),
            )
            .await;
        assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn the_token_in_the_url_becomes_a_cookie_and_leaves_the_address() {
    let f = Fixture::build();
    runtime().block_on(async {
        let url = format!("/report?token={}&month=2026-11", f.console.token());
        let resp = f
            .send(
                Request::get(url)
                    .header(header::HOST, HOST)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()[header::LOCATION], "/report?month=2026-11");
        let cookie = resp.headers()[header::SET_COOKIE].to_str().expect("ascii");
        assert!(cookie.starts_with(&f.cookie()), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let wrong = f
            .send(
                Request::get("/?token=abc")
                    .header(header::HOST, HOST)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(!wrong.headers().contains_key(header::SET_COOKIE));
    });
}

#[test]
fn a_foreign_host_or_origin_is_refused_even_with_the_token() {
    let f = Fixture::build();
    runtime().block_on(async {
        for host in ["evil.example:8080", "127.0.0.1:9999", "localhost.evil:8080"] {
            let resp = f
                .send(
                    Request::get("/incidents")
                        .header(header::HOST, host)
                        .header(header::COOKIE, f.cookie())
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
        let ok_name = f
            .send(
                Request::get("/incidents")
                    .header(header::HOST, "localhost:8080")
                    .header(header::COOKIE, f.cookie())
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(ok_name.status(), StatusCode::OK);
        let cross = f
            .send(
                Request::post("/incidents/1/hold")
                    .header(header::HOST, HOST)
                    .header(header::ORIGIN, "http://evil.example")
                    .header(header::COOKIE, f.cookie())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "csrf={}&operator=x&reference=y&reason=z",
                        f.console.csrf()
                    )))
                    .expect("request"),
            )
            .await;
        assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    });
}

#[test]
fn every_page_renders_what_the_index_holds() {
    let f = Fixture::build();
    let ids = f.incident_ids();
    assert!(ids.len() >= 2, "{ids:?}");
    runtime().block_on(async {
        let root = f.get("/").await;
        assert_eq!(root.status(), StatusCode::SEE_OTHER);

        let resp = f.get("/incidents").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        let page = text(resp).await;
        for id in &ids {
            assert!(page.contains(&format!("href=\"/incidents/{id}\"")), "{id}");
        }
        // The timeline of the latest incident's day, 3 November.
        assert!(page.contains("Incidents on 2026-11-03 (UTC)"), "{page}");
        assert!(page.contains("1 High St"));

        // Filters: by town, by camera, by date range.
        let north = text(f.get("/incidents?town=northtown").await).await;
        assert!(north.contains("High St") && !north.contains("<td>2 Car park</td>"));
        let cam2 = text(f.get("/incidents?camera=2&day=2026-10-20").await).await;
        assert!(cam2.contains("<td>2 Car park</td>") && !cam2.contains("<td>1 High St</td>"));
        assert!(cam2.contains("Incidents on 2026-10-20 (UTC)"));
        let october = text(f.get("/incidents?from=2026-10-01&to=2026-10-31").await).await;
        assert!(october.contains("Car park") && !october.contains("<td>1 High St</td>"));

        let id = ids[0];
        let page = text(f.get(&format!("/incidents/{id}")).await).await;
        assert!(page.contains(&format!("/incidents/{id}/clip.mp4")));
        assert!(
            page.contains(f.console.csrf()),
            "the hold form carries the CSRF token"
        );
        let jpeg = body(f.get(&format!("/incidents/{id}/thumbnail.jpg")).await).await;
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let heat = f.get(&format!("/incidents/{id}/heatmap.png")).await;
        assert_eq!(heat.headers()[header::CONTENT_TYPE], "image/png");
        let png = image::load_from_memory(&body(heat).await).expect("a PNG");
        assert_eq!((png.width(), png.height()), (16, 16));

        let report = text(f.get("/report?month=2026-11&compare=previous").await).await;
        assert!(report.contains("Monthly report: 2026-11"));
        assert!(report.contains("Incidents per camera") && report.contains("<svg"));
        assert!(report.contains("Northtown") && report.contains("Southtown"));
        assert!(
            report.contains("2026-10 incidents"),
            "the month before beside it"
        );

        let file = f.get("/report.html?month=2026-11").await;
        assert!(file.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .contains("obscura-report-2026-11.html"));
        let standalone = text(file).await;
        assert!(!standalone.contains("<nav>") && !standalone.contains("<script"));

        let audit = text(f.get("/audit").await).await;
        assert!(audit.contains("intact"), "{audit}");
        assert!(audit.contains("never been signed"));

        let media = text(f.get("/media?root=0").await).await;
        assert!(media.contains(">cam1/<"), "{media}");
        let cam1 = text(f.get("/media?root=0&path=cam1").await).await;
        assert!(cam1.contains(&html("cam1/vtest.avi")), "{cam1}");
    });
}

#[test]
fn unknown_ids_and_bad_values_are_answered_not_panicked_on() {
    let f = Fixture::build();
    runtime().block_on(async {
        for uri in [
            "/incidents/99999",
            "/incidents/99999/thumbnail.jpg",
            "/incidents/99999/heatmap.png",
            "/incidents/99999/clip.mp4",
            "/nowhere",
            "/media?root=7",
            "/review/0123456789abcdef",
            "/review/0123456789abcdef/events",
            "/review/0123456789abcdef/frame/3",
            "/review/0123456789abcdef/track/1",
        ] {
            assert_eq!(f.get(uri).await.status(), StatusCode::NOT_FOUND, "{uri}");
        }
        for uri in [
            "/incidents/abc",
            "/incidents?camera=x",
            "/incidents?from=yesterday",
            "/incidents?from=2026-11-05&to=2026-11-01",
            "/incidents?day=03/11/2026",
            "/report?month=2026-13",
            "/report?month=2026-11&compare=sometimes",
            "/media?root=0&path=cam1/vtest.avi",
        ] {
            assert_eq!(f.get(uri).await.status(), StatusCode::BAD_REQUEST, "{uri}");
        }
        let hold = f
            .post(
                "/incidents/99999/hold",
                &[
                    ("csrf", f.console.csrf()),
                    ("operator", "PC Smith"),
                    ("reference", "CR/1"),
                    ("reason", "court"),
                ],
            )
            .await;
        assert_eq!(hold.status(), StatusCode::NOT_FOUND);
        let export = f
            .post("/incidents/99999/export", &export_form(f.console.csrf()))
            .await;
        assert_eq!(export.status(), StatusCode::NOT_FOUND);
    });
    // A console started without --exports exports nothing.
    let plain = Console::new(
        ConsoleConfig {
            db: f.db.clone(),
            media: Vec::new(),
            cache: f.dir.path().join("cache"),
            audit_key: None,
            exports: None,
            cameras: None,
        },
        HOST.parse().expect("addr"),
    )
    .expect("console");
    let req = Request::post("/incidents/1/export")
        .header(header::HOST, HOST)
        .header(
            header::COOKIE,
            format!("{}={}", plain.cookie_name(), plain.token()),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "csrf={}&operator=x&exhibit=y&reason=z",
            plain.csrf()
        )))
        .expect("request");
    let resp = runtime().block_on(async { plain.router().oneshot(req).await.expect("infallible") });
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[test]
fn a_hold_needs_the_csrf_token_and_an_operator_and_is_audited() {
    let f = Fixture::build();
    let id = f.incident_ids()[0];
    let uri = format!("/incidents/{id}/hold");
    let audit_len = || {
        obscura_core::store::Store::open_read_only(&f.db)
            .expect("db")
            .audit_entries()
            .expect("entries")
            .len()
    };
    let before = audit_len();
    runtime().block_on(async {
        let good = [
            ("operator", "PC Smith"),
            ("reference", "CR/2026/0042"),
            ("reason", "assault outside the station"),
        ];
        let no_csrf = f.post(&uri, &good).await;
        assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
        let mut wrong = vec![("csrf", "f00d")];
        wrong.extend(good);
        assert_eq!(f.post(&uri, &wrong).await.status(), StatusCode::FORBIDDEN);
        let no_operator = f
            .post(
                &uri,
                &[
                    ("csrf", f.console.csrf()),
                    ("operator", " "),
                    ("reference", "CR/2026/0042"),
                    ("reason", "x"),
                ],
            )
            .await;
        assert_eq!(no_operator.status(), StatusCode::BAD_REQUEST);
        assert_eq!(audit_len(), before, "refused requests change nothing");

        let mut form = vec![("csrf", f.console.csrf())];
        form.extend(good);
        let done = f.post(&uri, &form).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        let page = text(f.get(&format!("/incidents/{id}")).await).await;
        assert!(page.contains(&html("CR/2026/0042")) && page.contains("PC Smith"));
        let audit = text(f.get("/audit?q=cr/2026/0042").await).await;
        assert!(
            audit.contains("PC Smith") && audit.contains("intact"),
            "{audit}"
        );
    });
    let entries = obscura_core::store::Store::open_read_only(&f.db)
        .expect("db")
        .audit_entries()
        .expect("entries");
    assert_eq!(entries.len(), before + 1);
    let last = entries.last().expect("an entry");
    assert_eq!(last.operator, "PC Smith");
    assert!(last.action.contains("hold"), "{last:?}");
}

#[test]
fn media_paths_never_leave_their_root() {
    let f = Fixture::build();
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("dir");
    std::fs::write(outside.join("secret.txt"), "x").expect("write");
    std::os::unix::fs::symlink(&outside, f.media.join("escape")).expect("symlink");
    std::os::unix::fs::symlink(
        outside.join("secret.txt"),
        f.media.join("cam1").join("s.txt"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(f.media.join("cam1"), f.media.join("alias")).expect("symlink");
    runtime().block_on(async {
        for path in [
            "..",
            "../outside",
            "cam1/../../outside",
            "/etc",
            "//etc",
            "escape",
            "escape/..",
        ] {
            let uri = format!("/media?root=0&path={}", path.replace('/', "%2F"));
            assert_eq!(f.get(&uri).await.status(), StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(
            f.get("/media?root=0&path=missing").await.status(),
            StatusCode::NOT_FOUND
        );
        // A link that stays inside the root is followed.
        let alias = text(f.get("/media?root=0&path=alias").await).await;
        assert!(alias.contains("vtest.avi"), "{alias}");
        // A link out of the root is not listed.
        let cam1 = text(f.get("/media?root=0&path=cam1").await).await;
        assert!(
            !cam1.contains("s.txt") && !cam1.contains("secret"),
            "{cam1}"
        );
        let top = text(f.get("/media?root=0").await).await;
        assert!(!top.contains("escape"), "{top}");
    });
    let roots = obscura_console::MediaRoots::new(std::slice::from_ref(&f.media)).expect("roots");
    assert!(roots.resolve(0, "cam1/vtest.avi").is_ok());
    assert!(roots.resolve(0, "cam1/s.txt").is_err());
}

#[test]
fn an_incident_plays_from_a_cached_h264_proxy_with_range_requests() {
    let f = Fixture::build();
    let ids = f.incident_ids();
    let store = obscura_core::store::Store::open_read_only(&f.db).expect("db");
    let inc = store.incident(ids[0]).expect("db").expect("incident");
    runtime().block_on(async {
        let uri = format!("/incidents/{}/clip.mp4", inc.id);
        let resp = f.get(&uri).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(resp.headers()[header::ACCEPT_RANGES], "bytes");
        let mp4 = body(resp).await;
        let copy = f.dir.path().join("clip.mp4");
        std::fs::write(&copy, &mp4).expect("write");
        let info = obscura_core::media::probe(&copy).expect("a playable file");
        assert_eq!(info.codec, "h264");
        // The incident's stretch, cut at the keyframes around it: at least
        // as long as the incident, not the whole 80 s recording unless the
        // incident is.
        let wanted = inc.end_s - inc.start_s;
        assert!(
            info.duration_s + 0.05 >= wanted,
            "{} < {wanted}",
            info.duration_s
        );

        let part = f
            .send(
                Request::get(&uri)
                    .header(header::HOST, HOST)
                    .header(header::COOKIE, f.cookie())
                    .header(header::RANGE, "bytes=100-299")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        let range = part.headers()[header::CONTENT_RANGE]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_eq!(range, format!("bytes 100-299/{}", mp4.len()));
        assert_eq!(body(part).await, mp4[100..300].to_vec());
    });
    // Cached: made once, and the recording is untouched.
    let cached: Vec<_> = std::fs::read_dir(f.dir.path().join("cache"))
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].ends_with(".mp4"));
}

#[test]
fn the_html_report_is_one_file_that_never_replaces_another() {
    let f = Fixture::build();
    let dest = f.dir.path().join("report.html");
    let month = "2026-11".parse().expect("month");
    obscura_console::report::write_html(&f.db, month, true, &dest).expect("writes");
    let html = std::fs::read_to_string(&dest).expect("read");
    assert!(html.contains("Monthly report: 2026-11") && html.contains("<svg"));
    for fetches in ["<script", "<link", "src=", "url(", "@import", "href=\"http"] {
        assert!(!html.contains(fetches), "the report would fetch: {fetches}");
    }
    let again = obscura_console::report::write_html(&f.db, month, true, &dest);
    assert!(again.is_err(), "an existing file is never replaced");
    assert_eq!(std::fs::read_to_string(&dest).expect("read"), html);
    let onto_db = obscura_console::report::write_html(&f.db, month, true, &f.db);
    assert!(onto_db.is_err(), "the index is never replaced");
}

fn export_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("operator", "PC Smith"),
        ("exhibit", "JS/1"),
        ("reason", "disclosure to CPS"),
    ]
}

#[test]
fn an_incident_exports_as_an_audited_exhibit_that_verifies() {
    let f = Fixture::build();
    // vtest.avi's incident, on 3 November.
    let store = obscura_core::store::Store::open_read_only(&f.db).expect("db");
    let inc = store
        .incidents(&Default::default())
        .expect("incidents")
        .into_iter()
        .find(|i| i.camera == 1)
        .expect("camera 1's incident");
    let uri = format!("/incidents/{}/export", inc.id);
    runtime().block_on(async {
        assert_eq!(
            f.post(&uri, &export_form("bad")).await.status(),
            StatusCode::FORBIDDEN
        );
        assert!(
            !f.dir.path().join("exports").exists(),
            "a refused export writes nothing"
        );
        let resp = f.post(&uri, &export_form(f.console.csrf())).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let page = text(resp).await;
        assert!(
            page.contains("exported") && page.contains("Manifest"),
            "{page}"
        );
    });
    let exhibit =
        obscura_core::pipeline::export::exhibit_dir(&f.dir.path().join("exports"), "JS/1");
    let manifest = obscura_core::pipeline::export::manifest_path(&exhibit, "JS/1");
    let report = obscura_core::pipeline::export::verify_manifest(
        &manifest,
        None,
        &Default::default(),
        &mut |_| {},
    )
    .expect("verifies");
    assert!(report.ok, "{report:?}");
    let entries = obscura_core::store::Store::open_read_only(&f.db)
        .expect("db")
        .audit_entries()
        .expect("audit");
    let export = entries
        .iter()
        .find(|e| e.action.contains("export"))
        .expect("an export entry");
    assert_eq!(export.operator, "PC Smith");
    let holds = obscura_core::store::Store::open_read_only(&f.db)
        .expect("db")
        .holds(true)
        .expect("holds");
    assert!(holds.iter().any(|h| h.reference == "JS/1"), "{holds:?}");
}

#[test]
fn a_review_starts_only_from_the_index_or_inside_a_media_root() {
    let f = Fixture::build();
    runtime().block_on(async {
        let csrf = f.console.csrf();
        for (form, status) in [
            (
                vec![("csrf", "bad"), ("recording", "1")],
                StatusCode::FORBIDDEN,
            ),
            (vec![("csrf", csrf)], StatusCode::BAD_REQUEST),
            (
                vec![("csrf", csrf), ("recording", "999")],
                StatusCode::NOT_FOUND,
            ),
            (
                vec![("csrf", csrf), ("root", "0"), ("path", "../index.db")],
                StatusCode::FORBIDDEN,
            ),
            (
                vec![("csrf", csrf), ("root", "0"), ("path", "/etc/passwd")],
                StatusCode::FORBIDDEN,
            ),
            (
                vec![("csrf", csrf), ("root", "0"), ("path", "cam1")],
                StatusCode::BAD_REQUEST,
            ),
            (
                vec![("csrf", csrf), ("root", "5"), ("path", "x")],
                StatusCode::NOT_FOUND,
            ),
        ] {
            let resp = f.post("/review/start", &form).await;
            assert_eq!(resp.status(), status, "{form:?}");
        }
        let list = text(f.get("/review").await).await;
        assert!(list.contains("Recordings in the index"), "{list}");
        assert!(
            !list.contains("Reviews of this session"),
            "nothing was started"
        );
        for uri in REVIEW_POSTS {
            let no_csrf = f.post(uri, &[("id", "1"), ("reason", "x")]).await;
            assert!(
                no_csrf.status().is_client_error(),
                "{uri}: {}",
                no_csrf.status()
            );
        }
    });
}

#[test]
fn cancel_or_closing_the_page_stops_the_search_for_tracks() {
    let f = Fixture::build();
    let csrf = f.console.csrf().to_string();
    runtime().block_on(async {
        let start = || async {
            let resp = f
                .post(
                    "/review/start",
                    &[("csrf", &csrf), ("root", "0"), ("path", "cam1/vtest.avi")],
                )
                .await;
            location(&resp)
        };
        // Cancel.
        let page = start().await;
        let cancel = f.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(cancel.status(), StatusCode::SEE_OTHER);
        wait_for(&f, &page, "was cancelled").await;
        // A page that follows the progress and goes away.
        let page = start().await;
        let events = f.get(&format!("{page}/events")).await;
        assert_eq!(events.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = events.into_body();
        let first = body.frame().await.expect("an event").expect("data");
        let first = String::from_utf8_lossy(first.data_ref().expect("data")).into_owned();
        assert!(first.contains("event: progress"), "{first}");
        drop(body);
        wait_for(&f, &page, "was cancelled").await;
    });
    assert!(
        !f.dir.path().join("exports").exists(),
        "a search writes nothing"
    );
}

#[test]
fn a_privacy_mask_is_lifted_only_under_an_authorisation_and_the_audit_says_so() {
    let f = Fixture::build();
    two_faces(&f.media.join("two.mp4"));
    let csrf = f.console.csrf().to_string();
    runtime().block_on(async {
        let none = f
            .post(
                "/review/start",
                &[
                    ("csrf", &csrf),
                    ("root", "0"),
                    ("path", "two.mp4"),
                    ("camera", "77"),
                ],
            )
            .await;
        assert_eq!(
            none.status(),
            StatusCode::BAD_REQUEST,
            "no profile for camera 77"
        );
        let resp = f
            .post(
                "/review/start",
                &[
                    ("csrf", &csrf),
                    ("root", "0"),
                    ("path", "two.mp4"),
                    ("camera", "9"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let page = location(&resp);
        wait_for(&f, &page, "flat-window").await;
        let masked = body(f.get(&format!("{page}/frame/5")).await).await;
        let refused = f
            .post(
                &format!("{page}/lift"),
                &[
                    ("csrf", &csrf),
                    ("mask", "flat-window"),
                    ("operator", "D Officer"),
                ],
            )
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::BAD_REQUEST,
            "no authorisation"
        );
        let unknown = f
            .post(
                &format!("{page}/lift"),
                &[
                    ("csrf", &csrf),
                    ("mask", "no-such-mask"),
                    ("authorisation", "RIPA/2026/1"),
                    ("operator", "D Officer"),
                ],
            )
            .await;
        assert_eq!(
            unknown.status(),
            StatusCode::BAD_REQUEST,
            "not in the profile"
        );
        let lifted = f
            .post(
                &format!("{page}/lift"),
                &[
                    ("csrf", &csrf),
                    ("mask", "flat-window"),
                    ("authorisation", "RIPA/2026/1"),
                    ("operator", "D Officer"),
                ],
            )
            .await;
        assert_eq!(lifted.status(), StatusCode::SEE_OTHER);
        let text = text(f.get(&page).await).await;
        assert!(text.contains(&html("lifted under RIPA/2026/1")), "{text}");
        let open = body(f.get(&format!("{page}/frame/5")).await).await;
        assert_ne!(open, masked, "the preview shows what the mask hid");
        let done = f
            .post(
                &format!("{page}/redact"),
                &[
                    ("csrf", &csrf),
                    ("operator", "D Officer"),
                    ("reason", "SAR with the window in view"),
                    ("name", "lifted"),
                ],
            )
            .await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        wait_for(&f, &page, "id=\"verify\"").await;
    });
    let record: obscura_core::pipeline::redact::RedactionRecord = serde_json::from_slice(
        &std::fs::read(f.dir.path().join("exports/sar/lifted.mp4.redaction.json")).expect("record"),
    )
    .expect("a record");
    assert_eq!(record.masks_lifted.len(), 1);
    assert_eq!(record.masks_lifted[0].authorisation, "RIPA/2026/1");
    let entries = obscura_core::store::Store::open_read_only(&f.db)
        .expect("db")
        .audit_entries()
        .expect("audit");
    let lift = entries
        .iter()
        .find(|e| e.action == "mask_lifted")
        .expect("a mask_lifted entry");
    assert_eq!(lift.operator, "D Officer");
    assert!(lift.details.contains("RIPA/2026/1"), "{}", lift.details);
}

#[test]
fn a_saved_review_reopens_with_its_decisions() {
    let f = Fixture::build();
    two_faces(&f.media.join("two.mp4"));
    let csrf = f.console.csrf().to_string();
    runtime().block_on(async {
        let resp = f
            .post(
                "/review/start",
                &[("csrf", &csrf), ("root", "0"), ("path", "two.mp4")],
            )
            .await;
        let page = location(&resp);
        wait_for(&f, &page, "track(s) in").await;
        let kept = f
            .post(
                &format!("{page}/keep"),
                &[("csrf", &csrf), ("id", "1"), ("reason", "the requester")],
            )
            .await;
        assert_eq!(kept.status(), StatusCode::SEE_OTHER);
        let boxed = f
            .post(
                &format!("{page}/box"),
                &[
                    ("csrf", &csrf),
                    ("first", "3"),
                    ("last", "8"),
                    ("x", "10"),
                    ("y", "12"),
                    ("w", "20"),
                    ("h", "24"),
                ],
            )
            .await;
        assert_eq!(boxed.status(), StatusCode::SEE_OTHER);
        let unnamed = f
            .post(
                &format!("{page}/save"),
                &[("csrf", &csrf), ("reason", "later")],
            )
            .await;
        assert_eq!(unnamed.status(), StatusCode::BAD_REQUEST, "no operator");
        let saved = f
            .post(
                &format!("{page}/save"),
                &[
                    ("csrf", &csrf),
                    ("operator", "D Officer"),
                    ("reason", "to finish tomorrow"),
                    ("name", "two-draft"),
                ],
            )
            .await;
        assert_eq!(saved.status(), StatusCode::SEE_OTHER);
        let list = text(f.get("/review").await).await;
        assert!(list.contains("two-draft.review.json"), "{list}");
        let bad = f
            .post(
                "/review/reopen",
                &[("csrf", &csrf), ("name", "../index.db")],
            )
            .await;
        assert_eq!(bad.status(), StatusCode::NOT_FOUND, "only listed names");
        let again = f
            .post(
                "/review/reopen",
                &[("csrf", &csrf), ("name", "two-draft.review.json")],
            )
            .await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        let page2 = location(&again);
        assert_ne!(page2, page);
        let text = wait_for(&f, &page2, "track(s) in").await;
        assert!(text.contains("the requester"), "{text}");
        assert!(
            text.contains("3-8") && text.contains("10, 12, 20, 24"),
            "{text}"
        );
    });
    assert!(f
        .dir
        .path()
        .join("exports/sar/two-draft.review.json")
        .is_file());
}

#[test]
fn a_stretch_of_a_file_is_cut_at_keyframes_and_reviewed_on_its_own() {
    let f = Fixture::build();
    two_faces(&f.media.join("two.mp4"));
    let csrf = f.console.csrf().to_string();
    runtime().block_on(async {
        for (from, to) in [("3", "1"), ("abc", "2"), ("-1", "2")] {
            let resp = f
                .post(
                    "/review/start",
                    &[
                        ("csrf", &csrf),
                        ("root", "0"),
                        ("path", "two.mp4"),
                        ("from", from),
                        ("to", to),
                    ],
                )
                .await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{from}-{to}");
        }
        let resp = f
            .post(
                "/review/start",
                &[
                    ("csrf", &csrf),
                    ("root", "0"),
                    ("path", "two.mp4"),
                    ("from", "1"),
                    ("to", "2"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let page = location(&resp);
        let text = text(f.get(&page).await).await;
        assert!(text.contains("cuts"), "the review is of the cut: {text}");
    });
    let cuts: Vec<_> = std::fs::read_dir(f.dir.path().join("exports/sar/cuts"))
        .expect("cuts")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(cuts.len(), 1, "{cuts:?}");
    let info = obscura_core::media::probe(&cuts[0]).expect("a playable cut");
    let whole = obscura_core::media::probe(f.media.join("two.mp4")).expect("probe");
    assert!(
        info.frames >= 25 && info.frames <= whole.frames,
        "{}",
        info.frames
    );
}

#[test]
fn a_redaction_onto_an_existing_name_writes_nothing() {
    let f = Fixture::build();
    two_faces(&f.media.join("two.mp4"));
    let csrf = f.console.csrf().to_string();
    let sar = f.dir.path().join("exports/sar");
    std::fs::create_dir_all(&sar).expect("dir");
    std::fs::write(sar.join("taken.mp4"), b"an earlier disclosure").expect("write");
    runtime().block_on(async {
        let resp = f
            .post(
                "/review/start",
                &[("csrf", &csrf), ("root", "0"), ("path", "two.mp4")],
            )
            .await;
        let page = location(&resp);
        wait_for(&f, &page, "track(s) in").await;
        let resp = f
            .post(
                &format!("{page}/redact"),
                &[
                    ("csrf", &csrf),
                    ("operator", "D Officer"),
                    ("reason", "SAR"),
                    ("name", "taken"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(text(resp).await.contains("exists"));
    });
    let mut names: Vec<String> = std::fs::read_dir(&sar)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["taken.mp4"], "nothing else written");
    assert_eq!(
        std::fs::read(sar.join("taken.mp4")).expect("read"),
        b"an earlier disclosure"
    );
}

#[test]
fn at_most_two_searches_run_at_once() {
    let f = Fixture::build();
    let csrf = f.console.csrf().to_string();
    runtime().block_on(async {
        let start = || async {
            f.post(
                "/review/start",
                &[("csrf", &csrf), ("root", "0"), ("path", "cam1/vtest.avi")],
            )
            .await
        };
        let mut pages = Vec::new();
        for _ in 0..2 {
            pages.push(location(&start().await));
        }
        let third = start().await;
        assert_eq!(third.status(), StatusCode::BAD_REQUEST);
        assert!(text(third).await.contains("finding tracks already"));
        for page in &pages {
            let resp = f.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        }
        for page in &pages {
            wait_for(&f, page, "was cancelled").await;
        }
        // Room again.
        let resp = start().await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let page = location(&resp);
        let resp = f.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    });
}

#[test]
fn a_redaction_runs_with_progress_and_cancel_leaves_nothing() {
    let f = Fixture::build();
    two_faces(&f.media.join("two.mp4"));
    let csrf = f.console.csrf().to_string();
    let sar = f.dir.path().join("exports/sar");
    runtime().block_on(async {
        let resp = f
            .post(
                "/review/start",
                &[("csrf", &csrf), ("root", "0"), ("path", "two.mp4")],
            )
            .await;
        let page = location(&resp);
        wait_for(&f, &page, "track(s) in").await;
        let form = [
            ("csrf", csrf.as_str()),
            ("operator", "D Officer"),
            ("reason", "SAR"),
            ("name", "stopped"),
        ];
        let resp = f.post(&format!("{page}/redact"), &form).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        // While it runs: a second redaction is refused, the page shows progress.
        let busy = f.post(&format!("{page}/redact"), &form).await;
        let running = text(f.get(&page).await).await;
        if running.contains("Redacting") || running.contains("Verifying") {
            assert_eq!(busy.status(), StatusCode::BAD_REQUEST);
        }
        let cancel = f.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(cancel.status(), StatusCode::SEE_OTHER);
        let done = wait_for(&f, &page, "id=\"work-state\"").await;
        assert!(done.contains("was cancelled"), "{done}");
    });
    let left: Vec<_> = std::fs::read_dir(&sar)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}
