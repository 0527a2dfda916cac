//! The one drawing and picture-output path: text is set in DejaVu Sans Mono
//! Bold (the font the setup installs, rasterised by `ab_glyph` through
//! `imageproc`), and pictures are encoded with `image` (PNG for contact
//! sheets, JPEG for incident thumbnails). Labels on a contact sheet and the
//! time burned into a working copy are the same text drawn the same way.

use crate::error::{Error, ErrorKind, Result};
use crate::frame::FrameViewMut;
use crate::output::PendingFile;
use ab_glyph::{FontVec, PxScale};
use image::{ExtendedColorType, GrayImage, ImageEncoder, Luma, RgbImage};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where the font is looked for: `$OBSCURA_FONT`, else the file Debian's
/// `fonts-dejavu-core` installs (the setup installs that package).
pub fn font_path() -> PathBuf {
    match std::env::var_os("OBSCURA_FONT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"),
    }
}

/// The font, read once per process.
///
/// # Errors
/// `NotFound` when the file is missing, `Unsupported` when it is not a font.
pub fn font() -> Result<&'static FontVec> {
    static FONT: OnceLock<std::result::Result<FontVec, (ErrorKind, String)>> = OnceLock::new();
    let path = font_path();
    let loaded = FONT.get_or_init(|| {
        let bytes = std::fs::read(&path).map_err(|e| {
            (
                ErrorKind::NotFound,
                format!(
                    "cannot read the label font {} ({e}): install fonts-dejavu-core (bash scripts/setup.sh) or set OBSCURA_FONT",
                    path.display()
                ),
            )
        })?;
        FontVec::try_from_vec(bytes).map_err(|e| {
            (
                ErrorKind::Unsupported,
                format!("{} is not a usable font: {e}", path.display()),
            )
        })
    });
    loaded
        .as_ref()
        .map_err(|(kind, msg)| Error::new(*kind, msg.clone()))
}

/// `text` as a coverage mask (255 = ink) on a box `margin` pixels larger
/// than the text on every side, the text `px` pixels high.
///
/// # Errors
/// As [`font`].
pub fn text_mask(text: &str, px: f32, margin: u32) -> Result<GrayImage> {
    let font = font()?;
    let scale = PxScale::from(px);
    let (tw, th) = imageproc::drawing::text_size(scale, font, text);
    let mut mask = GrayImage::new(tw + 2 * margin, th.max(px as u32) + 2 * margin);
    let at = i32::try_from(margin).unwrap_or(0);
    imageproc::drawing::draw_text_mut(&mut mask, Luma([255]), at, at, scale, font, text);
    Ok(mask)
}

/// Draws `text` in white on a black box at `(x, y)` of an RGB picture.
///
/// # Errors
/// As [`font`].
pub fn label_rgb(img: &mut RgbImage, x: u32, y: u32, text: &str, px: f32) -> Result<()> {
    let mask = text_mask(text, px, 1)?;
    for (mx, my, ink) in mask.enumerate_pixels() {
        let (px_x, px_y) = (x + mx, y + my);
        if px_x < img.width() && px_y < img.height() {
            let v = ink.0[0];
            img.put_pixel(px_x, px_y, image::Rgb([v, v, v]));
        }
    }
    Ok(())
}

/// Burns `text` into the top left of a YUV 4:2:0 picture, white on a black
/// box, its height a twentieth of the picture's (at least 12 pixels). The
/// box's chroma is set neutral, so the text is grey whatever was beneath.
///
/// # Errors
/// As [`font`].
pub fn burn_text(view: &mut FrameViewMut<'_>, text: &str) -> Result<()> {
    let (w, h) = (view.width(), view.height());
    let px = (h as f32 / 20.0).max(12.0);
    let mask = text_mask(text, px, (px / 6.0) as u32)?;
    let (bw, bh) = (
        (mask.width() as usize).min(w),
        (mask.height() as usize).min(h),
    );
    let planes = view.planes_mut();
    for y in 0..bh {
        let row = planes[0].row_mut(y);
        for (x, out) in row.iter_mut().enumerate().take(bw) {
            // Video range: 16 black, 235 white.
            let ink = u32::from(mask.get_pixel(x as u32, y as u32).0[0]);
            *out = (16 + ink * (235 - 16) / 255) as u8;
        }
    }
    let (cw, ch) = (bw.div_ceil(2), bh.div_ceil(2));
    for plane in planes.iter_mut().skip(1) {
        for y in 0..ch.min(plane.height()) {
            let row = plane.row_mut(y);
            let end = cw.min(row.len());
            row[..end].fill(128);
        }
    }
    Ok(())
}

