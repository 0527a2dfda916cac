//! Pages in a real browser: Debian's Chromium (installed by
//! `scripts/setup.sh`), headless, driven over the DevTools protocol, which
//! reports every request the page makes.

use crate::Fixture;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where screenshots go for a person to look at: `target/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// A headless Chromium with a DevTools port, stopped (by pid) on drop.
pub struct Chromium {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromium {
    pub fn start() -> Chromium {
        let exe = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect(
                "Chromium is not installed: run `bash scripts/setup.sh` (Debian package chromium)",
            );
        let profile = tempfile::tempdir().expect("profile");
        let child = Command::new(exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--window-size=1200,1500",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts");
        // Chromium writes the port it chose into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    break p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Chromium {
            child,
            port,
            _profile: profile,
        }
    }

    /// The DevTools connection of the first page.
    pub fn page(&self) -> Page {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = http_get(self.port, "/json/list");
            let targets: Value = serde_json::from_str(&list).unwrap_or(Value::Null);
            let ws = targets.as_array().and_then(|ts| {
                ts.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
            });
            if let Some(ws) = ws {
                let (socket, _) = tungstenite::connect(ws.as_str()).expect("DevTools socket");
                return Page {
                    socket,
                    next_id: 0,
                    events: Vec::new(),
                };
            }
            assert!(Instant::now() < deadline, "no page target: {list}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A plain HTTP GET to the DevTools endpoint on loopback (it keeps the
/// connection open, so the body is read by its length).
fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return body.to_string();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return String::new(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// One page over the DevTools protocol, keeping every event it sends.
pub struct Page {
    socket: Socket,
    next_id: u64,
    pub events: Vec<Value>,
}

impl Page {
    /// Sends `method` and waits for its result, keeping the events that
    /// arrive meanwhile.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("send");
        loop {
            let v = self.read();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().expect("DevTools message") {
                tungstenite::Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("JSON")
                }
                tungstenite::Message::Close(_) => panic!("DevTools closed the page"),
                _ => continue,
            }
        }
    }

    /// Waits (up to 30 s) for an event named `method`.
    pub fn wait_for(&mut self, method: &str) -> Value {
        if let Some(e) = self.events.iter().find(|e| e["method"] == method) {
            return e.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "no {method}");
            let v = self.read();
            self.events.push(v.clone());
            if v["method"] == method {
                return v;
            }
        }
    }

    /// Every URL the page requested (DevTools `Network.requestWillBeSent`).
    pub fn requested(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    /// A PNG of the whole page at `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .expect("base64");
        std::fs::write(path, png).expect("screenshot");
    }
}

#[test]
fn the_html_report_opens_in_chromium_without_any_network_request() {
    let f = Fixture::build();
    let file = f.dir.path().join("report-2026-11.html");
    let month = "2026-11".parse().expect("month");
    obscura_console::report::write_html(&f.db, month, true, &file).expect("writes");
    let url = format!("file://{}", file.display());

    let chromium = Chromium::start();
    let mut page = chromium.page();
    page.call("Network.enable", json!({}));
    page.call("Page.enable", json!({}));
    page.call("Page.navigate", json!({ "url": url }));
    page.wait_for("Page.loadEventFired");
    // The charts are there and drawn: inline SVG with bars.
    let bars = page.call(
        "Runtime.evaluate",
        json!({ "expression": "document.querySelectorAll('svg.chart rect').length", "returnByValue": true }),
    );
    assert!(bars["result"]["value"].as_u64().unwrap_or(0) >= 6, "{bars}");
    let shot = screenshot_dir().join("report.png");
    page.screenshot(&shot);
    let requested = page.requested();
    assert_eq!(
        requested,
        vec![url.clone()],
        "the report asked for more than itself"
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert_eq!(&png[1..4], b"PNG");
}

/// The console served on a free loopback port from a thread of its own,
/// stopped when the returned sender is dropped.
pub fn serve(f: &crate::Fixture) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("addr");
    let console = obscura_console::Console::new(
        obscura_console::ConsoleConfig {
            db: f.db.clone(),
            media: vec![f.media.clone()],
            cache: f.dir.path().join("cache"),
            audit_key: None,
            exports: Some(f.dir.path().join("exports")),
            cameras: Some(f.dir.path().join("cameras")),
        },
        addr,
    )
    .expect("console");
    let url = console.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = console
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await;
        });
    });
    (url, stop)
}

#[test]
fn the_console_pages_render_in_chromium_and_fetch_only_from_the_console() {
    let f = Fixture::build();
    let id = f.incident_ids()[0];
    let (url, _stop) = serve(&f);
    let origin = url.split("/?").next().expect("origin").to_string();
    let chromium = Chromium::start();
    let mut page = chromium.page();
    page.call("Network.enable", json!({}));
    page.call("Page.enable", json!({}));
    let shots = screenshot_dir();
    // The URL with the token: the console sets its cookie and redirects.
    let pages = [
        (url.clone(), "console-incidents.png"),
        (format!("{origin}/incidents/{id}"), "console-incident.png"),
        (
            format!("{origin}/report?month=2026-11&compare=previous"),
            "console-report.png",
        ),
        (format!("{origin}/audit"), "console-audit.png"),
    ];
    for (address, shot) in pages {
        page.events.clear();
        page.call("Page.navigate", json!({ "url": address }));
        page.wait_for("Page.loadEventFired");
        let title = page.call(
            "Runtime.evaluate",
            json!({ "expression": "document.title", "returnByValue": true }),
        );
        let title = title["result"]["value"].as_str().unwrap_or("").to_string();
        assert!(title.ends_with("· Obscura"), "{address}: {title}");
        page.screenshot(&shots.join(shot));
        // Only the console, and pictures inlined as data (the browser's own
        // date-picker icon), never the network.
        for r in page.requested() {
            assert!(
                r.starts_with(&format!("{origin}/")) || r.starts_with("data:"),
                "{address} requested {r}"
            );
        }
    }
    // The token left the address bar.
    let here = page.call(
        "Runtime.evaluate",
        json!({ "expression": "location.href", "returnByValue": true }),
    );
    assert!(!here["result"]["value"]
        .as_str()
        .unwrap_or("")
        .contains("token"));
}
