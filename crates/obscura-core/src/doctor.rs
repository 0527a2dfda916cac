//! Checks that an installation has what Obscura needs: FFmpeg with x264,
//! ONNX Runtime, the pinned models (and that they load and run), and the
//! sample footage. `obscura doctor` prints this.

use crate::detect::{models, onnx};
use crate::media;
use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Version, path or the problem and how to fix it.
    pub detail: String,
}

fn check(name: impl Into<String>, r: crate::Result<String>) -> Check {
    match r {
        Ok(detail) => Check {
            name: name.into(),
            ok: true,
            detail,
        },
        Err(e) => Check {
            name: name.into(),
            ok: false,
            detail: e.to_string(),
        },
    }
}

/// Runs every check. Models are loaded and run once on a blank input, so a
/// file that is present but unusable is caught here rather than mid-job.
pub fn run() -> Vec<Check> {
    let mut out = Vec::new();
    let lib = media::library_info();
    out.push(Check {
        name: "ffmpeg".into(),
        ok: lib.libx264,
        detail: format!(
            "libavcodec {}, libavformat {}, libx264 {}",
            lib.avcodec,
            lib.avformat,
            if lib.libx264 {
                "present"
            } else {
                "MISSING (install Debian's ffmpeg libraries: run `bash scripts/setup.sh`)"
            }
        ),
    });
    out.push(check(
        "onnxruntime",
        onnx::init(None).and_then(|p| {
            let arena = onnx::arena_mode()?;
            Ok(format!("{} (models' memory: {arena})", p.display()))
        }),
    ));
    for m in models::all() {
        let r = m.verify().and_then(|path| {
            let mut model = onnx::Model::load(&path, 1)?;
            if m.name.starts_with("centerface") {
                model.expect_io(&["input.1"], &["537", "538", "539", "540"])?;
                let outs = model.run("input.1", ndarray::Array4::zeros((1, 3, 32, 32)))?;
                let heat = outs
                    .iter()
                    .find(|t| t.name == "537")
                    .map(|t| t.shape().to_vec());
                if heat != Some(vec![1, 1, 8, 8]) {
                    return Err(crate::Error::new(
                        crate::ErrorKind::Model,
                        format!("centerface heatmap has shape {heat:?}, expected [1, 1, 8, 8]"),
                    ));
                }
            }
            Ok(format!("{} (sha256 ok, loads)", path.display()))
        });
        out.push(check(format!("model {}", m.name), r));
    }
    out.push(check(
        "label font",
        crate::frame::draw::font().map(|_| crate::frame::draw::font_path().display().to_string()),
    ));
    for s in [
        "carphone_pristine.mp4",
        "bikes.mp4",
        "bigbuckbunny.mp4",
        "vtest.avi",
        "Megamind.avi",
    ] {
        let p = crate::home().join("samples").join(s);
        out.push(check(
            format!("sample {s}"),
            if p.is_file() {
                Ok(p.display().to_string())
            } else {
                Err(crate::Error::new(
                    crate::ErrorKind::NotFound,
                    format!("{} missing (run `bash scripts/setup.sh`)", p.display()),
                ))
            },
        ));
    }
    out
}
