//! What a person looks like, coarsely: colour histograms of the upper and
//! lower body, so two people who cross are told apart by their clothes
//! rather than swapped by box overlap alone.

use crate::frame::{BBox, FrameView};

/// Bins per half: 8 luma levels x 4 x 4 chroma levels.
const BINS: usize = 8 * 4 * 4;

/// Normalised colour histograms of a person box's upper (shoulders to
/// waist) and lower (waist to ankles) body, read from the central 60% of
/// its width so the background at the sides counts little.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Look(Vec<f32>);

impl Look {
    /// The look of `b` in `picture`; `None` for a box too small to say.
    pub(crate) fn of(picture: &FrameView<'_>, b: &BBox) -> Option<Look> {
        let (u, v, y) = (picture.plane(1), picture.plane(2), picture.luma());
        // Chroma grid coordinates of the sampled region.
        let x0 = ((b.x + b.w * 0.2).max(0.0) / 2.0) as usize;
        let x1 = (((b.x + b.w * 0.8) / 2.0) as usize).min(u.width());
        let top = ((b.y + b.h * 0.15).max(0.0) / 2.0) as usize;
        let mid = ((b.y + b.h * 0.5).max(0.0) / 2.0) as usize;
        let bottom = (((b.y + b.h * 0.9) / 2.0) as usize).min(u.height());
        if x1 < x0 + 2 || mid < top + 2 || bottom < mid + 2 {
            return None;
        }
        let mut hist = vec![0f32; 2 * BINS];
        for cy in top..bottom {
            let half = usize::from(cy >= mid) * BINS;
            let (ur, vr) = (u.row(cy), v.row(cy));
            let yr = y.row((cy * 2).min(y.height() - 1));
            for cx in x0..x1 {
                let l = usize::from(yr[(cx * 2).min(yr.len() - 1)] >> 5);
                let bin = (l * 4 + usize::from(ur[cx] >> 6)) * 4 + usize::from(vr[cx] >> 6);
                hist[half + bin] += 1.0;
            }
        }
        for part in hist.chunks_mut(BINS) {
            let n: f32 = part.iter().sum();
            part.iter_mut().for_each(|h| *h /= n.max(1.0));
        }
        Some(Look(hist))
    }

    /// Likeness in 0..=1: the Bhattacharyya coefficient of the two halves,
    /// averaged.
    pub(crate) fn likeness(&self, o: &Look) -> f32 {
        let bc: f32 = self.0.iter().zip(&o.0).map(|(a, b)| (a * b).sqrt()).sum();
        bc / 2.0
    }

    /// Moves this look a `rate` of the way towards `o` (a running memory of
    /// the person, robust to one odd frame).
    pub(crate) fn blend(&mut self, o: &Look, rate: f32) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += (*b - *a) * rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;

    #[test]
    fn the_same_clothes_are_alike_and_different_clothes_are_not() {
        // A person in a red top and dark trousers, one in a blue top and
        // light trousers, on grey.
        let mut f = OwnedFrame::filled(64, 64, [128, 128, 128]).expect("frame");
        let paint = |f: &mut OwnedFrame, x: usize, top: [u8; 3], legs: [u8; 3]| {
            let mut v = f.view_mut();
            for (p, (a, b)) in [
                (0, (top[0], legs[0])),
                (1, (top[1], legs[1])),
                (2, (top[2], legs[2])),
            ] {
                let s = if p == 0 { 1 } else { 2 };
                let plane = v.plane_mut(p);
                for yy in 0..64 / s {
                    for xx in x / s..(x + 16) / s {
                        plane.row_mut(yy)[xx] = if yy * s < 32 { a } else { b };
                    }
                }
            }
        };
        paint(&mut f, 0, [80, 90, 220], [30, 128, 128]);
        paint(&mut f, 32, [90, 220, 90], [200, 128, 128]);
        let body = |x: f32| BBox {
            x,
            y: 0.0,
            w: 16.0,
            h: 64.0,
        };
        let red = Look::of(&f.view(), &body(0.0)).expect("look");
        let blue = Look::of(&f.view(), &body(32.0)).expect("look");
        assert!(red.likeness(&red) > 0.99);
        assert!(red.likeness(&blue) < 0.2, "{}", red.likeness(&blue));
        assert!(Look::of(
            &f.view(),
            &BBox {
                x: 0.0,
                y: 0.0,
                w: 2.0,
                h: 2.0
            }
        )
        .is_none());
    }
}
