//! `obscura console` as a process (its URL, its token, Ctrl-C) and
//! `obscura report --html`.

use super::{assert_clean_failure, clip, obscura, os, write_profile};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An index with one camera and one November incident.
fn index(d: &Path) -> PathBuf {
    let db = d.join("index.db");
    let profile = write_profile(d, 1, "North");
    let nov = clip(d, "c1_20261102_090000.mp4", 6, &[(1.0, 2.0)], 0);
    let out = obscura(&[
        os("index"),
        os(&nov),
        os("--camera"),
        os(&profile),
        os("--db"),
        os(&db),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

#[test]
fn report_html_writes_one_page_and_never_replaces_a_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = index(dir.path());
    let page = dir.path().join("report.html");
    let args = [
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--compare"),
        os("previous"),
        os("--html"),
        os(&page),
    ];
    let out = obscura(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.contains("Monthly report: 2026-11") && html.contains("<svg"));
    assert!(html.contains("Cam 1") && !html.contains("<script"));
    // Again: refused, the page untouched, no temporary file left.
    let again = obscura(&args);
    assert_clean_failure(&again, &page);
    assert_eq!(std::fs::read_to_string(&page).expect("read"), html);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    // One format at a time.
    let both = obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--json"),
        os("--html"),
        os(&dir.path().join("other.html")),
    ]);
    assert_eq!(both.status.code(), Some(2));
}

/// One HTTP/1.1 request on loopback; the status line and the headers and
/// body as text.
fn request(addr: &str, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .expect("sends");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("reads");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn the_console_answers_only_with_its_token_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = index(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args([
            os("console"),
            os("--db"),
            os(&db),
            os("--json"),
            os("--cache"),
        ])
        .arg(dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    let url = v["url"].as_str().expect("url").to_string();
    let rest = url.strip_prefix("http://").expect("http");
    let (addr, path) = rest.split_once('/').expect("path");
    assert!(addr.starts_with("127.0.0.1:"), "{url}");
    assert!(path.starts_with("?token=") && path.len() == "?token=".len() + 64);

    let (status, _) = request(addr, "/incidents", None);
    assert_eq!(status, 401);
    let (status, head) = request(addr, &format!("/{path}"), None);
    assert_eq!(status, 303);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a cookie")
        .to_string();
    let (status, page) = request(addr, "/incidents", Some(&cookie));
    assert_eq!(status, 200);
    assert!(page.contains("Cam 1"), "{page}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the console did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_console_refuses_a_missing_index_with_one_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nothing.db");
    let out = obscura(&[os("console"), os("--db"), os(&missing)]);
    assert_clean_failure(&out, &missing);
    assert!(!missing.exists(), "the console never creates an index");
}
