//! Obscuring kernels on a 1080p frame, in megapixels of covered area per
//! second, plus the once-per-resolution rasterisation.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use obscura::frame::OwnedFrame;
use obscura::frame::Spans;
use obscura::mask::camera::Style;
use obscura::mask::Region;

fn frame() -> OwnedFrame {
    let (w, h) = (1920, 1080);
    let (cw, ch) = obscura::frame::chroma_size(w, h);
    let y = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
    let u = (0..cw * ch).map(|i| (i * 53 % 241) as u8).collect();
    let v = (0..cw * ch).map(|i| (i * 29 % 239) as u8).collect();
    OwnedFrame::from_planes(w, h, [y, u, v]).expect("valid")
}

fn bench_kernels(c: &mut Criterion) {
    let mut f = frame();
    // A shop-front window (about 10% of the frame) and a face-sized box.
    let window = [
        [300.0, 200.0],
        [900.0, 180.0],
        [920.0, 560.0],
        [310.0, 540.0],
    ];
    let face = [
        [1500.0, 300.0],
        [1580.0, 300.0],
        [1580.0, 400.0],
        [1500.0, 400.0],
    ];
    for (name, poly) in [("window", &window), ("face", &face)] {
        let mut group = c.benchmark_group(format!("mask/{name}"));
        for style in [Style::Mosaic, Style::Blur, Style::Solid] {
            let region = Region::new(poly, 1920, 1080, style, None);
            group.throughput(Throughput::Elements(region.luma().area() as u64));
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{style:?}")),
                &region,
                |b, r| b.iter(|| r.apply(&mut f.view_mut())),
            );
        }
        group.finish();
    }
    c.bench_function("rasterise/window-1080p", |b| {
        b.iter(|| Spans::rasterise(&window, 1920, 1080))
    });
}

criterion_group!(benches, bench_kernels);
criterion_main!(benches);
