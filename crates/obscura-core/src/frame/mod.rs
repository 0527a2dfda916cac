//! The core's own planar frame view.
//!
//! Every analysis (masks, detection, tracking, motion) sees pictures only
//! through [`FrameView`] / [`FrameViewMut`]: three 8-bit planes of a YUV 4:2:0
//! picture, each a borrowed slice with its own stride. Decoded frames lend
//! their buffers without copying; [`OwnedFrame`] backs synthetic frames in
//! tests and frames handed over from other languages.

pub mod draw;
pub mod sheet;

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// One borrowed 8-bit plane: `height` rows of `width` visible bytes, each row
/// starting `stride` bytes after the previous one.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    data: &'a [u8],
    stride: usize,
    width: usize,
    height: usize,
}

impl<'a> Plane<'a> {
    /// Wraps `data` as a plane, checking that every row fits.
    pub fn new(data: &'a [u8], stride: usize, width: usize, height: usize) -> Result<Self> {
        check_plane(data.len(), stride, width, height)?;
        Ok(Plane {
            data,
            stride,
            width,
            height,
        })
    }

    /// Visible width in samples.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes from the start of one row to the start of the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `y`, visible samples only.
    ///
    /// # Panics
    /// If `y >= height` (a programming error, not a user input).
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }

    /// The visible rows, top to bottom.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let (data, stride, width) = (self.data, self.stride, self.width);
        (0..self.height).map(move |y| &data[y * stride..y * stride + width])
    }
}

/// One mutably borrowed 8-bit plane.
#[derive(Debug)]
pub struct PlaneMut<'a> {
    data: &'a mut [u8],
    stride: usize,
    width: usize,
    height: usize,
}

impl<'a> PlaneMut<'a> {
    /// Wraps `data` as a writable plane, checking that every row fits.
    pub fn new(data: &'a mut [u8], stride: usize, width: usize, height: usize) -> Result<Self> {
        check_plane(data.len(), stride, width, height)?;
        Ok(PlaneMut {
            data,
            stride,
            width,
            height,
        })
    }

    /// Visible width in samples.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes from the start of one row to the start of the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `y`, visible samples only.
    ///
    /// # Panics
    /// If `y >= height`.
    pub fn row(&self, y: usize) -> &[u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }

    /// Row `y` for writing, visible samples only.
    ///
    /// # Panics
    /// If `y >= height`.
    pub fn row_mut(&mut self, y: usize) -> &mut [u8] {
        let start = y * self.stride;
        &mut self.data[start..start + self.width]
    }

    /// A read-only view of the same plane.
    pub fn as_plane(&self) -> Plane<'_> {
        Plane {
            data: self.data,
            stride: self.stride,
            width: self.width,
            height: self.height,
        }
    }
}

fn check_plane(len: usize, stride: usize, width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid plane size {width}x{height} (expected both >= 1)"),
        ));
    }
    if stride < width {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid stride {stride} (expected >= width {width})"),
        ));
    }
    let needed = stride
        .checked_mul(height - 1)
        .and_then(|n| n.checked_add(width))
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "plane size overflows"))?;
    if len < needed {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("plane buffer of {len} bytes is too small (expected >= {needed})"),
        ));
    }
    Ok(())
}

/// One BT.601 limited-range YUV sample to RGB (0..255, clamped). Luma is a
/// float so callers may pass an interpolated value.
pub fn yuv_to_rgb(y: f32, u: u8, v: u8) -> [f32; 3] {
    let y = 1.164 * (y - 16.0);
    let (u, v) = (f32::from(u) - 128.0, f32::from(v) - 128.0);
    [
        (y + 1.596 * v).clamp(0.0, 255.0),
        (y - 0.392 * u - 0.813 * v).clamp(0.0, 255.0),
        (y + 2.017 * u).clamp(0.0, 255.0),
    ]
}