/// Writes an RGB picture as PNG into `out` and commits it.
///
/// # Errors
/// `Io` when the file cannot be written; nothing is left behind then.
pub fn write_png(out: PendingFile, img: &RgbImage) -> Result<()> {
    let path = out.dest().to_path_buf();
    let png_err = |e: image::ImageError| {
        Error::new(ErrorKind::Io, format!("cannot write PNG: {e}")).with_path(&path)
    };
    {
        let file = std::fs::File::create(out.tmp_path())
            .map_err(|e| Error::io(e, "cannot write PNG").with_path(&path))?;
        let writer = std::io::BufWriter::new(file);
        image::codecs::png::PngEncoder::new(writer)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .map_err(png_err)?;
    }
    out.commit().map(|_| ())
}

/// An RGB picture as baseline JPEG bytes at `quality` (1-100).
///
/// # Errors
/// `Encode` if the encoder fails.
pub fn jpeg_bytes(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::new(ErrorKind::Encode, format!("cannot encode JPEG: {e}")))?;
    Ok(bytes)
}

/// A JPEG (an incident thumbnail) decoded to an `height x width x 3` RGB
/// array.
///
/// # Errors
/// `Corrupt` when the bytes are not a JPEG it can decode.
pub fn decode_jpeg(bytes: &[u8]) -> Result<ndarray::Array3<u8>> {
    let corrupt = |e: String| Error::new(ErrorKind::Corrupt, format!("cannot decode JPEG: {e}"));
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .map_err(|e| corrupt(e.to_string()))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    ndarray::Array3::from_shape_vec((h, w, 3), img.into_raw()).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;

    #[test]
    fn text_is_drawn_with_the_font_and_only_inside_its_box() {
        let mask = text_mask("2026-11-03 08:15:25.040 UTC", 20.0, 2).expect("font");
        assert!(
            mask.width() > 8 * mask.height(),
            "{}x{}",
            mask.width(),
            mask.height()
        );
        let ink = mask.pixels().filter(|p| p.0[0] > 128).count();
        assert!(ink > 100, "{ink} inked pixels");

        let mut frame = OwnedFrame::filled(320, 240, [100, 60, 200]).expect("frame");
        burn_text(&mut frame.view_mut(), "08:15:25").expect("burn");
        let view = frame.view();
        let luma = view.plane(0);
        let top: Vec<u8> = (0..16).flat_map(|y| luma.row(y)[..40].to_vec()).collect();
        assert!(
            top.contains(&16) && top.iter().any(|&v| v > 200),
            "black box and white text"
        );
        assert_eq!(
            luma.row(239)[319],
            100,
            "the rest of the picture is untouched"
        );
        assert_eq!(view.plane(1).row(1)[1], 128, "the box's chroma is neutral");
        assert_eq!(view.plane(1).row(119)[159], 60);
    }

    #[test]
    fn pictures_encode_to_png_and_jpeg_that_decode_back() {
        let mut img = RgbImage::new(64, 32);
        label_rgb(&mut img, 2, 2, "#3F", 14.0).expect("label");
        let jpeg = jpeg_bytes(&img, 80).expect("jpeg");
        let rgb = decode_jpeg(&jpeg).expect("decodes");
        assert_eq!(rgb.dim(), (32, 64, 3));
        assert_eq!(
            decode_jpeg(b"not a jpeg").expect_err("garbage").kind(),
            ErrorKind::Corrupt
        );
        let dir = std::env::temp_dir().join(format!("obscura-draw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let dest = dir.join("sheet.png");
        write_png(PendingFile::new(&dest, &[]).expect("claim"), &img).expect("png");
        let png = image::open(&dest).expect("decodes").to_rgb8();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(png, img, "PNG is lossless");
    }
}
