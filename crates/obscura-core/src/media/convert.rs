//! Decoded pictures to interleaved RGB with FFmpeg's swscale, written
//! straight into a caller's buffer (a numpy array, say) with no copy in
//! between. Same matrix as [`crate::frame::FrameView::to_rgb`] (BT.601;
//! full range where the stream says so), but through swscale's SIMD path,
//! several times faster on large pictures. Widths that are not a multiple
//! of 16 use [`crate::frame::FrameView::write_rgb`] instead.

use super::decode::DecodedFrame;
use crate::error::{Error, ErrorKind, Result};
use ffmpeg_next as ff;

/// Converts decoded frames to RGB, keeping the swscale context between
/// frames of the same size and format.
#[derive(Default)]
pub struct RgbConverter {
    ctx: Option<super::Scaler>,
}

impl std::fmt::Debug for RgbConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbConverter")
            .field("ready", &self.ctx.is_some())
            .finish()
    }
}

impl RgbConverter {
    /// A converter with no context yet (made on the first frame).
    pub fn new() -> Self {
        RgbConverter::default()
    }

    /// `frame` as an `height x width x 3` RGB array (what numpy users get).
    ///
    /// # Errors
    /// `Unsupported` if swscale cannot convert the format.
    pub fn rgb_array(&mut self, frame: &DecodedFrame) -> Result<ndarray::Array3<u8>> {
        let mut out = ndarray::Array3::<u8>::zeros((frame.height(), frame.width(), 3));
        // A new array is one standard-layout (row-major) block.
        let Some(bytes) = out.as_slice_mut() else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "RGB array is not contiguous",
            ));
        };
        self.write_rgb(frame, bytes)?;
        Ok(out)
    }

    /// Writes `frame` as `height` rows of `width * 3` bytes of RGB into `out`.
    ///
    /// # Errors
    /// `InvalidArgument` when `out` is not exactly `width * height * 3`
    /// bytes; `Unsupported` if swscale cannot convert the format.
    pub fn write_rgb(&mut self, frame: &DecodedFrame, out: &mut [u8]) -> Result<()> {
        let src = &frame.inner;
        let (w, h, fmt) = (src.width(), src.height(), src.format());
        let row = w as usize * 3;
        if out.len() != row * h as usize {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "RGB buffer of {} bytes does not fit a {w}x{h} picture (expected {})",
                    out.len(),
                    row * h as usize
                ),
            ));
        }
        // swscale's SIMD converters work in blocks of 8 pixels and leave a
        // ragged right edge alone when the rows are packed; such pictures
        // take the plain Rust conversion (same matrix for limited range).
        if w % 16 != 0 {
            frame.view().write_rgb(out);
            return Ok(());
        }
        let stale = self.ctx.as_ref().is_none_or(|s| {
            s.0.input().format != fmt || s.0.input().width != w || s.0.input().height != h
        });
        if stale {
            self.ctx = Some(super::Scaler(
                ff::software::scaling::Context::get(
                    fmt,
                    w,
                    h,
                    ff::format::Pixel::RGB24,
                    w,
                    h,
                    ff::software::scaling::Flags::BILINEAR,
                )
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Unsupported,
                        format!("cannot convert pixel format {fmt:?} to RGB: {e}"),
                    )
                })?,
            ));
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(Error::new(ErrorKind::Unsupported, "no RGB converter"));
        };
        let dst = [
            out.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ];
        let dst_stride = [
            i32::try_from(row)
                .map_err(|_| Error::new(ErrorKind::InvalidArgument, "picture too wide"))?,
            0,
            0,
            0,
        ];
        // SAFETY: the context was made for this frame's format and size
        // (checked above). The source pointers and strides are the decoded
        // frame's own, valid while `frame` is borrowed. The destination is
        // one packed RGB24 plane of exactly `h` rows of `row` bytes, which is
        // `out`'s length (checked above), so swscale writes only inside it.
        let ret = unsafe {
            ff::ffi::sws_scale(
                ctx.0.as_mut_ptr(),
                (*src.as_ptr()).data.as_ptr() as *const *const u8,
                (*src.as_ptr()).linesize.as_ptr(),
                0,
                h as i32,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if ret < 0 {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("RGB conversion failed: {}", ff::Error::from(ret)),
            ));
        }
        Ok(())
    }
}
