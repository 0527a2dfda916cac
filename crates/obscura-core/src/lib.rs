//! # obscura-core
//!
//! The library behind Obscura, a video analytics and redaction tool for
//! public-space CCTV control rooms.
//!
//! ## Layout
//! One folder per concern; the dependencies point one way (a test in this
//! file checks it on the source).
//! - [`frame`]: the planar YUV 4:2:0 view every analysis works on, so the
//!   same code runs on decoded video, synthetic test frames and arrays from
//!   Python; boxes and detections; [`frame::draw`], the one path for text
//!   (a real font) and PNG/JPEG output; [`frame::sheet`], thumbnails and
//!   the contact sheet. Uses nothing else.
//! - [`media`]: the only code that talks to FFmpeg. [`media::probe`] reads a
//!   file's facts with exact frame counts; [`media::open`] decodes it,
//!   segment-parallel at keyframes with output bit-identical to a sequential
//!   decode; [`media::Encoder`] writes H.264/MP4 that keeps every frame's
//!   timestamp and copies audio through. Uses [`frame`].
//! - [`mask`]: polygon rasterisation and the irreversible obscuring
//!   kernels; [`mask::camera`], validated camera profiles. Uses [`frame`].
//! - [`detect`]: face (CenterFace) and plate (PP-OCRv4 + plate geometry)
//!   detectors behind one trait; [`detect::onnx`], the only code that talks
//!   to ONNX Runtime; [`detect::models`], the pinned model manifest. Uses
//!   [`frame`].
//! - [`track`]: tracks with gaps filled both ways. Uses [`frame`].
//! - [`motion`]: motion scores on the luma plane and incidents, frames in
//!   and events out (it never decodes). Uses [`frame`].
//! - [`store`]: the SQLite database (cameras, recordings, incidents,
//!   reports, holds and the audit tables). Uses [`mask`] and [`motion`] types.
//! - [`evidence`]: the hash-chained, append-only audit trail, signing, and
//!   retention with evidential holds. Uses only [`store`].
//! - [`pipeline`]: the workflows, above everything: the decode → process →
//!   encode loop, [`pipeline::Redactor`] and [`pipeline::Indexer`] (objects
//!   that check their configuration and load models once),
//!   [`pipeline::analyse`] (parallel detect-and-track), [`pipeline::redact`],
//!   [`pipeline::verify`], [`pipeline::export`] (evidential exports) and
//!   [`pipeline::disclose`].
//! - Base modules every concern may use: [`error`] (one [`Error`] type with
//!   an [`ErrorKind`]), [`cancel`] (a [`Cancel`] token), [`clock`] (wall-clock
//!   starts and times as people write them), [`hash`], and [`output`]
//!   (outputs are written under a temporary name, renamed only when
//!   complete, and never over an input). [`doctor`] checks the setup.
//!
//! ## Example
//! ```no_run
//! use obscura_core::media::{self, DecodeOptions};
//!
//! # fn main() -> obscura_core::Result<()> {
//! let (info, frames) = media::open("clip.mp4", &DecodeOptions::default())?;
//! println!("{}x{} at {:.2} fps, {} frames", info.width, info.height, info.fps, info.frames);
//! for frame in frames {
//!     let frame = frame?;
//!     let luma = frame.view().luma();
//!     let mean = luma.rows().flatten().map(|&p| u64::from(p)).sum::<u64>()
//!         / (luma.width() * luma.height()) as u64;
//!     println!("frame {} at {:.3}s: mean luma {mean}", frame.index(), frame.time());
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod cancel;
pub mod clock;
pub mod detect;
pub mod doctor;
pub mod error;
pub mod evidence;
pub mod frame;
pub mod hash;
pub mod mask;
pub mod media;
pub mod motion;
pub mod output;
pub mod pipeline;
pub mod store;
pub mod track;

pub use cancel::Cancel;
pub use error::{Error, ErrorKind, Result};

/// Where the setup keeps models, the ONNX Runtime library and sample
/// footage: `$OBSCURA_HOME`, or `~/.cache/obscura`.
pub fn home() -> std::path::PathBuf {
    match std::env::var_os("OBSCURA_HOME") {
        Some(h) if !h.is_empty() => std::path::PathBuf::from(h),
        _ => std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_default()
            .join(".cache")
            .join("obscura"),
    }
}