/// One row of BT.601 limited-range 4:2:0 to interleaved RGB, in 8-bit fixed
/// point (the same coefficients as [`yuv_to_rgb`], scaled by 256): each
/// chroma sample serves the two luma samples above it (no chroma
/// interpolation, as FFmpeg's own fast path does). `out` holds
/// `3 * y.len()` bytes.
fn rgb_row(y: &[u8], u: &[u8], v: &[u8], out: &mut [u8]) {
    #[inline(always)]
    fn px(l: u8, dr: i32, dg: i32, db: i32, out: &mut [u8]) {
        let c = (i32::from(l) - 16) * 298 + 128;
        out[0] = ((c + dr) >> 8).clamp(0, 255) as u8;
        out[1] = ((c + dg) >> 8).clamp(0, 255) as u8;
        out[2] = ((c + db) >> 8).clamp(0, 255) as u8;
    }
    let pairs = y.len() / 2;
    for (((o, l), &cu), &cv) in out[..pairs * 6]
        .chunks_exact_mut(6)
        .zip(y.chunks_exact(2))
        .zip(u)
        .zip(v)
    {
        let (d, e) = (i32::from(cu) - 128, i32::from(cv) - 128);
        let (dr, dg, db) = (409 * e, -100 * d - 208 * e, 516 * d);
        let (a, b) = o.split_at_mut(3);
        px(l[0], dr, dg, db, a);
        px(l[1], dr, dg, db, b);
    }
    if y.len() % 2 == 1 {
        let (d, e) = (i32::from(u[pairs]) - 128, i32::from(v[pairs]) - 128);
        px(
            y[pairs * 2],
            409 * e,
            -100 * d - 208 * e,
            516 * d,
            &mut out[pairs * 6..pairs * 6 + 3],
        );
    }
}

/// One RGB pixel to BT.601 limited-range Y, U, V in fixed point (the inverse
/// of [`rgb_row`]).
fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (i32, i32, i32) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    (
        ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16,
        ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128,
        ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128,
    )
}

/// Chroma plane size for a 4:2:0 picture of `width`x`height`.
pub fn chroma_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// A borrowed YUV 4:2:0 picture: luma `Y` at full size, `U` and `V` at half
/// size (rounded up).
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    planes: [Plane<'a>; 3],
}

impl<'a> FrameView<'a> {
    /// Assembles a view from three planes, checking 4:2:0 geometry.
    pub fn new(y: Plane<'a>, u: Plane<'a>, v: Plane<'a>) -> Result<Self> {
        check_420(
            (y.width, y.height),
            (u.width, u.height),
            (v.width, v.height),
        )?;
        Ok(FrameView { planes: [y, u, v] })
    }

    /// Picture width (luma samples).
    pub fn width(&self) -> usize {
        self.planes[0].width
    }

    /// Picture height (luma rows).
    pub fn height(&self) -> usize {
        self.planes[0].height
    }

