//! A whole subject access review in a real browser: Debian's Chromium,
//! driven over WebDriver by Debian's chromedriver (both installed by
//! `scripts/setup.sh`), against the console served on a loopback port.

use crate::browser::{screenshot_dir, serve};
use crate::Fixture;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C name of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One HTTP/1.1 exchange with the driver on loopback; the JSON it answers.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| rest.len() >= n) {
                return serde_json::from_str(rest).expect("JSON from chromedriver");
            }
        }
        match s.read(&mut buf) {
            Ok(0) => {
                let text = String::from_utf8_lossy(&raw).into_owned();
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                return serde_json::from_str(body).unwrap_or(Value::Null);
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("chromedriver: {e}"),
        }
    }
}

/// chromedriver and one browser session, both stopped on drop.
struct Driver {
    child: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            call(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let exe = "/usr/bin/chromedriver";
        assert!(
            Path::new(exe).is_file(),
            "chromedriver is not installed: run `bash scripts/setup.sh` (Debian package chromium-driver)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let v = call(port, "POST", "/session", Some(&caps));
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Driver {
            child,
            port,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{what}", self.session);
        let v = call(self.port, method, &path, body.as_ref());
        assert!(
            v["value"].get("error").is_none(),
            "{method} {what}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching `css`, waiting up to `secs` for it.
    fn find(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let path = format!("/session/{}/element", self.session);
            let v = call(
                self.port,
                "POST",
                &path,
                Some(&json!({ "using": "css selector", "value": css })),
            );
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css}: {}",
                v["value"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, css: &str) {
        let id = self.find(css, 10);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css, 10);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn clear(&self, css: &str) {
        let id = self.find(css, 10);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
    }

    fn script(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
    }

    /// Drags the mouse over `css` from `from` to `to`, pixels from the
    /// element's centre.
    fn drag(&self, css: &str, from: (i64, i64), to: (i64, i64)) {
        let id = self.find(css, 10);
        let origin = json!({ ELEMENT: id });
        self.cmd(
            "POST",
            "/actions",
            Some(json!({ "actions": [{
                "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
                "actions": [
                    { "type": "pointerMove", "origin": origin, "x": from.0, "y": from.1 },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pointerMove", "origin": origin, "x": to.0, "y": to.1, "duration": 100 },
                    { "type": "pointerUp", "button": 0 },
                ],
            }]})),
        );
    }

    fn screenshot(&self, name: &str) {
        let v = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64"))
            .expect("PNG");
        std::fs::write(screenshot_dir().join(name), png).expect("screenshot");
    }
}

#[test]
fn an_officer_reviews_and_redacts_the_two_face_sample_in_chromium() {
    let f = Fixture::build();
    let clip = f.media.join("two.mp4");
    crate::two_faces(&clip);
    let (url, _stop) = serve(&f);
    let origin = url.split("/?").next().expect("origin").to_string();
    let d = Driver::start();

    // 1. Open the console: the URL with the token.
    d.go(&url);
    d.find("nav", 10);
    // 2. Find the tracks: the file from the media page.
    d.go(&format!("{origin}/media?root=0"));
    d.screenshot("review-1-media.png");
    d.click("form[action='/review/start'] input[value='two.mp4'] ~ button");
    d.find("#review", 10);
    d.screenshot("review-2-finding.png");
    d.find("form.keep", 120);
    d.screenshot("review-3-tracks.png");
    let faces = d.script(
        "return Array.from(document.querySelectorAll('tr[id^=track-]')).filter(r => r.textContent.includes('face')).length",
    );
    assert!(faces.as_u64().unwrap_or(0) >= 2, "two faces: {faces}");
    // 3. Keep one face visible, with a reason.
    let kept_id = d
        .script("return document.querySelector('form.keep input[name=id]').value")
        .as_str()
        .expect("a track id")
        .to_string();
    d.type_into(&format!("#reason-{kept_id}"), "the requester");
    d.click(&format!("#keep-{kept_id}"));
    d.find(&format!("#track-{kept_id} .ok"), 10);
    // 4. Draw a box on the frame viewer, then add it.
    d.drag("#viewer", (-60, -40), (-20, 0));
    let w = d.script("return document.getElementById('box-w').value");
    assert_ne!(w, json!("32"), "the drag set the box's size");
    d.clear("#box-last");
    d.type_into("#box-last", "9");
    d.click("#add-box");
    d.find("form[action$='/unbox']", 10);
    d.screenshot("review-4-decided.png");
    // 5. Redact.
    d.type_into("#operator", "D Officer");
    d.type_into("#redact-reason", "SAR-2026-007 disclosure");
    d.type_into("#name", "two-disclosed");
    d.click("#redact");
    // 6. Verify passed.
    let verdict = d.find("#verify", 120);
    let class = d.cmd("GET", &format!("/element/{verdict}/attribute/class"), None);
    d.screenshot("review-5-verified.png");
    assert_eq!(class, json!("ok"), "verify found residual faces or plates");

    // The output, its record, the review's record, and the audit entry.
    let out = f.dir.path().join("exports/sar/two-disclosed.mp4");
    assert!(out.is_file());
    let record: obscura_core::pipeline::redact::RedactionRecord = serde_json::from_slice(
        &std::fs::read(
            f.dir
                .path()
                .join("exports/sar/two-disclosed.mp4.redaction.json"),
        )
        .expect("record"),
    )
    .expect("a record");
    assert_eq!(record.operator, "D Officer");
    assert_eq!(record.kept_tracks.len(), 1);
    assert_eq!(record.kept_tracks[0].reason, "the requester");
    assert_eq!(record.manual_boxes.len(), 1);
    assert!(
        record.replay_of.is_some(),
        "the output is the review's replay"
    );
    assert!(f
        .dir
        .path()
        .join("exports/sar/two-disclosed.mp4.review.json")
        .is_file());
    let entries = obscura_core::store::Store::open_read_only(&f.db)
        .expect("db")
        .audit_entries()
        .expect("audit");
    let logged = entries
        .iter()
        .find(|e| e.action == "redaction")
        .expect("a redaction entry");
    assert_eq!(logged.operator, "D Officer");
    assert!(logged.subject.ends_with("two-disclosed.mp4"));
}