/// The cores this process may use (1 when that cannot be told): what
/// every "0 = one per core" option resolves to.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The version of this library, as recorded in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The layout rules, checked on the source: which concern may use which.
#[cfg(test)]
mod layout {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// Modules every concern may use: errors, cancellation, time parsing,
    /// hashing, the one output path, the data directory and the core
    /// count (the last two are functions in this file).
    const BASE: &[&str] = &[
        "error", "cancel", "clock", "hash", "output", "home", "cores",
    ];

    /// (concern folder, what else it may use besides [`BASE`]). The
    /// pipeline, above them all, may use everything.
    const RULES: &[(&str, &[&str])] = &[
        ("frame", &[]),
        ("media", &["frame"]),
        ("motion", &["frame"]),
        ("track", &["frame"]),
        ("mask", &["frame"]),
        ("detect", &["frame"]),
        // The store keeps what motion analysis found, for a camera.
        ("store", &["mask", "motion"]),
        ("evidence", &["store"]),
    ];

    fn src() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    /// Source files of module `m` (`m.rs`, or every file under `m/`).
    fn files(m: &str) -> Vec<PathBuf> {
        let file = src().join(format!("{m}.rs"));
        if file.is_file() {
            return vec![file];
        }
        let out = rust_files(&src().join(m));
        assert!(!out.is_empty(), "no source for module {m}");
        out
    }