    /// Plane 0 (Y), 1 (U) or 2 (V).
    ///
    /// # Panics
    /// If `index > 2`.
    pub fn plane(&self, index: usize) -> Plane<'a> {
        self.planes[index]
    }

    /// The luma plane.
    pub fn luma(&self) -> Plane<'a> {
        self.planes[0]
    }

    /// SHA-256 of the visible samples, Y then U then V, row by row (padding
    /// excluded): equal pictures hash equal whatever their strides.
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in &self.planes {
            for row in p.rows() {
                h.update(row);
            }
        }
        h.finalize().into()
    }

    /// [`FrameView::sha256`] as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256())
    }

    /// The picture as interleaved 8-bit RGB, `height` rows of `width * 3`
    /// bytes (BT.601 limited range, the matrix FFmpeg's converters assume
    /// by default).
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut out = vec![0; self.width() * self.height() * 3];
        self.write_rgb(&mut out);
        out
    }

    /// [`FrameView::to_rgb`] into a caller's buffer of exactly
    /// `width * height * 3` bytes, so a buffer can be reused or owned by
    /// someone else (a numpy array).
    ///
    /// # Panics
    /// If `out` has another length.
    pub fn write_rgb(&self, out: &mut [u8]) {
        let (w, h) = (self.width(), self.height());
        assert_eq!(out.len(), w * h * 3, "RGB buffer size");
        let [y, u, v] = &self.planes;
        for (r, row) in out.chunks_exact_mut(w * 3).enumerate() {
            rgb_row(y.row(r), u.row(r / 2), v.row(r / 2), row);
        }
    }

    /// The luma plane as `height` tight rows of `width` bytes.
    pub fn to_gray(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width() * self.height());
        for row in self.planes[0].rows() {
            out.extend_from_slice(row);
        }
        out
    }

    /// The luma plane as a `height x width` array (what numpy users get).
    pub fn gray_array(&self) -> ndarray::Array2<u8> {
        let mut out = ndarray::Array2::zeros((self.height(), self.width()));
        for (mut dst, src) in out.rows_mut().into_iter().zip(self.planes[0].rows()) {
            dst.assign(&ndarray::ArrayView1::from(src));
        }
        out
    }

    /// [`FrameView::to_gray`] into a caller's buffer of exactly
    /// `width * height` bytes.
    ///
    /// # Panics
    /// If `out` has another length.
    pub fn write_gray(&self, out: &mut [u8]) {
        let w = self.width();
        assert_eq!(out.len(), w * self.height(), "luma buffer size");
        for (dst, src) in out.chunks_exact_mut(w).zip(self.planes[0].rows()) {
            dst.copy_from_slice(src);
        }
    }

    /// Copies the visible samples into an [`OwnedFrame`] with tight strides.
    pub fn to_owned_frame(&self) -> OwnedFrame {
        let mut planes: [Vec<u8>; 3] = Default::default();
        for (dst, src) in planes.iter_mut().zip(self.planes.iter()) {
            dst.reserve_exact(src.width * src.height);
            for row in src.rows() {
                dst.extend_from_slice(row);
            }
        }
        OwnedFrame {
            width: self.width(),
            height: self.height(),
            planes,
        }
    }
}

/// A mutably borrowed YUV 4:2:0 picture.
#[derive(Debug)]
pub struct FrameViewMut<'a> {
    planes: [PlaneMut<'a>; 3],
}

impl<'a> FrameViewMut<'a> {
    /// Assembles a writable view from three planes, checking 4:2:0 geometry.
    pub fn new(y: PlaneMut<'a>, u: PlaneMut<'a>, v: PlaneMut<'a>) -> Result<Self> {
        check_420(
            (y.width, y.height),
            (u.width, u.height),
            (v.width, v.height),
        )?;
        Ok(FrameViewMut { planes: [y, u, v] })
    }

    /// Picture width (luma samples).
    pub fn width(&self) -> usize {
        self.planes[0].width
    }

    /// Picture height (luma rows).
    pub fn height(&self) -> usize {
        self.planes[0].height
    }

    /// Plane 0 (Y), 1 (U) or 2 (V) for writing.
    ///
    /// # Panics
    /// If `index > 2`.
    pub fn plane_mut(&mut self, index: usize) -> &mut PlaneMut<'a> {
        &mut self.planes[index]
    }

    /// All three planes at once, for kernels that write luma and chroma together.
    pub fn planes_mut(&mut self) -> &mut [PlaneMut<'a>; 3] {
        &mut self.planes
    }

    /// A read-only view of the same picture.
    pub fn as_view(&self) -> FrameView<'_> {
        FrameView {
            planes: [
                self.planes[0].as_plane(),
                self.planes[1].as_plane(),
                self.planes[2].as_plane(),
            ],
        }
    }
}

fn check_420(y: (usize, usize), u: (usize, usize), v: (usize, usize)) -> Result<()> {
    let c = chroma_size(y.0, y.1);
    if u != c || v != c {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "chroma planes {}x{} and {}x{} do not match a 4:2:0 picture of {}x{} (expected {}x{})",
                u.0, u.1, v.0, v.1, y.0, y.1, c.0, c.1
            ),
        ));
    }
    Ok(())
}

/// A YUV 4:2:0 picture that owns its tightly packed planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    width: usize,
    height: usize,
    planes: [Vec<u8>; 3],
}

