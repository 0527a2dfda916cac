//! Scoring against hand-labelled people (`tests/data/vtest_people.json`):
//! shared by the `person_truth` example, which prints the figures, and the
//! test that holds the defaults to them.

use obscura::detect::PersonSettings;
use obscura::frame::BBox;
use obscura::media::DecodeOptions;
use obscura::pipeline::analyse::{analyse_with, worker_detectors, AnalyseOptions, Analysis};
use obscura::track::Track;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The labelled frames of a clip.
#[derive(Deserialize)]
pub struct Truth {
    /// The labelled frames.
    pub frames: Vec<Labelled>,
}

/// One labelled frame.
#[derive(Deserialize)]
pub struct Labelled {
    /// Frame index.
    pub frame: u64,
    /// People too little visible to require.
    pub ignore: Vec<[f32; 4]>,
    /// Labelled people.
    pub people: Vec<Person>,
}

/// One labelled person.
#[derive(Deserialize)]
pub struct Person {
    /// Identity across frames.
    pub id: u32,
    /// Visible extent.
    pub xyxy: [f32; 4],
}

/// `[x1, y1, x2, y2]` as a box.
pub fn bbox(r: [f32; 4]) -> BBox {
    BBox {
        x: r[0],
        y: r[1],
        w: r[2] - r[0],
        h: r[3] - r[1],
    }
}

/// Boxes `found` (with scores, best first) matched to the labelled people of
/// `l` at IoU >= 0.5: (matched pairs as (found index, person id), unmatched
/// found boxes outside ignore regions).
pub fn matches(l: &Labelled, found: &[(BBox, f32)]) -> (Vec<(usize, u32)>, usize) {
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by(|&a, &b| found[b].1.total_cmp(&found[a].1));
    let mut taken = BTreeSet::new();
    let (mut pairs, mut false_pos) = (Vec::new(), 0);
    for i in order {
        let b = &found[i].0;
        let best = l
            .people
            .iter()
            .filter(|p| !taken.contains(&p.id))
            .map(|p| (bbox(p.xyxy).iou(b), p.id))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((iou, id)) if iou >= 0.5 => {
                taken.insert(id);
                pairs.push((i, id));
            }
            _ if l.ignore.iter().any(|r| b.covered_by(&bbox(*r)) >= 0.5) => {}
            _ => false_pos += 1,
        }
    }
    (pairs, false_pos)
}

/// Best one-to-one pairing of labelled people and tracks by shared frames
/// (exact: dynamic programming over which people are taken).
fn best_pairing(shared: &BTreeMap<(u32, u32), usize>, people: &[u32]) -> usize {
    let tracks: BTreeSet<u32> = shared.keys().map(|k| k.1).collect();
    let mut best = vec![0usize; 1 << people.len()];
    for t in tracks {
        let mut next = best.clone();
        for (mask, &v) in best.iter().enumerate() {
            for (i, p) in people.iter().enumerate() {
                if mask & (1 << i) == 0 {
                    let gain = shared.get(&(*p, t)).copied().unwrap_or(0);
                    let m = mask | (1 << i);
                    next[m] = next[m].max(v + gain);
                }
            }
        }
        best = next;
    }
    best.into_iter().max().unwrap_or(0)
}

/// Identity figures of `tracks` on the labelled frames: (IDF1, IDP, IDR,
/// tracks per labelled person, tracks per person, MOT rows).
#[allow(clippy::type_complexity)]
pub fn score(
    truth: &Truth,
    tracks: &[&Track],
) -> (f64, f64, f64, f64, BTreeMap<u32, BTreeSet<u32>>, String) {
    let mut shared: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut split: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let (mut labelled, mut tracked) = (0usize, 0usize);
    let mut rows = String::new();
    for l in &truth.frames {
        let here: Vec<(BBox, u32)> = tracks
            .iter()
            .filter_map(|t| t.boxes.get(&l.frame).map(|b| (b.bbox, t.id)))
            .filter(|(b, _)| !l.ignore.iter().any(|r| b.covered_by(&bbox(*r)) >= 0.5))
            .collect();
        for (b, id) in &here {
            rows.push_str(&format!(
                "{},{id},{:.1},{:.1},{:.1},{:.1},1,-1,-1,-1\n",
                l.frame, b.x, b.y, b.w, b.h
            ));
        }
        labelled += l.people.len();
        tracked += here.len();
        let found: Vec<(BBox, f32)> = here.iter().map(|(b, _)| (*b, 1.0)).collect();
        for (i, person) in matches(l, &found).0 {
            *shared.entry((person, here[i].1)).or_default() += 1;
            split.entry(person).or_default().insert(here[i].1);
        }
    }
    let people: Vec<u32> = truth
        .frames
        .iter()
        .flat_map(|l| l.people.iter().map(|p| p.id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let idtp = best_pairing(&shared, &people) as f64;
    let per_person =
        split.values().map(|s| s.len()).sum::<usize>() as f64 / people.len().max(1) as f64;
    (
        2.0 * idtp / (labelled + tracked).max(1) as f64,
        idtp / tracked.max(1) as f64,
        idtp / labelled.max(1) as f64,
        per_person,
        split,
        rows,
    )
}

/// The labelled vtest.avi people.
pub fn load(path: &std::path::Path) -> Result<Truth, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// `clip` tracked as `tracks --people` tracks it, people only (faces and
/// plates do not change person tracks).
pub fn track_people(clip: &std::path::Path) -> obscura::Result<Analysis> {
    let opts = AnalyseOptions {
        faces: None,
        plates: None,
        people: Some(PersonSettings::default()),
        ..AnalyseOptions::default()
    };
    let mut sets = worker_detectors(&opts)?;
    analyse_with(
        clip,
        &DecodeOptions::default(),
        &mut sets,
        opts.tracker,
        opts.roi,
        &mut |_| {},
        |_, _, _| {},
    )
}