    /// Every `.rs` file under `dir`.
    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The code of a file without its comments (doc links are not uses),
    /// and without these tests, which name what they look for.
    fn code(path: &Path) -> String {
        let text = std::fs::read_to_string(path).expect("source");
        let end = text.find("mod layout {").unwrap_or(text.len());
        text[..end]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The crate modules a file's code names (`crate::NAME`).
    fn uses(path: &Path) -> BTreeSet<String> {
        let text = code(path);
        text.match_indices("crate::")
            .map(|(i, m)| {
                text[i + m.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect::<String>()
            })
            .filter(|m| !m.is_empty())
            .collect()
    }

    #[test]
    fn each_concern_uses_only_what_is_below_it() {
        for (concern, allowed) in RULES {
            for f in files(concern) {
                for used in uses(&f) {
                    let ok = BASE.contains(&used.as_str())
                        || used == *concern
                        || allowed.contains(&used.as_str());
                    assert!(
                        ok,
                        "{} ({concern}) uses crate::{used}; {concern} may use only {allowed:?} and {BASE:?}",
                        f.display()
                    );
                }
            }
        }
    }

    /// Every source file belongs to a concern folder, the pipeline, or the
    /// short list of base modules: the folders are the architecture.
    #[test]
    fn every_file_has_a_house() {
        let top: BTreeSet<String> = std::fs::read_dir(src())
            .expect("src")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let known: BTreeSet<String> = RULES
            .iter()
            .map(|(c, _)| c.to_string())
            .chain(["pipeline".into(), "lib.rs".into(), "doctor.rs".into()])
            .chain(
                BASE.iter()
                    .filter(|b| !matches!(**b, "home" | "cores"))
                    .map(|b| format!("{b}.rs")),
            )
            .collect();
        assert_eq!(
            top, known,
            "src/ holds only the concern folders and the base"
        );
    }

    #[test]
    fn ffi_stays_in_its_two_modules() {
        let all = rust_files(&src());
        assert!(all.len() > 20, "the core's sources were not found");
        let media = src().join("media");
        let onnx = src().join("detect").join("onnx.rs");
        let (raw, ffmpeg, ort) = ("unsafe", "ffmpeg_next", "ort::");
        for f in all {
            let text = code(&f);
            if !f.starts_with(&media) {
                assert!(
                    !names(&text, ffmpeg),
                    "{}: FFmpeg calls belong in media/",
                    f.display()
                );
            }
            if !f.starts_with(&media) && f != onnx {
                assert!(
                    !names(&text, raw),
                    "{}: raw pointer code belongs in media/ (FFmpeg) or detect/onnx.rs (ONNX Runtime)",
                    f.display()
                );
            }
            if f != onnx {
                assert!(
                    !names(&text, ort),
                    "{}: ONNX Runtime calls belong in detect/onnx.rs",
                    f.display()
                );
            }
        }
    }

    /// The longest a function may be, outside tests.
    const MAX_FN_LINES: usize = 120;

    /// Functions longer than `max` lines in `text`, as (name, first line,
    /// lines). Code after the first `#[cfg(test)]` is tests and not
    /// counted. Braces in string and char literals and comments are
    /// skipped.
    fn long_functions(text: &str, max: usize) -> Vec<(String, usize, usize)> {
        let lines: Vec<&str> = text.lines().collect();
        let end = (lines.iter())
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        let braces = |line: &str| -> (i64, bool) {
            let (mut depth, mut opened, mut in_str) = (0i64, false, false);
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if in_str => {
                        chars.next();
                    }
                    '"' => in_str = !in_str,
                    '/' if !in_str && chars.peek() == Some(&'/') => break,
                    '\'' if !in_str => {
                        // A char literal ('{', '\n'); a lifetime has no
                        // closing quote and is left alone.
                        let rest: String = chars.clone().take(3).collect();
                        if rest.chars().nth(1) == Some('\'') {
                            chars.nth(1);
                        } else if rest.starts_with('\\') {
                            chars.nth(2);
                        }
                    }
                    '{' if !in_str => {
                        depth += 1;
                        opened = true;
                    }
                    '}' if !in_str => depth -= 1,
                    _ => {}
                }
            }
            (depth, opened)
        };
        let mut out = Vec::new();
        for (i, line) in lines[..end].iter().enumerate() {
            let t = line.trim_start();
            let Some(at) = t.find("fn ") else { continue };
            let before = &t[..at];
            let is_fn = before.split_whitespace().all(|w| {
                [
                    "pub",
                    "pub(crate)",
                    "pub(super)",
                    "const",
                    "async",
                    "unsafe",
                    "extern",
                ]
                .contains(&w)
                    || w.starts_with("\"")
            });
            if !is_fn || t.starts_with("//") {
                continue;
            }
            let name: String = t[at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let (mut depth, mut started) = (0i64, false);
            for (j, l) in lines[i..].iter().enumerate() {
                let (d, opened) = braces(l);
                depth += d;
                started |= opened;
                if !started && l.trim_end().ends_with(';') {
                    break;
                }
                if started && depth <= 0 {
                    if j + 1 > max {
                        out.push((name.clone(), i + 1, j + 1));
                    }
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn no_function_is_longer_than_the_limit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in [
            "crates/obscura-core/src",
            "crates/obscura-cli/src",
            "python/src",
            "src",
        ] {
            files.extend(rust_files(&root.join(dir)));
        }
        assert!(files.len() > 30, "the workspace's sources were not found");
        let mut long = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            for (name, line, n) in long_functions(&text, MAX_FN_LINES) {
                long.push(format!("{}:{line} {name}: {n} lines", f.display()));
            }
        }
        assert!(
            long.is_empty(),
            "functions over {MAX_FN_LINES} lines:\n{}",
            long.join("\n")
        );
    }

    /// The counter sees a long function, and is not fooled by braces in
    /// strings, chars or comments.
    #[test]
    fn a_long_function_is_seen() {
        let body = "    let s = \"}}}\"; let c = '}'; // }\n".repeat(5);
        let text = format!("pub fn f<'a>(x: &'a str) {{\n{body}}}\nfn g() {{}}\n");
        assert_eq!(long_functions(&text, 3), [("f".to_string(), 1, 7)]);
        assert!(long_functions(&text, 7).is_empty());
        let tests = format!("#[cfg(test)]\n{text}");
        assert!(long_functions(&tests, 3).is_empty());
    }

    /// Whether `text` has `word` not inside a longer identifier.
    fn names(text: &str, word: &str) -> bool {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        text.match_indices(word).any(|(i, _)| {
            let before = text[..i].chars().next_back().is_some_and(ident);
            let after =
                word.ends_with(ident) && text[i + word.len()..].chars().next().is_some_and(ident);
            !before && !after
        })
    }

    /// The check itself: a use that breaks a rule is found.
    #[test]
    fn a_forbidden_use_is_seen() {
        let dir = std::env::temp_dir().join(format!("obscura-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("x.rs");
        std::fs::write(
            &f,
            "//! [`crate::media`] in a doc\nuse crate::media::probe;\n",
        )
        .expect("write");
        let found = uses(&f);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["media"]);
        assert!(names("use ort::Session;", "ort::"));
        assert!(!names("crate::pipeline::export::read", "ort::"));
    }
}