impl OwnedFrame {
    /// A picture of `width`x`height` filled with one colour.
    pub fn filled(width: usize, height: usize, yuv: [u8; 3]) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid frame size {width}x{height} (expected both >= 1)"),
            ));
        }
        let (cw, ch) = chroma_size(width, height);
        Ok(OwnedFrame {
            width,
            height,
            planes: [
                vec![yuv[0]; width * height],
                vec![yuv[1]; cw * ch],
                vec![yuv[2]; cw * ch],
            ],
        })
    }

    /// Wraps tightly packed planes (no row padding), checking their sizes.
    pub fn from_planes(width: usize, height: usize, planes: [Vec<u8>; 3]) -> Result<Self> {
        let frame = OwnedFrame::filled(width, height, [0; 3])?;
        for (i, (have, want)) in planes.iter().zip(frame.planes.iter()).enumerate() {
            if have.len() != want.len() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "plane {i} has {} bytes (expected {} for a {width}x{height} 4:2:0 frame)",
                        have.len(),
                        want.len()
                    ),
                ));
            }
        }
        Ok(OwnedFrame {
            width,
            height,
            planes,
        })
    }

    /// Converts interleaved 8-bit RGB (`height` rows of `width * 3` bytes,
    /// rows `stride` bytes apart) to BT.601 limited-range 4:2:0, each chroma
    /// sample the average of the 2x2 block it covers. The inverse of
    /// [`FrameView::to_rgb`] up to chroma subsampling and rounding.
    ///
    /// # Errors
    /// `InvalidArgument` for a zero size or a buffer too small.
    pub fn from_rgb(width: usize, height: usize, rgb: &[u8], stride: usize) -> Result<Self> {
        let row = width
            .checked_mul(3)
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "RGB width overflows"))?;
        let mut frame = OwnedFrame::filled(width, height, [0; 3])?;
        check_plane(rgb.len(), stride, row, height)?;
        let (cw, _) = chroma_size(width, height);
        let [yp, up, vp] = &mut frame.planes;
        let mut acc = vec![(0i32, 0i32, 0i32); cw];
        for r in 0..height {
            let src = &rgb[r * stride..r * stride + row];
            for (x, p) in src.chunks_exact(3).enumerate() {
                let (y, u, v) = rgb_to_yuv(p[0], p[1], p[2]);
                yp[r * width + x] = y.clamp(0, 255) as u8;
                let a = &mut acc[x / 2];
                a.0 += u;
                a.1 += v;
                a.2 += 1;
            }
            if r % 2 == 1 || r + 1 == height {
                for (x, a) in acc.iter_mut().enumerate() {
                    let n = a.2.max(1);
                    up[(r / 2) * cw + x] = ((a.0 + n / 2) / n).clamp(0, 255) as u8;
                    vp[(r / 2) * cw + x] = ((a.1 + n / 2) / n).clamp(0, 255) as u8;
                    *a = (0, 0, 0);
                }
            }
        }
        Ok(frame)
    }

    /// Wraps a grey picture (`height` rows of `width` bytes, rows `stride`
    /// bytes apart) as luma with neutral chroma.
    ///
    /// # Errors
    /// `InvalidArgument` for a zero size or a buffer too small.
    pub fn from_gray(width: usize, height: usize, luma: &[u8], stride: usize) -> Result<Self> {
        let mut frame = OwnedFrame::filled(width, height, [0, 128, 128])?;
        check_plane(luma.len(), stride, width, height)?;
        for (r, dst) in frame.planes[0].chunks_exact_mut(width).enumerate() {
            dst.copy_from_slice(&luma[r * stride..r * stride + width]);
        }
        Ok(frame)
    }

    /// Picture width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Picture height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// A borrowed view.
    pub fn view(&self) -> FrameView<'_> {
        let (cw, ch) = chroma_size(self.width, self.height);
        FrameView {
            planes: [
                Plane {
                    data: &self.planes[0],
                    stride: self.width,
                    width: self.width,
                    height: self.height,
                },
                Plane {
                    data: &self.planes[1],
                    stride: cw,
                    width: cw,
                    height: ch,
                },
                Plane {
                    data: &self.planes[2],
                    stride: cw,
                    width: cw,
                    height: ch,
                },
            ],
        }
    }

    /// A writable view.
    pub fn view_mut(&mut self) -> FrameViewMut<'_> {
        let (w, h) = (self.width, self.height);
        let (cw, ch) = chroma_size(w, h);
        let [y, u, v] = &mut self.planes;
        FrameViewMut {
            planes: [
                PlaneMut {
                    data: y,
                    stride: w,
                    width: w,
                    height: h,
                },
                PlaneMut {
                    data: u,
                    stride: cw,
                    width: cw,
                    height: ch,
                },
                PlaneMut {
                    data: v,
                    stride: cw,
                    width: cw,
                    height: ch,
                },
            ],
        }
    }

    /// The packed planes.
    pub fn planes(&self) -> &[Vec<u8>; 3] {
        &self.planes
    }
}

