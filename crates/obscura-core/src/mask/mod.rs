//! Rasterised regions and the obscuring kernels.
//!
//! A polygon is rasterised once per resolution into row spans (even-odd
//! rule, a pixel is inside when its centre is), clipped to the frame. The
//! kernels then work in place on the YUV 4:2:0 planes, touching only the
//! covered pixels, in tight loops over the spans. Chroma is obscured for
//! every chroma sample any covered luma pixel uses, so no colour of the
//! covered area survives.
//!
//! ## Irreversibility
//! Defaults are chosen so the result cannot be undone:
//! - **mosaic**: tiles are `max(8, ceil(L / 8))` pixels, where `L` is the
//!   longer side of the region's bounding box. A region is at most about 8
//!   tiles across, so a face-sized region keeps at most 8x8 averages, far
//!   below what recognition needs. Each tile is the average of all the
//!   covered pixels it contains.
//! - **blur**: the same tile averages, bilinearly interpolated between tile
//!   centres. It looks smooth, but carries exactly the mosaic's information,
//!   so unlike a Gaussian blur it cannot be deconvolved.
//! - **solid**: black.

pub mod camera;

use crate::frame::{FrameViewMut, PlaneMut, Spans};
use crate::mask::camera::Style;

/// The default tile size for a region whose bounding box is `w`x`h`.
pub fn default_tile(w: usize, h: usize) -> usize {
    w.max(h).div_ceil(8).max(8)
}

/// A region ready to obscure frames of one resolution: its luma and chroma
/// spans, style and tile size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    luma: Spans,
    chroma: Spans,
    style: Style,
    tile: usize,
}

impl Region {
    /// Prepares `polygon` (video pixel coordinates) for `width`x`height`
    /// frames; `tile` overrides the default tile size.
    pub fn new(
        polygon: &[[f64; 2]],
        width: usize,
        height: usize,
        style: Style,
        tile: Option<usize>,
    ) -> Region {
        let luma = Spans::rasterise(polygon, width, height);
        let chroma = luma.to_chroma();
        let tile = tile.unwrap_or_else(|| {
            luma.bbox()
                .map_or(8, |(x0, y0, x1, y1)| default_tile(x1 - x0, y1 - y0))
        });
        Region {
            luma,
            chroma,
            style,
            tile: tile.max(1),
        }
    }

