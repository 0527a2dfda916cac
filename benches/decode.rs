//! Decoding throughput on the sample footage: sequential (FFmpeg threading)
//! against segment-parallel. Run `bash scripts/setup.sh` first.

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

criterion_group!(benches, bench_decode);
criterion_main!(benches);
