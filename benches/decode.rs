//! Decoding throughput on the sample footage: sequential (FFmpeg threading)
//! against segment-parallel, and the per-frame conversions to RGB and grey.
//! Run `bash scripts/setup.sh` first.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use obscura::media::{self, DecodeOptions};
use std::path::PathBuf;

fn sample(name: &str) -> PathBuf {
    let home = match std::env::var_os("OBSCURA_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/obscura"),
    };
    let p = home.join("samples").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/setup.sh`",
        p.display()
    );
    p
}

fn decode_all(path: &PathBuf, opts: &DecodeOptions) -> u64 {
    let (_, frames) = media::open(path, opts).expect("opens");
    frames.fold(0, |n, f| {
        f.expect("decodes");
        n + 1
    })
}

fn bench_decode(c: &mut Criterion) {
    for name in ["bikes.mp4", "bigbuckbunny.mp4", "vtest.avi"] {
        let path = sample(name);
        let frames = media::probe(&path).expect("probes").frames;
        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(Throughput::Elements(frames));
        group.sample_size(10);
        group.bench_function("sequential", |b| {
            b.iter(|| decode_all(&path, &DecodeOptions::sequential()))
        });
        let parallel = DecodeOptions {
            min_segment_frames: 30,
            ..DecodeOptions::default()
        };
        group.bench_function("segment-parallel", |b| {
            b.iter(|| decode_all(&path, &parallel))
        });
        group.finish();
    }
}

/// Frame conversions Python iteration pays per frame: 4:2:0 to interleaved
/// RGB and the luma copy, at 1080p.
fn bench_convert(c: &mut Criterion) {
    let (w, h) = (1920, 1080);
    let mut frame = obscura::frame::OwnedFrame::filled(w, h, [0, 0, 0]).expect("valid size");
    {
        let mut v = frame.view_mut();
        for (i, plane) in v.planes_mut().iter_mut().enumerate() {
            for r in 0..plane.height() {
                for (x, p) in plane.row_mut(r).iter_mut().enumerate() {
                    *p = ((x * 7 + r * 13 + i * 50) % 256) as u8;
                }
            }
        }
    }
    let view = frame.view();
    let mut group = c.benchmark_group("convert/1080p");
    group.throughput(Throughput::Elements((w * h) as u64));
    let mut rgb = vec![0u8; w * h * 3];
    group.bench_function("rgb", |b| b.iter(|| view.write_rgb(&mut rgb)));
    let mut grey = vec![0u8; w * h];
    group.bench_function("gray", |b| b.iter(|| view.write_gray(&mut grey)));
    group.bench_function("from_rgb", |b| {
        b.iter(|| obscura::frame::OwnedFrame::from_rgb(w, h, &rgb, w * 3).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_convert);
criterion_main!(benches);