    /// A rectangle region (manual boxes, detections).
    pub fn rect(
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        width: usize,
        height: usize,
        style: Style,
    ) -> Region {
        Region::new(
            &[[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
            width,
            height,
            style,
            None,
        )
    }

    /// The luma spans.
    pub fn luma(&self) -> &Spans {
        &self.luma
    }

    /// Tile size in luma pixels.
    pub fn tile(&self) -> usize {
        self.tile
    }

    /// The style.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Obscures this region of `frame` in place. Frames of another size than
    /// the region was prepared for are left alone (callers prepare regions
    /// per resolution).
    pub fn apply(&self, frame: &mut FrameViewMut<'_>) {
        if frame.width() != self.luma.width()
            || frame.height() != self.luma.height()
            || self.luma.is_empty()
        {
            return;
        }
        let planes = frame.planes_mut();
        let ctile = self.tile.div_ceil(2).max(1);
        let [y, u, v] = planes;
        match self.style {
            Style::Solid => {
                fill(y, &self.luma, 16);
                fill(u, &self.chroma, 128);
                fill(v, &self.chroma, 128);
            }
            Style::Mosaic => {
                mosaic(y, &self.luma, self.tile, false);
                mosaic(u, &self.chroma, ctile, false);
                mosaic(v, &self.chroma, ctile, false);
            }
            Style::Blur => {
                mosaic(y, &self.luma, self.tile, true);
                mosaic(u, &self.chroma, ctile, true);
                mosaic(v, &self.chroma, ctile, true);
            }
        }
    }
}

fn fill(plane: &mut PlaneMut<'_>, spans: &Spans, value: u8) {
    for (y, a, b) in spans.iter() {
        plane.row_mut(y)[a..b].fill(value);
    }
}

/// Tile averages over the covered pixels of a grid anchored at the spans'
/// bounding box; then either writes each tile's average (mosaic) or
/// interpolates bilinearly between tile centres (blur).
fn mosaic(plane: &mut PlaneMut<'_>, spans: &Spans, tile: usize, smooth: bool) {
    let Some((x0, y0, x1, y1)) = spans.bbox() else {
        return;
    };
    let tw = (x1 - x0).div_ceil(tile);
    let th = (y1 - y0).div_ceil(tile);
    let mut sum = vec![0u64; tw * th];
    let mut count = vec![0u32; tw * th];
    for (y, a, b) in spans.iter() {
        let row = plane.row(y);
        let trow = (y - y0) / tile * tw;
        let mut x = a;
        while x < b {
            let t = (x - x0) / tile;
            let end = (x0 + (t + 1) * tile).min(b);
            let s: u64 = row[x..end].iter().map(|&p| u64::from(p)).sum();
            sum[trow + t] += s;
            count[trow + t] += (end - x) as u32;
            x = end;
        }
    }
    let avg: Vec<u8> = sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| {
            if c == 0 {
                0
            } else {
                ((s + u64::from(c) / 2) / u64::from(c)) as u8
            }
        })
        .collect();
    if !smooth {
        for (y, a, b) in spans.iter() {
            let trow = (y - y0) / tile * tw;
            let row = plane.row_mut(y);
            let mut x = a;
            while x < b {
                let t = (x - x0) / tile;
                let end = (x0 + (t + 1) * tile).min(b);
                row[x..end].fill(avg[trow + t]);
                x = end;
            }
        }
        return;
    }
    // Blur: tiles without covered pixels take their nearest covered
    // neighbour's value along the row so interpolation near the region's
    // edge stays inside the region's own averages.
    let mut val: Vec<f32> = avg.iter().map(|&a| f32::from(a)).collect();
    for ty in 0..th {
        let r = &count[ty * tw..(ty + 1) * tw];
        if let Some(first) = r.iter().position(|&c| c > 0) {
            let mut last = val[ty * tw + first];
            for tx in 0..tw {
                if r[tx] > 0 {
                    last = val[ty * tw + tx];
                } else {
                    val[ty * tw + tx] = last;
                }
            }
        }
    }
    for ty in 0..th {
        if count[ty * tw..(ty + 1) * tw].iter().all(|&c| c == 0) {
            let src = (0..th)
                .filter(|&o| count[o * tw..(o + 1) * tw].iter().any(|&c| c > 0))
                .min_by_key(|&o| o.abs_diff(ty));
            if let Some(o) = src {
                for tx in 0..tw {
                    val[ty * tw + tx] = val[o * tw + tx];
                }
            }
        }
    }
    // Bilinear interpolation between tile centres, separably and in fixed
    // point: per column, the left tile and its weight (precomputed once per
    // call); per row, the two tile rows blended vertically.
    let t = tile as f32;
    let half = t / 2.0;
    let pos = |d: usize, max: usize| -> (usize, u32) {
        let f = ((d as f32 + 0.5 - half) / t).clamp(0.0, max as f32);
        let i = (f.floor() as usize).min(max);
        (i, ((f - i as f32) * 256.0).round() as u32)
    };
    let cols: Vec<(usize, u32)> = (0..x1 - x0).map(|dx| pos(dx, tw - 1)).collect();
    // Tile values scaled by 16 for sub-level precision.
    let mut line = vec![0u32; tw + 1];
    for (y, a, b) in spans.iter() {
        let (ty0, wy) = pos(y - y0, th - 1);
        let ty1 = (ty0 + 1).min(th - 1);
        for (tx, l) in line.iter_mut().enumerate().take(tw) {
            let (v0, v1) = (val[ty0 * tw + tx], val[ty1 * tw + tx]);
            *l = ((v0 * (256 - wy) as f32 + v1 * wy as f32) / 16.0).round() as u32;
        }
        line[tw] = line[tw - 1];
        let row = plane.row_mut(y);
        for (px, &(tx, wx)) in row[a..b].iter_mut().zip(&cols[a - x0..b - x0]) {
            let v = line[tx] * (256 - wx) + line[tx + 1] * wx;
            // line is value*16 (after /16 of *256), times 256 from wx.
            *px = ((v + 2048) >> 12).min(255) as u8;
        }
    }
}

/// The fixed privacy masks of a camera, rasterised for one resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSet {
    regions: Vec<(String, Region)>,
}

impl MaskSet {
    /// Rasterises every mask of `profile` except those in `lifted`, for
    /// `width`x`height` frames.
    pub fn new(
        profile: &crate::mask::camera::CameraProfile,
        width: usize,
        height: usize,
        lifted: &[String],
    ) -> MaskSet {
        let regions = profile
            .masks
            .iter()
            .filter(|m| !lifted.contains(&m.id))
            .map(|m| {
                let poly = profile.to_video(&m.polygon, width, height);
                let region = Region::new(&poly, width, height, m.style, m.tile.map(|t| t as usize));
                (m.id.clone(), region)
            })
            .collect();
        MaskSet { regions }
    }

    /// The prepared regions by mask id.
    pub fn regions(&self) -> &[(String, Region)] {
        &self.regions
    }

    /// Obscures every mask on `frame`.
    pub fn apply(&self, frame: &mut FrameViewMut<'_>) {
        for (_, r) in &self.regions {
            r.apply(frame);
        }
    }
}
