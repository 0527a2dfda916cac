//! Track thumbnails and the contact sheet an officer picks the requester
//! from: one labelled thumbnail per track, written as a PNG.

use crate::error::Result;
use crate::frame::draw;
use crate::frame::BBox;
use crate::frame::FrameView;
use crate::output::PendingFile;
use image::RgbImage;

/// Side of a thumbnail in pixels.
pub const THUMB: usize = 96;

/// An RGB thumbnail, `THUMB`x`THUMB`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb(pub Vec<u8>);

/// Crops `bbox` (enlarged 1.6x for context, made square) from `frame` and
/// scales it to a thumbnail (nearest neighbour, BT.601 to RGB).
pub fn thumbnail(frame: &FrameView<'_>, bbox: &BBox) -> Thumb {
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    let side = bbox.w.max(bbox.h) * 1.6;
    let (cx, cy) = (bbox.x + bbox.w / 2.0, bbox.y + bbox.h / 2.0);
    let (x0, y0) = (cx - side / 2.0, cy - side / 2.0);
    let (yp, up, vp) = (frame.plane(0), frame.plane(1), frame.plane(2));
    let mut out = vec![0u8; THUMB * THUMB * 3];
    for ty in 0..THUMB {
        let sy = (y0 + (ty as f32 + 0.5) * side / THUMB as f32).clamp(0.0, h - 1.0) as usize;
        for tx in 0..THUMB {
            let sx = (x0 + (tx as f32 + 0.5) * side / THUMB as f32).clamp(0.0, w - 1.0) as usize;
            let rgb = crate::frame::yuv_to_rgb(
                f32::from(yp.row(sy)[sx]),
                up.row(sy / 2)[sx / 2],
                vp.row(sy / 2)[sx / 2],
            );
            let i = (ty * THUMB + tx) * 3;
            for (o, c) in out[i..i + 3].iter_mut().zip(rgb) {
                *o = c as u8;
            }
        }
    }
    Thumb(out)
}

/// Writes a contact sheet of `(label, thumbnail)` cells as PNG into `out`,
/// six per row, each labelled beneath in white on black, and commits it.
///
/// # Errors
/// `NotFound` when the label font is missing; `Io` when the file cannot be
/// written; nothing is left behind then.
pub fn write_contact_sheet(out: PendingFile, cells: &[(String, Thumb)]) -> Result<()> {
    const COLS: usize = 6;
    const LABEL: usize = 18;
    let cols = COLS.min(cells.len().max(1));
    let rows = cells.len().div_ceil(COLS).max(1);
    let (cw, ch) = (THUMB + 4, THUMB + LABEL + 4);
    let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut img = RgbImage::new(size(cols * cw), size(rows * ch));
    for (n, (label, thumb)) in cells.iter().enumerate() {
        let (ox, oy) = ((n % COLS) * cw + 2, (n / COLS) * ch + 2);
        for y in 0..THUMB {
            for x in 0..THUMB {
                let i = (y * THUMB + x) * 3;
                let px = [thumb.0[i], thumb.0[i + 1], thumb.0[i + 2]];
                img.put_pixel(size(ox + x), size(oy + y), image::Rgb(px));
            }
        }
        draw::label_rgb(&mut img, size(ox), size(oy + THUMB + 1), label, 14.0)?;
    }
    draw::write_png(out, &img)
}

/// Encodes a picture as a baseline JPEG about `width` pixels wide
/// (nearest-neighbour scaling, BT.601 to RGB).
///
/// # Errors
/// `Encode` if the encoder fails.
pub fn encode_jpeg(frame: &FrameView<'_>, width: usize) -> Result<Vec<u8>> {
    let (fw, fh) = (frame.width(), frame.height());
    let tw = width.clamp(16, fw.max(16)).min(fw);
    let th = ((fh * tw) / fw).max(1);
    let (y, u, v) = (frame.plane(0), frame.plane(1), frame.plane(2));
    let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut img = RgbImage::new(size(tw), size(th));
    for ty in 0..th {
        let sy = ty * fh / th;
        let (ry, ru, rv) = (y.row(sy), u.row(sy / 2), v.row(sy / 2));
        for tx in 0..tw {
            let sx = tx * fw / tw;
            let rgb = crate::frame::yuv_to_rgb(f32::from(ry[sx]), ru[sx / 2], rv[sx / 2]);
            img.put_pixel(size(tx), size(ty), image::Rgb(rgb.map(|c| c as u8)));
        }
    }
    draw::jpeg_bytes(&img, 80)
}
