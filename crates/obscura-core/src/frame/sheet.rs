//! Track thumbnails and the contact sheet an officer picks the requester
//! from: one labelled thumbnail per track, written as a PNG.

use crate::error::{Error, ErrorKind, Result};
use crate::frame::BBox;
use crate::frame::FrameView;
use crate::output::PendingFile;

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

/// 3x5 bitmaps of the characters labels use.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'F' => [7, 4, 6, 4, 4],
        'P' => [6, 5, 6, 4, 4],
        '#' => [5, 7, 5, 7, 5],
        _ => [0; 5],
    }
}

/// Writes a contact sheet of `(label, thumbnail)` cells as PNG into `out`,
/// six per row, each labelled beneath in white on black, and commits it.
///
/// # Errors
/// `Io` when the file cannot be written; nothing is left behind then.
pub fn write_contact_sheet(out: PendingFile, cells: &[(String, Thumb)]) -> Result<()> {
    const COLS: usize = 6;
    const LABEL: usize = 16;
    const SCALE: usize = 2;
    let cols = COLS.min(cells.len().max(1));
    let rows = cells.len().div_ceil(COLS).max(1);
    let (cw, ch) = (THUMB + 4, THUMB + LABEL + 4);
    let (w, h) = (cols * cw, rows * ch);
    let mut img = vec![0u8; w * h * 3];
    for (n, (label, thumb)) in cells.iter().enumerate() {
        let (ox, oy) = ((n % COLS) * cw + 2, (n / COLS) * ch + 2);
        for y in 0..THUMB {
            let src = &thumb.0[y * THUMB * 3..(y + 1) * THUMB * 3];
            let dst = ((oy + y) * w + ox) * 3;
            img[dst..dst + THUMB * 3].copy_from_slice(src);
        }
        for (k, c) in label.chars().enumerate() {
            let g = glyph(c);
            for (gy, bits) in g.iter().enumerate() {
                for gx in 0..3 {
                    if bits & (4 >> gx) == 0 {
                        continue;
                    }
                    for sy in 0..SCALE {
                        for sx in 0..SCALE {
                            let x = ox + 2 + k * 4 * SCALE + gx * SCALE + sx;
                            let y = oy + THUMB + 3 + gy * SCALE + sy;
                            if x < w && y < h {
                                let i = (y * w + x) * 3;
                                img[i..i + 3].copy_from_slice(&[255, 255, 255]);
                            }
                        }
                    }
                }
            }
        }
    }
    let path = out.dest().to_path_buf();
    let path = path.as_path();
    {
        let file = std::fs::File::create(out.tmp_path())
            .map_err(|e| Error::io(e, "cannot write contact sheet").with_path(path))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let png_err = |e: png::EncodingError| {
            Error::new(ErrorKind::Io, format!("cannot write contact sheet: {e}")).with_path(path)
        };
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(&img).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    out.commit()?;
    Ok(())
}

/// Encodes a picture as a baseline JPEG about `width` pixels wide, straight
/// from its YCbCr planes (nearest-neighbour scaling, no RGB step).
///
/// # Errors
/// `Encode` if the encoder fails.
pub fn encode_jpeg(frame: &FrameView<'_>, width: usize) -> Result<Vec<u8>> {
    let (fw, fh) = (frame.width(), frame.height());
    let tw = width.clamp(16, fw.max(16)).min(fw);
    let th = ((fh * tw) / fw).max(1);
    let (y, u, v) = (frame.plane(0), frame.plane(1), frame.plane(2));
    let mut data = Vec::with_capacity(tw * th * 3);
    for ty in 0..th {
        let sy = ty * fh / th;
        let (ry, ru, rv) = (y.row(sy), u.row(sy / 2), v.row(sy / 2));
        for tx in 0..tw {
            let sx = tx * fw / tw;
            data.extend_from_slice(&[ry[sx], ru[sx / 2], rv[sx / 2]]);
        }
    }
    let mut bytes = Vec::new();
    let enc_err = |e: jpeg_encoder::EncodingError| {
        Error::new(ErrorKind::Encode, format!("cannot encode thumbnail: {e}"))
    };
    let (tw16, th16) = (
        u16::try_from(tw).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("thumbnail width {tw} too large"),
            )
        })?,
        u16::try_from(th).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("thumbnail height {th} too large"),
            )
        })?,
    );
    jpeg_encoder::Encoder::new(&mut bytes, 80)
        .encode(&data, tw16, th16, jpeg_encoder::ColorType::Ycbcr)
        .map_err(enc_err)?;
    Ok(bytes)
}
