//! Moving-region redaction (`--moving`): on a fixed camera, every region
//! the motion model ([`crate::motion::Analyser`], the one incident indexing
//! uses, at its default settings) finds moving is obscured, dilated, unless
//! it overlaps a kept track. It catches people and vehicles the detectors
//! miss; the price is that anything else moving (a swaying branch, a
//! shadow) is obscured too.

use crate::error::Result;
use crate::frame::FrameView;
use crate::motion::{Analyser, MotionOptions};

/// The motion model of one clip, giving each frame's moving regions.
#[derive(Debug)]
pub(crate) struct Moving {
    analyser: Analyser,
    width: i64,
    height: i64,
}

impl Moving {
    /// A motion model for `width`x`height` frames.
    ///
    /// # Errors
    /// `InvalidArgument` for a frame too small to analyse.
    pub(crate) fn new(width: u32, height: u32) -> Result<Moving> {
        let analyser = Analyser::new(
            width as usize,
            height as usize,
            &[],
            &MotionOptions::default(),
        )?;
        Ok(Moving {
            analyser,
            width: i64::from(width),
            height: i64::from(height),
        })
    }

    /// A motion model when `on`, for `width`x`height` frames.
    ///
    /// # Errors
    /// As [`Moving::new`].
    pub(crate) fn wanted(on: bool, width: u32, height: u32) -> Result<Option<Moving>> {
        on.then(|| Moving::new(width, height)).transpose()
    }

    /// The moving regions of the next frame (frames in order), `[x, y, w,
    /// h]` in video pixels, each grown by a quarter of its size (at least 8
    /// pixels) on every side and clipped to the picture: the model sees a
    /// shrunken, blurred picture, and a mover's edges differ least from the
    /// background.
    ///
    /// # Errors
    /// `InvalidArgument` if the frame's size changed.
    pub(crate) fn push(&mut self, frame: &FrameView<'_>) -> Result<Vec<[i64; 4]>> {
        let m = self.analyser.push(frame)?;
        let k = self.analyser.factor() as i64;
        Ok(m.regions
            .iter()
            .filter_map(|r| {
                let [x0, y0, x1, y1] = r.map(|v| i64::from(v) * k);
                let gx = ((x1 - x0) / 4).max(8);
                let gy = ((y1 - y0) / 4).max(8);
                let (x0, y0) = ((x0 - gx).max(0), (y0 - gy).max(0));
                let (x1, y1) = ((x1 + gx).min(self.width), (y1 + gy).min(self.height));
                (x1 > x0 && y1 > y0).then_some([x0, y0, x1 - x0, y1 - y0])
            })
            .collect())
    }
}

/// The moving boxes that overlap none of the `kept` boxes.
pub(crate) fn not_kept(moving: &[[i64; 4]], kept: &[[i64; 4]]) -> Vec<[i64; 4]> {
    let meet = |a: &[i64; 4], b: &[i64; 4]| {
        a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
    };
    moving
        .iter()
        .filter(|m| !kept.iter().any(|k| meet(m, k)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_region_touching_a_kept_box_stays_and_others_go() {
        let moving = [[0, 0, 10, 10], [50, 50, 10, 10]];
        let kept = [[55, 55, 20, 20]];
        assert_eq!(super::not_kept(&moving, &kept), vec![[0, 0, 10, 10]]);
        assert_eq!(super::not_kept(&moving, &[]), moving.to_vec());
    }
}