/// What a detection is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A face.
    Face,
    /// A vehicle number plate.
    Plate,
    /// A whole person (body box).
    Person,
    /// The plate zone of a vehicle too small for its plate to be found:
    /// the lower band of the vehicle's box, where a plate is from any
    /// angle. Obscured like a plate; the record counts these apart.
    #[serde(rename = "plate_zone")]
    PlateZone,
    /// A vehicle (car, bus, truck, motorcycle), found to look for its
    /// plate. Never tracked or obscured itself: detection passes use it and
    /// drop it.
    Vehicle,
}

impl Class {
    /// The name listings and records use: `face`, `plate`, `person`,
    /// `plate_zone`, `vehicle`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Face => "face",
            Class::Plate => "plate",
            Class::Person => "person",
            Class::PlateZone => "plate_zone",
            Class::Vehicle => "vehicle",
        }
    }
}

/// An axis-aligned box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BBox {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union.
    pub fn iou(&self, o: &BBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.area() + o.area() - inter)
    }

    /// Fraction of `self` covered by `o`.
    pub fn covered_by(&self, o: &BBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 || self.area() <= 0.0 {
            return 0.0;
        }
        ix * iy / self.area()
    }

    /// The box scaled by `f` about its centre.
    pub fn padded(&self, f: f32) -> BBox {
        let (cx, cy) = (self.x + self.w / 2.0, self.y + self.h / 2.0);
        BBox {
            x: cx - self.w * f / 2.0,
            y: cy - self.h * f / 2.0,
            w: self.w * f,
            h: self.h * f,
        }
    }

    /// The head region of a person whose body box this is: a band 36% of
    /// the box's height from 8% above its top, 80% of its width or 30% of
    /// its height wide (the larger), centred. Generous on purpose: the box
    /// of a small distant person moves by a few pixels between passes.
    pub fn person_head(&self) -> BBox {
        let w = (self.w * 0.8).max(self.h * 0.3);
        BBox {
            x: self.x + self.w / 2.0 - w / 2.0,
            y: self.y - self.h * 0.08,
            w,
            h: self.h * 0.36,
        }
    }

    /// Linear interpolation towards `o` by `t` in 0..1.
    pub fn lerp(&self, o: &BBox, t: f32) -> BBox {
        BBox {
            x: self.x + (o.x - self.x) * t,
            y: self.y + (o.y - self.y) * t,
            w: self.w + (o.w - self.w) * t,
            h: self.h + (o.h - self.h) * t,
        }
    }
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// What it is.
    pub class: Class,
    /// Where, in frame pixels.
    pub bbox: BBox,
    /// Confidence 0..1.
    pub score: f32,
    /// What the plate recogniser read, for a plate it confirmed (letters
    /// and digits, spaces as read); `None` for faces and unconfirmed
    /// plates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Where the edge a→b crosses the horizontal line at `py` (the PNPOLY formula).
fn crossing(a: [f64; 2], b: [f64; 2], py: f64) -> f64 {
    (b[0] - a[0]) * (py - a[1]) / (b[1] - a[1]) + a[0]
}

/// Reference point-in-polygon test (PNPOLY, even-odd) at pixel centres, for
/// checking the rasteriser.
pub fn point_in_polygon(polygon: &[[f64; 2]], px: f64, py: f64) -> bool {
    let n = polygon.len();
    let mut inside = false;
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > py) != (b[1] > py) && px < crossing(a, b, py) {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Covered pixels of one region at one resolution: for each row, sorted
/// disjoint half-open `[start, end)` spans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spans {
    width: usize,
    height: usize,
    /// (row, start, end), rows ascending, spans of a row ascending.
    spans: Vec<(u32, u32, u32)>,
}

