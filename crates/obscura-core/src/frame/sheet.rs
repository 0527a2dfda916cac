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

/// One cell of a contact sheet: one or two thumbnails side by side (a
/// person's body and face), with up to three lines of label beneath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Thumbnails, left to right (the first two are drawn).
    pub thumbs: Vec<Thumb>,
    /// Label lines, top to bottom (the first three are drawn).
    pub lines: Vec<String>,
}

/// Writes a contact sheet of `cells` as PNG into `out`, four per row, each
/// two thumbnails wide and labelled beneath in white on black, and commits
/// it.
///
/// # Errors
/// `NotFound` when the label font is missing; `Io` when the file cannot be
/// written; nothing is left behind then.
pub fn write_contact_sheet(out: PendingFile, cells: &[Cell]) -> Result<()> {
    const COLS: usize = 4;
    const LINE: usize = 17;
    let cols = COLS.min(cells.len().max(1));
    let rows = cells.len().div_ceil(COLS).max(1);
    let (cw, ch) = (2 * THUMB + 10, THUMB + 3 * LINE + 8);
    let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut img = RgbImage::new(size(cols * cw), size(rows * ch));
    for (n, cell) in cells.iter().enumerate() {
        let (ox, oy) = ((n % COLS) * cw + 4, (n / COLS) * ch + 4);
        for (k, thumb) in cell.thumbs.iter().take(2).enumerate() {
            let tx = ox + k * (THUMB + 2);
            for y in 0..THUMB {
                for x in 0..THUMB {
                    let i = (y * THUMB + x) * 3;
                    let px = [thumb.0[i], thumb.0[i + 1], thumb.0[i + 2]];
                    img.put_pixel(size(tx + x), size(oy + y), image::Rgb(px));
                }
            }
        }
        for (k, line) in cell.lines.iter().take(3).enumerate() {
            let px = if k == 0 { 15.0 } else { 13.0 };
            draw::label_rgb(
                &mut img,
                size(ox),
                size(oy + THUMB + 2 + k * LINE),
                line,
                px,
            )?;
        }
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
