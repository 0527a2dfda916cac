//! Frame-level tests of masks, before any lossy encoding.

use obscura::frame::OwnedFrame;
use obscura::frame::{point_in_polygon, Spans};
use obscura::mask::camera::{CameraProfile, Style};
use obscura::mask::Region;
use proptest::prelude::*;
use std::path::Path;

/// A frame with texture everywhere (no two neighbours alike), so any
/// averaging shows.
fn textured(w: usize, h: usize) -> OwnedFrame {
    let (cw, ch) = obscura::frame::chroma_size(w, h);
    let y = (0..w * h)
        .map(|i| ((i * 37 + (i / w) * 11) % 251) as u8)
        .collect();
    let u = (0..cw * ch).map(|i| ((i * 53 + 7) % 241) as u8).collect();
    let v = (0..cw * ch).map(|i| ((i * 29 + 101) % 239) as u8).collect();
    OwnedFrame::from_planes(w, h, [y, u, v]).expect("valid planes")
}

#[test]
fn mosaic_tiles_are_constant_inside_and_pixels_untouched_outside() {
    let (w, h) = (320, 240);
    let poly = [[40.5, 30.0], [200.0, 50.0], [180.0, 190.0], [60.0, 160.0]];
    let original = textured(w, h);
    for style in [Style::Mosaic, Style::Blur, Style::Solid] {
        let region = Region::new(&poly, w, h, style, None);
        let mut f = original.clone();
        region.apply(&mut f.view_mut());
        let (y0, y1) = (original.view().plane(0), f.view().plane(0));
        let spans = region.luma();
        let (bx, by, _, _) = spans.bbox().expect("inside the frame");
        let t = region.tile();
        assert_eq!(t, obscura::mask::default_tile(160, 160).max(8));
        let mut tiles: std::collections::HashMap<(usize, usize), u8> = Default::default();
        let mut changed = 0usize;
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (y0.row(y)[x], y1.row(y)[x]);
                if spans.contains(x, y) {
                    changed += usize::from(a != b);
                    if style == Style::Mosaic {
                        let v = *tiles.entry(((x - bx) / t, (y - by) / t)).or_insert(b);
                        assert_eq!(v, b, "{style:?}: tile not constant at ({x},{y})");
                    }
                } else {
                    assert_eq!(a, b, "{style:?}: pixel ({x},{y}) outside the mask changed");
                }
            }
        }
        // Almost every covered pixel differs from the original texture.
        assert!(
            changed * 100 >= spans.area() * 95,
            "{style:?}: only {changed} of {} changed",
            spans.area()
        );
        // Chroma samples whose whole 2x2 luma block is outside stay untouched.
        for p in 1..3 {
            let (c0, c1) = (original.view().plane(p), f.view().plane(p));
            for cy in 0..c0.height() {
                for cx in 0..c0.width() {
                    let any_inside =
                        (0..2).any(|dy| (0..2).any(|dx| spans.contains(2 * cx + dx, 2 * cy + dy)));
                    if !any_inside {
                        assert_eq!(c0.row(cy)[cx], c1.row(cy)[cx], "chroma {p} ({cx},{cy})");
                    } else if style == Style::Solid {
                        assert_eq!(c1.row(cy)[cx], 128);
                    }
                }
            }
        }
    }
}

#[test]
fn a_face_sized_region_keeps_at_most_8_tiles_across() {
    for side in [16usize, 40, 64, 100, 300] {
        let r = Region::rect(
            10.0,
            10.0,
            side as f64,
            side as f64,
            640,
            480,
            Style::Mosaic,
        );
        let across = side.div_ceil(r.tile());
        assert!(across <= 8, "{side}px region has {across} tiles across");
        assert!(r.tile() >= 8);
    }
}

fn brute_force(poly: &[[f64; 2]], w: usize, h: usize) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if point_in_polygon(poly, x as f64 + 0.5, y as f64 + 0.5) {
                v.push((x, y));
            }
        }
    }
    v
}

fn covered(s: &Spans) -> Vec<(usize, usize)> {
    let mut v: Vec<_> = s
        .iter()
        .flat_map(|(y, a, b)| (a..b).map(move |x| (x, y)))
        .collect();
    v.sort_by_key(|&(x, y)| (y, x));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Random polygons (often self-intersecting, often partly outside the
    /// frame) cover exactly the pixels whose centres a point-in-polygon test
    /// puts inside.
    #[test]
    fn rasterised_polygons_match_point_in_polygon(
        pts in prop::collection::vec((-40.0f64..120.0, -40.0f64..100.0), 3..9),
        w in 16usize..96,
        h in 16usize..80,
    ) {
        let poly: Vec<[f64; 2]> = pts.into_iter().map(|(x, y)| [x, y]).collect();
        let spans = Spans::rasterise(&poly, w, h);
        prop_assert_eq!(covered(&spans), brute_force(&poly, w, h));
    }

    /// Profile coordinates scale to the video: a normalised polygon covers
    /// the same pixels as the same polygon scaled by hand, at any size.
    #[test]
    fn scaled_polygons_cover_the_scaled_pixels(
        pts in prop::collection::vec((0.0f64..1.3, 0.0f64..1.3), 3..7),
        w in 16usize..200,
        h in 16usize..150,
    ) {
        let poly: Vec<[f64; 2]> = pts.iter().map(|&(x, y)| [x, y]).collect();
        let text = format!(
            "camera = 1\nname = \"n\"\ntown = \"t\"\ndesk = \"d\"\ncoordinates = \"normalised\"\n[[mask]]\nid = \"m\"\nstyle = \"solid\"\npolygon = {:?}\n",
            poly
        );
        let profile = match CameraProfile::parse(&text, Path::new("p.toml")) {
            Ok(p) => p,
            Err(_) => return Ok(()), // degenerate draws are refused, as they must be
        };
        let scaled: Vec<[f64; 2]> = pts.iter().map(|&(x, y)| [x * w as f64, y * h as f64]).collect();
        let via_profile = Spans::rasterise(&profile.to_video(&profile.masks[0].polygon, w, h), w, h);
        prop_assert_eq!(covered(&via_profile), brute_force(&scaled, w, h));
    }
}

#[test]
fn a_polygon_partly_outside_is_clipped_and_one_wholly_outside_covers_nothing() {
    let s = Spans::rasterise(
        &[[-50.0, -50.0], [30.0, -50.0], [30.0, 20.0], [-50.0, 20.0]],
        64,
        48,
    );
    assert_eq!(s.area(), 30 * 20);
    assert_eq!(s.bbox(), Some((0, 0, 30, 20)));
    let s = Spans::rasterise(&[[100.0, 100.0], [130.0, 100.0], [130.0, 120.0]], 64, 48);
    assert!(s.is_empty());
    let mut f = textured(64, 48);
    let before = f.clone();
    Region::new(
        &[[100.0, 100.0], [130.0, 100.0], [130.0, 120.0]],
        64,
        48,
        Style::Mosaic,
        None,
    )
    .apply(&mut f.view_mut());
    assert_eq!(f, before);
}