impl Spans {
    /// Width of the picture the spans cover.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height of the picture the spans cover.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Rasterises `polygon` (pixel coordinates, any orientation, may be
    /// partly or wholly outside the frame) for a `width`x`height` plane.
    pub fn rasterise(polygon: &[[f64; 2]], width: usize, height: usize) -> Spans {
        let mut spans = Vec::new();
        let n = polygon.len();
        let mut xs: Vec<f64> = Vec::with_capacity(n);
        if n >= 3 {
            let ymin = polygon.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
            let ymax = polygon
                .iter()
                .map(|p| p[1])
                .fold(f64::NEG_INFINITY, f64::max);
            let y0 = (ymin - 0.5).ceil().max(0.0) as usize;
            let y1 = ((ymax - 0.5).floor() + 1.0).clamp(0.0, height as f64) as usize;
            for y in y0..y1 {
                let py = y as f64 + 0.5;
                xs.clear();
                let mut j = n - 1;
                for i in 0..n {
                    let (a, b) = (polygon[i], polygon[j]);
                    if (a[1] > py) != (b[1] > py) {
                        xs.push(crossing(a, b, py));
                    }
                    j = i;
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    let start = (pair[0] - 0.5).ceil().clamp(0.0, width as f64) as u32;
                    let end = (pair[1] - 0.5).ceil().clamp(0.0, width as f64) as u32;
                    if start < end {
                        spans.push((y as u32, start, end));
                    }
                }
            }
        }
        Spans {
            width,
            height,
            spans,
        }
    }

