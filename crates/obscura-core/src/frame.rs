//! The core's own planar frame view.
//!
//! Every analysis (masks, detection, tracking, motion) sees pictures only
//! through [`FrameView`] / [`FrameViewMut`]: three 8-bit planes of a YUV 4:2:0
//! picture, each a borrowed slice with its own stride. Decoded frames lend
//! their buffers without copying; [`OwnedFrame`] backs synthetic frames in
//! tests and frames handed over from other languages.

use crate::error::{Error, ErrorKind, Result};

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
}
