//! The motion kernel (`Analyser::push`: shrink, blur, background, regions)
//! on 768x576 (vtest.avi's size) and 1080p frames, quiet, with a moving
//! square, and busy (a third of the picture changing in speckled patches,
//! as animation or a crowd gives), in frames per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use obscura::frame::OwnedFrame;
use obscura::motion::{Analyser, MotionOptions};

fn textured(w: usize, h: usize, square_at: Option<usize>) -> OwnedFrame {
    let (cw, ch) = obscura::frame::chroma_size(w, h);
    let mut y: Vec<u8> = (0..w * h).map(|i| (60 + i * 37 % 101) as u8).collect();
    if let Some(x0) = square_at {
        let s = h / 6;
        for row in h / 3..h / 3 + s {
            y[row * w + x0..row * w + x0 + s].fill(235);
        }
    }
    OwnedFrame::from_planes(w, h, [y, vec![128; cw * ch], vec![128; cw * ch]]).expect("valid")
}

/// `textured`, with the band of rows from a third to two thirds of the
/// picture overwritten by a blocky pattern that changes with `t`: a
/// third of the picture moves, in patches with holes.
fn busy(w: usize, h: usize, t: usize) -> OwnedFrame {
    let mut f = textured(w, h, None);
    {
        let mut v = f.view_mut();
        let luma = v.plane_mut(0);
        for row in h / 3..2 * h / 3 {
            for (x, p) in luma.row_mut(row)[..w].iter_mut().enumerate() {
                let cell = (x / 24) * 7 + (row / 24) * 13 + t * 5;
                *p = if cell % 3 == 0 { 30 } else { 200 };
            }
        }
    }
    f
}

fn bench_push(c: &mut Criterion) {
    let mut group = c.benchmark_group("motion/push");
    group.throughput(Throughput::Elements(1));
    for (w, h) in [(768, 576), (1920, 1080)] {
        let quiet = textured(w, h, None);
        let moving: Vec<OwnedFrame> = (0..8)
            .map(|i| textured(w, h, Some(w / 8 + i * w / 16)))
            .collect();
        let opts = MotionOptions::default();
        let mut a = Analyser::new(w, h, &[], &opts).expect("valid");
        a.push(&quiet.view()).expect("size");
        group.bench_with_input(
            BenchmarkId::new("quiet", format!("{w}x{h}")),
            &quiet,
            |b, f| b.iter(|| a.push(&f.view()).expect("size")),
        );
        let mut a = Analyser::new(w, h, &[], &opts).expect("valid");
        a.push(&quiet.view()).expect("size");
        let mut i = 0;
        group.bench_function(BenchmarkId::new("moving", format!("{w}x{h}")), |b| {
            b.iter(|| {
                i = (i + 1) % moving.len();
                a.push(&moving[i].view()).expect("size")
            })
        });
        let frames: Vec<OwnedFrame> = (0..8).map(|t| busy(w, h, t)).collect();
        let mut a = Analyser::new(w, h, &[], &opts).expect("valid");
        a.push(&quiet.view()).expect("size");
        let moved = a.push(&frames[0].view()).expect("size");
        assert!(
            !moved.recalibrated && moved.score > 0.15,
            "the busy frames move without resetting the background: {moved:?}"
        );
        let mut i = 0;
        group.bench_function(BenchmarkId::new("busy", format!("{w}x{h}")), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                a.push(&frames[i].view()).expect("size")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_push);
criterion_main!(benches);