    /// The spans as (row, start, end).
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.spans
            .iter()
            .map(|&(y, a, b)| (y as usize, a as usize, b as usize))
    }

    /// Number of covered pixels.
    pub fn area(&self) -> usize {
        self.iter().map(|(_, a, b)| b - a).sum()
    }

    /// Whether nothing is covered (the region lies outside the frame).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether pixel (x, y) is covered.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        self.iter().any(|(r, a, b)| r == y && (a..b).contains(&x))
    }

    /// Bounding box `(x0, y0, x1, y1)`, exclusive ends.
    pub fn bbox(&self) -> Option<(usize, usize, usize, usize)> {
        let first = self.spans.first()?;
        let last = self.spans.last()?;
        let x0 = self.spans.iter().map(|s| s.1).min()? as usize;
        let x1 = self.spans.iter().map(|s| s.2).max()? as usize;
        Some((x0, first.0 as usize, x1, last.0 as usize + 1))
    }

    /// The chroma samples (of a 4:2:0 picture) that any covered luma pixel
    /// uses.
    pub fn to_chroma(&self) -> Spans {
        let (cw, ch) = chroma_size(self.width, self.height);
        let mut rows: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ch];
        for (y, a, b) in self.iter() {
            rows[y / 2].push((a as u32 / 2, (b as u32).div_ceil(2)));
        }
        let mut spans = Vec::new();
        for (cy, mut r) in rows.into_iter().enumerate() {
            r.sort_unstable();
            let mut cur: Option<(u32, u32)> = None;
            for (a, b) in r {
                cur = match cur {
                    Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
                    Some((ca, cb)) => {
                        spans.push((cy as u32, ca, cb));
                        Some((a, b))
                    }
                    None => Some((a, b)),
                };
            }
            if let Some((a, b)) = cur {
                spans.push((cy as u32, a, b));
            }
        }
        Spans {
            width: cw,
            height: ch,
            spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        let f = OwnedFrame::filled(5, 3, [1, 2, 3]).expect("valid size");
        let v = f.view();
        assert_eq!((v.plane(1).width(), v.plane(1).height()), (3, 2));
        assert_eq!(v.plane(2).row(1), &[3, 3, 3]);
    }

    #[test]
    fn short_buffers_and_bad_geometry_are_refused() {
        let buf = [0u8; 10];
        let err = Plane::new(&buf, 4, 4, 3).expect_err("10 < 4*2+4");
        assert!(err.to_string().contains("too small"), "{err}");
        assert!(Plane::new(&buf, 3, 4, 1).is_err());
        let y = Plane::new(&buf, 4, 4, 2).expect("fits");
        let c = Plane::new(&buf, 1, 1, 1).expect("fits");
        let err = FrameView::new(y, c, c).expect_err("4x2 needs 2x1 chroma");
        assert!(err.to_string().contains("expected 2x1"), "{err}");
        assert!(OwnedFrame::from_planes(2, 2, [vec![0; 4], vec![0; 1], vec![0; 2]]).is_err());
    }

    #[test]
    fn writes_through_the_mutable_view_land_in_the_frame() {
        let mut f = OwnedFrame::filled(4, 4, [16, 128, 128]).expect("valid size");
        f.view_mut().plane_mut(0).row_mut(2)[1] = 235;
        let owned = f.view().to_owned_frame();
        assert_eq!(owned.planes()[0][2 * 4 + 1], 235);
        assert_eq!(owned, f);
        // Same pixels behind a padded stride hash the same.
        let padded: Vec<u8> = owned.planes()[0]
            .chunks(4)
            .flat_map(|r| r.iter().copied().chain([9, 9]))
            .collect();
        let y = Plane::new(&padded, 6, 4, 4).expect("fits");
        let v = f.view();
        let view = FrameView::new(y, v.plane(1), v.plane(2)).expect("4:2:0");
        assert_eq!(view.sha256(), f.view().sha256());
        assert_ne!(
            view.sha256(),
            OwnedFrame::filled(4, 4, [16, 128, 128])
                .expect("ok")
                .view()
                .sha256()
        );
    }

    #[test]
    fn fixed_point_rgb_matches_the_float_conversion() {
        // Every luma with a spread of chroma, on an odd-sized picture so the
        // last column and row share their chroma samples.
        let (w, h) = (257, 3);
        let mut f = OwnedFrame::filled(w, h, [0, 0, 0]).expect("valid size");
        {
            let mut v = f.view_mut();
            for r in 0..h {
                for (x, p) in v.plane_mut(0).row_mut(r).iter_mut().enumerate() {
                    *p = (x % 256) as u8;
                }
            }
            for (x, p) in v.plane_mut(1).row_mut(0).iter_mut().enumerate() {
                *p = (x * 2 % 256) as u8;
            }
            for (x, p) in v.plane_mut(2).row_mut(1).iter_mut().enumerate() {
                *p = (255 - x * 3 % 256) as u8;
            }
        }
        let view = f.view();
        let rgb = view.to_rgb();
        assert_eq!(rgb.len(), w * h * 3);
        for r in 0..h {
            for x in 0..w {
                let want = yuv_to_rgb(
                    f32::from(view.luma().row(r)[x]),
                    view.plane(1).row(r / 2)[x / 2],
                    view.plane(2).row(r / 2)[x / 2],
                );
                for c in 0..3 {
                    let got = f32::from(rgb[(r * w + x) * 3 + c]);
                    assert!(
                        (got - want[c]).abs() <= 1.0,
                        "({x},{r}) ch {c}: {got} vs {}",
                        want[c]
                    );
                }
            }
        }
        assert_eq!(view.to_gray(), f.planes()[0]);
    }

    #[test]
    fn rgb_round_trips_through_yuv() {
        let (w, h) = (6, 5);
        let colours = [[200u8, 30, 40], [20, 180, 60], [250, 250, 250], [5, 5, 5]];
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| colours[(i % w) / 2 % 4]).collect();
        let f = OwnedFrame::from_rgb(w, h, &rgb, w * 3).expect("valid");
        let back = f.view().to_rgb();
        for (a, b) in rgb.iter().zip(&back) {
            assert!((i32::from(*a) - i32::from(*b)).abs() <= 4, "{a} vs {b}");
        }
        let grey = OwnedFrame::from_gray(w, h, &f.planes()[0], w).expect("valid");
        assert_eq!(grey.planes()[0], f.planes()[0]);
        assert!(grey.planes()[1].iter().all(|&c| c == 128));
        let err = OwnedFrame::from_rgb(w, h, &rgb[..10], w * 3).expect_err("short");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(OwnedFrame::from_gray(0, 2, &[], 0).is_err());
    }
}
