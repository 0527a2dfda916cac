//! Tracking: detections associated across frames into tracks with stable
//! ids, so no frame of a person is left uncovered when the detector misses.
//!
//! Association is ByteTrack-style: boxes are predicted with a constant
//! velocity model, matched to confident detections by IoU first, then to the
//! remaining low-score detections. Tracking runs over the whole clip before
//! rendering, so gaps are filled both ways: a track missed between two
//! detections is covered by linear interpolation, covered for `lead_frames`
//! before its first detection and `hold_frames` after its last (at its
//! predicted position).

mod look;

use crate::frame::{BBox, Class, Detection, FrameView};
use look::Look;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackerSettings {
    /// Detections at or above this score are matched first; lower ones are
    /// matched to the tracks left over (ByteTrack's second stage).
    pub high: f32,
    /// Minimum IoU between a prediction and a detection to match.
    pub iou: f32,
    /// Frames a track stays alive (and covered) after its last detection.
    pub hold_frames: u64,
    /// The same for people, who are detected every few frames and are
    /// hidden for longer (behind a post, another person): on the labelled
    /// vtest.avi people, 20 rather than 12 split 1.38 rather than 1.62
    /// tracks per person (`examples/person_truth.rs`). Records made before
    /// it was a setting were made with 12.
    #[serde(default = "first_person_hold")]
    pub person_hold_frames: u64,
    /// Frames covered before a track's first detection.
    pub lead_frames: u64,
    /// Low-score detections that match no track start one too (recall over
    /// precision: an extra blurred box costs little, a missed face a lot).
    pub start_on_low: bool,
    /// Without overlap, a detection may still join a track whose predicted
    /// centre is within this many box sizes.
    pub max_jump: f32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            high: 0.5,
            iou: 0.2,
            hold_frames: 12,
            person_hold_frames: 20,
            lead_frames: 5,
            start_on_low: true,
            max_jump: 1.5,
        }
    }
}

fn first_person_hold() -> u64 {
    12
}

impl TrackerSettings {
    /// Frames a track of `class` is held after its last detection.
    pub fn hold(&self, class: Class) -> u64 {
        match class {
            Class::Person => self.person_hold_frames,
            _ => self.hold_frames,
        }
    }
}

/// How a track's box for a frame was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A detection.
    Detected,
    /// Interpolated between two detections.
    Interpolated,
    /// Predicted after the last or before the first detection.
    Predicted,
}

/// A track's box in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackBox {
    /// The box (unpadded).
    pub bbox: BBox,
    /// Detection score, for detected boxes.
    pub score: Option<f32>,
    /// Frames to the nearest detection of the track (0 for a detection):
    /// how far the box is a guess. Absent in records made before it.
    #[serde(default)]
    pub gap: u64,
    /// Where it came from.
    pub source: Source,
}

/// A finished track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Stable id (1-based, in order of first detection).
    pub id: u32,
    /// Face or plate.
    pub class: Class,
    /// Boxes by frame index, covering every frame from first to last.
    pub boxes: BTreeMap<u64, TrackBox>,
    /// Frame of the best detection (highest score x sqrt(area)).
    pub best_frame: u64,
    /// Whether a detection at or above the tracker's `high` score joined
    /// it. A person track that never was (a cone, a sign, two people side
    /// by side read as one, each only ever at a low score) is still
    /// obscured like any other, but [`crate::pipeline::analyse::list_tracks`]
    /// does not offer it for keeping and no face is linked to it.
    #[serde(default = "confirmed_before")]
    pub confirmed: bool,
}

fn confirmed_before() -> bool {
    true
}

impl Track {
    /// First covered frame.
    pub fn first(&self) -> u64 {
        self.boxes.keys().next().copied().unwrap_or(0)
    }

    /// Last covered frame.
    pub fn last(&self) -> u64 {
        self.boxes.keys().next_back().copied().unwrap_or(0)
    }

    /// Number of frames with a detection.
    pub fn detections(&self) -> usize {
        self.boxes
            .values()
            .filter(|b| b.source == Source::Detected)
            .count()
    }
}

#[derive(Debug)]
struct Live {
    id: u32,
    class: Class,
    /// Detected boxes only: (frame, box, score).
    hits: Vec<(u64, BBox, f32)>,
    best: (f32, u64),
    confirmed: bool,
    /// A person's running look ([`Look`]), when seen.
    look: Option<Look>,
}

impl Live {
    fn predict(&self, frame: u64) -> BBox {
        let (f1, b1, _) = self.hits[self.hits.len() - 1];
        if self.hits.len() < 2 {
            return b1;
        }
        let (f0, b0, _) = self.hits[self.hits.len() - 2];
        let dt = (f1 - f0).max(1) as f32;
        let k = (frame - f1) as f32 / dt;
        BBox {
            x: b1.x + (b1.x - b0.x) * k,
            y: b1.y + (b1.y - b0.y) * k,
            w: b1.w,
            h: b1.h,
        }
    }
}

/// Online association of detections into tracks; [`Tracker::finish`] fills
/// the gaps.
#[derive(Debug)]
pub struct Tracker {
    settings: TrackerSettings,
    live: Vec<Live>,
    done: Vec<Live>,
    next_id: u32,
    /// Whether a person was ever detected: only their longer hold makes
    /// rendering wait for [`TrackerSettings::person_hold_frames`].
    people_seen: bool,
}

impl Tracker {
    /// A tracker with `settings`.
    pub fn new(settings: TrackerSettings) -> Tracker {
        Tracker {
            settings,
            live: Vec::new(),
            done: Vec::new(),
            next_id: 1,
            people_seen: false,
        }
    }

    /// Associates the detections of `frame` (frames in increasing order)
    /// and returns, per detection, the id of the track it joined.
    pub fn update(&mut self, frame: u64, dets: &[Detection]) -> Vec<u32> {
        self.associate(frame, dets, &vec![None; dets.len()])
    }

    /// [`Tracker::update`] for detections made on `picture`: people are
    /// also matched by what they look like (colours of their upper and
    /// lower body), so two who cross keep their own ids.
    pub fn update_seeing(
        &mut self,
        frame: u64,
        dets: &[Detection],
        picture: &FrameView<'_>,
    ) -> Vec<u32> {
        let looks: Vec<Option<Look>> = dets
            .iter()
            .map(|d| {
                (d.class == Class::Person)
                    .then(|| Look::of(picture, &d.bbox))
                    .flatten()
            })
            .collect();
        self.associate(frame, dets, &looks)
    }

    fn associate(&mut self, frame: u64, dets: &[Detection], looks: &[Option<Look>]) -> Vec<u32> {
        self.people_seen |= dets.iter().any(|d| d.class == Class::Person);
        let mut assigned: Vec<Option<u32>> = vec![None; dets.len()];
        let mut used = vec![false; self.live.len()];
        for pass_high in [true, false] {
            let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
            for (di, d) in dets.iter().enumerate() {
                if assigned[di].is_some() || (d.score >= self.settings.high) != pass_high {
                    continue;
                }
                for (ti, t) in self.live.iter().enumerate() {
                    if used[ti] || t.class != d.class {
                        continue;
                    }
                    let p = t.predict(frame);
                    let iou = p.iou(&d.bbox);
                    // Unlike clothes make a pairing less likely, never
                    // impossible (light changes along a path).
                    let like = match (&t.look, &looks[di]) {
                        (Some(a), Some(b)) => 0.25 + 0.75 * a.likeness(b),
                        _ => 1.0,
                    };
                    if iou >= self.settings.iou {
                        pairs.push(((1.0 + iou) * like, di, ti));
                    } else {
                        // Small, fast faces (CCTV at a distance) move more than
                        // their own size between frames, so boxes do not
                        // overlap: fall back to centre distance relative to
                        // size, ranked below any overlap.
                        let size = p.w.max(p.h).max(d.bbox.w.max(d.bbox.h)).max(1.0);
                        let (pcx, pcy) = (p.x + p.w / 2.0, p.y + p.h / 2.0);
                        let (dcx, dcy) = (d.bbox.x + d.bbox.w / 2.0, d.bbox.y + d.bbox.h / 2.0);
                        let dist = ((pcx - dcx).powi(2) + (pcy - dcy).powi(2)).sqrt() / size;
                        let similar = (d.bbox.area() / p.area().max(1.0)).clamp(0.0, 4.0);
                        if dist < self.settings.max_jump && (0.4..=2.5).contains(&similar) {
                            pairs.push(((1.0 - dist / self.settings.max_jump) * like, di, ti));
                        }
                    }
                }
            }
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (_, di, ti) in pairs {
                if assigned[di].is_some() || used[ti] {
                    continue;
                }
                used[ti] = true;
                let t = &mut self.live[ti];
                let d = &dets[di];
                t.hits.push((frame, d.bbox, d.score));
                t.confirmed |= d.score >= self.settings.high;
                match (&mut t.look, &looks[di]) {
                    (Some(a), Some(b)) => a.blend(b, 0.2),
                    (a, b) => *a = a.take().or_else(|| b.clone()),
                }
                let q = d.score * d.bbox.area().sqrt();
                if q > t.best.0 {
                    t.best = (q, frame);
                }
                assigned[di] = Some(t.id);
            }
        }
        for (di, d) in dets.iter().enumerate() {
            if assigned[di].is_none() && d.class == Class::Person {
                // A second, partial box of a person already matched this
                // frame (legs, a torso) is that person, not a new one.
                let host = dets.iter().zip(&assigned).find_map(|(o, a)| {
                    let id = (*a)?;
                    (o.class == Class::Person && d.bbox.covered_by(&o.bbox) >= 0.6).then_some(id)
                });
                assigned[di] = host;
            }
            if assigned[di].is_none()
                && (d.score >= self.settings.high || self.settings.start_on_low)
            {
                let id = self.next_id;
                self.next_id += 1;
                self.live.push(Live {
                    id,
                    class: d.class,
                    hits: vec![(frame, d.bbox, d.score)],
                    best: (d.score * d.bbox.area().sqrt(), frame),
                    confirmed: d.score >= self.settings.high,
                    look: looks[di].clone(),
                });
                assigned[di] = Some(id);
            }
        }
        let s = self.settings;
        let (keep, gone): (Vec<Live>, Vec<Live>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| frame - t.hits[t.hits.len() - 1].0 <= s.hold(t.class));
        self.live = keep;
        self.done.extend(gone);
        assigned.into_iter().map(|a| a.unwrap_or(0)).collect()
    }

    /// Frames a box can still change after the frame it is for: once
    /// [`Tracker::update`] has seen frame `f + settle_lag()`, the boxes of
    /// frame `f` are final (a gap is at most `hold_frames` long, or
    /// `person_hold_frames` once people are seen, and a new track reaches
    /// back `lead_frames`). It only grows, when the first person is seen:
    /// frames already behind the shorter lag have no person track to wait
    /// for, since a new track reaches back only `lead_frames`. Keeping it
    /// short without people saves pictures held in memory (8 frames of
    /// 3 MB at 1080p).
    pub fn settle_lag(&self) -> u64 {
        let s = &self.settings;
        let hold = if self.people_seen {
            s.hold_frames.max(s.person_hold_frames)
        } else {
            s.hold_frames
        };
        hold.max(s.lead_frames)
    }

    /// Every track's box in `frame`, ordered by track id, for a clip of
    /// `frames` frames of `width`x`height`: exactly what [`Tracker::finish`]
    /// will give for that frame, provided the tracker has seen frame
    /// `frame + settle_lag()` (or the clip has ended). Lets rendering run
    /// a fixed number of frames behind detection in one pass.
    pub fn boxes_at(
        &self,
        frame: u64,
        frames: u64,
        width: f32,
        height: f32,
    ) -> Vec<(u32, Class, TrackBox)> {
        let mut out: Vec<(u32, Class, TrackBox)> = self
            .done
            .iter()
            .chain(&self.live)
            .filter_map(|t| {
                box_at(t, frame, &self.settings, frames, width, height).map(|b| (t.id, t.class, b))
            })
            .collect();
        out.sort_by_key(|(id, _, _)| *id);
        out
    }

    /// Ends tracking for a clip of `frames` frames of `width`x`height` and
    /// returns the tracks with every gap filled, ordered by id.
    pub fn finish(mut self, frames: u64, width: f32, height: f32) -> Vec<Track> {
        self.done.append(&mut self.live);
        let s = self.settings;
        let mut tracks: Vec<Track> = self
            .done
            .iter()
            .map(|t| {
                let first = t.hits[0].0.saturating_sub(s.lead_frames);
                let last = t.hits[t.hits.len() - 1].0 + s.hold(t.class);
                let boxes = (first..=last)
                    .filter_map(|f| box_at(t, f, &s, frames, width, height).map(|b| (f, b)))
                    .collect();
                Track {
                    id: t.id,
                    class: t.class,
                    boxes,
                    best_frame: t.best.1,
                    confirmed: t.confirmed,
                }
            })
            .collect();
        tracks.sort_by_key(|t| t.id);
        tracks
    }
}

/// A track's box in frame `f`: its detection there, the interpolation
/// between the detections around it, its first box for up to
/// `lead_frames` before it starts, or its predicted box for up to
/// [`TrackerSettings::hold`] after its last detection (while the prediction stays on
/// screen, and within the clip's `frames`).
fn box_at(
    t: &Live,
    f: u64,
    s: &TrackerSettings,
    frames: u64,
    width: f32,
    height: f32,
) -> Option<TrackBox> {
    let (first, first_box, _) = t.hits[0];
    let (last, _, _) = t.hits[t.hits.len() - 1];
    if f < first {
        // Before the first detection: where the track was coming from, at
        // the speed of its first two detections.
        let bbox = match t.hits.get(1) {
            Some(&(f1, b1, _)) => {
                let k = (first - f) as f32 / (f1 - first).max(1) as f32;
                BBox {
                    x: first_box.x - (b1.x - first_box.x) * k,
                    y: first_box.y - (b1.y - first_box.y) * k,
                    ..first_box
                }
            }
            None => first_box,
        };
        return (f + s.lead_frames >= first).then_some(TrackBox {
            bbox,
            score: None,
            source: Source::Predicted,
            gap: first - f,
        });
    }
    if f <= last {
        return Some(match t.hits.binary_search_by_key(&f, |h| h.0) {
            Ok(i) => TrackBox {
                bbox: t.hits[i].1,
                score: Some(t.hits[i].2),
                source: Source::Detected,
                gap: 0,
            },
            Err(i) => {
                let ((f0, b0, _), (f1, b1, _)) = (t.hits[i - 1], t.hits[i]);
                TrackBox {
                    bbox: b0.lerp(&b1, (f - f0) as f32 / (f1 - f0) as f32),
                    score: None,
                    source: Source::Interpolated,
                    gap: (f - f0).min(f1 - f),
                }
            }
        });
    }
    if f > last + s.hold(t.class) || f >= frames {
        return None;
    }
    let on_screen = |b: &BBox| b.x + b.w > 0.0 && b.y + b.h > 0.0 && b.x < width && b.y < height;
    // Covered until the prediction first leaves the picture.
    if !(last + 1..=f).all(|g| on_screen(&t.predict(g))) {
        return None;
    }
    Some(TrackBox {
        bbox: t.predict(f),
        score: None,
        source: Source::Predicted,
        gap: f - last,
    })
}

/// Which person each face belongs to: `(face track, person track)` pairs.
/// A face track belongs to the person track whose head region
/// ([`BBox::person_head`]) holds the face's centre in the most frames where
/// the face was detected, if that is at least half of them. Only confirmed
/// person tracks ([`Track::confirmed`]) own faces.
pub fn owners(tracks: &[Track]) -> Vec<(u32, u32)> {
    let people: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.class == Class::Person && t.confirmed)
        .collect();
    let mut out = Vec::new();
    for face in tracks.iter().filter(|t| t.class == Class::Face) {
        let detected: Vec<(u64, &BBox)> = face
            .boxes
            .iter()
            .filter(|(_, b)| b.source == Source::Detected)
            .map(|(&f, b)| (f, &b.bbox))
            .collect();
        let best = people
            .iter()
            .map(|p| {
                let n = detected
                    .iter()
                    .filter(|(f, b)| {
                        let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
                        p.boxes.get(f).is_some_and(|pb| {
                            let h = pb.bbox.person_head();
                            cx >= h.x && cx < h.x + h.w && cy >= h.y && cy < h.y + h.h
                        })
                    })
                    .count();
                (n, p.id)
            })
            .max_by_key(|&(n, id)| (n, std::cmp::Reverse(id)));
        if let Some((n, person)) = best {
            if n > 0 && n * 2 >= detected.len() {
                out.push((face.id, person));
            }
        }
    }
    out
}

/// The tracks kept along with `keep`, each with the kept track it goes
/// with: the faces of a kept person, and the person a kept face belongs to
/// with that person's other faces. Tracks in `keep` are not listed.
pub fn kept_with(keep: &[u32], owners: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let add = |id: u32, via: u32, out: &mut Vec<(u32, u32)>| {
        if !keep.contains(&id) && !out.iter().any(|(t, _)| *t == id) {
            out.push((id, via));
        }
    };
    for &k in keep {
        // A kept face brings its person; a kept person is its own.
        let person = owners.iter().find(|(f, _)| *f == k).map_or(k, |&(_, p)| p);
        if person != k {
            add(person, k, &mut out);
        }
        for &(f, p) in owners {
            if p == person {
                add(f, k, &mut out);
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(x: f32, w: f32, score: f32) -> Detection {
        Detection {
            class: Class::Person,
            bbox: BBox {
                x,
                y: 0.0,
                w,
                h: 64.0,
            },
            score,
            text: None,
        }
    }

    /// Two people walking towards each other, a red top over dark trousers
    /// from the left and a blue top over light trousers from the right, on
    /// grey, at frame `f` of 9 (they overlap in the middle frames).
    fn crossing(f: u64) -> (crate::frame::OwnedFrame, [f32; 2]) {
        let mut picture =
            crate::frame::OwnedFrame::filled(128, 64, [128, 128, 128]).expect("frame");
        let xs = [8.0 + f as f32 * 10.0, 104.0 - f as f32 * 10.0];
        let clothes = [
            ([80u8, 90, 220], [30u8, 128, 128]),
            ([90, 220, 90], [200, 128, 128]),
        ];
        // Drawn back to front: the second walks in front.
        for (x, (top, legs)) in xs.iter().zip(clothes) {
            let mut v = picture.view_mut();
            for p in 0..3 {
                let s = if p == 0 { 1 } else { 2 };
                let plane = v.plane_mut(p);
                for yy in 0..64 / s {
                    for xx in (*x as usize) / s..((*x as usize) + 16).min(128) / s {
                        plane.row_mut(yy)[xx] = if yy * s < 32 { top[p] } else { legs[p] };
                    }
                }
            }
        }
        (picture, xs)
    }

    #[test]
    fn people_who_cross_keep_their_own_ids_by_their_clothes() {
        let mut seeing = Tracker::new(TrackerSettings::default());
        let mut last = Vec::new();
        for f in 0..10 {
            let (picture, xs) = crossing(f);
            // Hidden behind the other in the middle frames: one box there.
            let dets: Vec<Detection> = if (4..=5).contains(&f) {
                vec![person(xs[1], 16.0, 0.9)]
            } else {
                xs.iter().map(|&x| person(x, 16.0, 0.9)).collect()
            };
            last = seeing.update_seeing(f, &dets, &picture.view());
        }
        // The one from the left is now on the right, still track 1.
        assert_eq!(last, vec![1, 2]);
        let tracks = seeing.finish(10, 128.0, 64.0);
        assert_eq!(tracks.len(), 2);
        assert!(
            tracks[0].boxes[&9].bbox.x > 90.0,
            "{:?}",
            tracks[0].boxes[&9]
        );
    }

    #[test]
    fn a_partial_second_box_of_a_person_is_that_person() {
        let mut t = Tracker::new(TrackerSettings::default());
        for f in 0..5 {
            let legs = Detection {
                bbox: BBox {
                    x: 2.0,
                    y: 32.0,
                    w: 14.0,
                    h: 30.0,
                },
                ..person(0.0, 20.0, 0.4)
            };
            let ids = t.update(f, &[person(0.0, 20.0, 0.9), legs]);
            assert_eq!(ids, vec![1, 1]);
        }
        assert_eq!(t.finish(5, 128.0, 64.0).len(), 1);
    }

    #[test]
    fn a_person_track_never_seen_at_a_high_score_is_unconfirmed_and_owns_no_face() {
        let mut t = Tracker::new(TrackerSettings::default());
        for f in 0..5 {
            let face = Detection {
                bbox: BBox {
                    x: 4.0,
                    y: 2.0,
                    w: 10.0,
                    h: 10.0,
                },
                ..det(0.0, 0.9)
            };
            t.update(f, &[person(0.0, 20.0, 0.4), face]);
        }
        let tracks = t.finish(5, 128.0, 64.0);
        assert!(!tracks[0].confirmed && tracks[1].confirmed);
        assert!(owners(&tracks).is_empty());
        // Still covered on every frame it was seen.
        assert_eq!(tracks[0].boxes.len(), 5);
    }

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            class: Class::Face,
            bbox: BBox {
                x,
                y: 10.0,
                w: 20.0,
                h: 20.0,
            },
            score,
            text: None,
        }
    }

    #[test]
    fn a_moving_face_keeps_one_id_and_gaps_are_interpolated() {
        let mut t = Tracker::new(TrackerSettings::default());
        for f in 0..30u64 {
            // The detector misses frames 10..15 and sees a low score at 20.
            let dets = match f {
                10..=15 => vec![],
                20 => vec![det(2.0 * f as f32, 0.25)],
                _ => vec![det(2.0 * f as f32, 0.8)],
            };
            let ids = t.update(f, &dets);
            assert!(ids.iter().all(|&i| i == 1), "frame {f}: {ids:?}");
        }
        let tracks = t.finish(40, 640.0, 480.0);
        assert_eq!(tracks.len(), 1);
        let tr = &tracks[0];
        for f in 10..=15u64 {
            let b = tr.boxes[&f];
            assert_eq!(b.source, Source::Interpolated);
            assert!(
                (b.bbox.x - 2.0 * f as f32).abs() < 1e-3,
                "frame {f}: {:?}",
                b.bbox
            );
        }
        assert_eq!(tr.boxes[&12].gap, 3, "frames to the nearer detection");
        // Held after the last detection at its predicted position.
        assert_eq!(
            tr.last(),
            29 + 10.min(TrackerSettings::default().hold_frames)
        );
        assert!((tr.boxes[&31].bbox.x - 62.0).abs() < 1e-3);
        assert_eq!(tr.first(), 0);
    }

    #[test]
    fn a_lead_in_comes_from_where_the_track_was_heading_and_says_how_far_it_guesses() {
        let mut t = Tracker::new(TrackerSettings::default());
        for f in 10..20u64 {
            t.update(f, &[det(100.0 + 3.0 * f as f32, 0.9)]);
        }
        let tr = &t.finish(20, 640.0, 480.0)[0];
        let lead = tr.boxes[&7];
        assert_eq!((lead.source, lead.gap), (Source::Predicted, 3));
        assert!((lead.bbox.x - 121.0).abs() < 1e-3, "{:?}", lead.bbox);
        assert_eq!(tr.boxes[&12].gap, 0);
    }

    #[test]
    fn two_faces_get_two_ids_and_a_lost_track_ends() {
        let mut t = Tracker::new(TrackerSettings {
            hold_frames: 3,
            ..Default::default()
        });
        for f in 0..10u64 {
            let mut dets = vec![det(300.0, 0.9)];
            if f < 4 {
                dets.push(det(10.0, 0.9));
            }
            t.update(f, &dets);
        }
        // Reappearing far later at the same place is a new person.
        let ids = t.update(20, &[det(10.0, 0.9)]);
        assert_eq!(ids, vec![3]);
        let tracks = t.finish(25, 640.0, 480.0);
        assert_eq!(
            tracks.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(tracks[1].last(), 3 + 3);
    }

    /// Boxes read `settle_lag()` frames behind the tracker, as one-pass
    /// redaction draws them, are exactly the finished tracks' boxes.
    #[test]
    fn settled_boxes_equal_the_finished_tracks() {
        let frames = 90u64;
        let mut t = Tracker::new(TrackerSettings::default());
        let mut early: BTreeMap<u64, Vec<(u32, Class, TrackBox)>> = BTreeMap::new();
        let mut next = 0u64;
        let mut lags = Vec::new();
        for f in 0..frames {
            // Three faces: one with gaps, one leaving the picture, one that
            // appears late (lead-in) and is lost for good.
            let mut dets = Vec::new();
            if f % 7 != 3 && !(40..48).contains(&f) {
                dets.push(det(3.0 * f as f32, 0.8));
            }
            if f < 60 {
                dets.push(det(620.0 + 2.0 * f as f32, 0.9));
            }
            if (30..50).contains(&f) {
                dets.push(Detection {
                    bbox: BBox {
                        x: 300.0,
                        y: 200.0 + f as f32,
                        w: 24.0,
                        h: 24.0,
                    },
                    ..det(0.0, 0.6)
                });
            }
            // A person from frame 55, seen every 6th frame: the lag grows
            // from the faces' hold to the people's while frames are held.
            if f >= 55 && f % 6 == 1 {
                dets.push(Detection {
                    class: Class::Person,
                    bbox: BBox {
                        x: 100.0 + f as f32,
                        y: 100.0,
                        w: 40.0,
                        h: 100.0,
                    },
                    ..det(0.0, 0.7)
                });
            }
            t.update(f, &dets);
            lags.push(t.settle_lag());
            while next + t.settle_lag() <= f {
                early.insert(next, t.boxes_at(next, frames, 640.0, 480.0));
                next += 1;
            }
        }
        let s = TrackerSettings::default();
        assert_eq!(lags[0], s.hold_frames.max(s.lead_frames));
        assert_eq!(lags[frames as usize - 1], s.person_hold_frames);
        for f in next..frames {
            early.insert(f, t.boxes_at(f, frames, 640.0, 480.0));
        }
        let tracks = t.finish(frames, 640.0, 480.0);
        assert!(tracks.len() >= 3, "{}", tracks.len());
        for f in 0..frames {
            let want: Vec<(u32, Class, TrackBox)> = tracks
                .iter()
                .filter_map(|tr| tr.boxes.get(&f).map(|b| (tr.id, tr.class, *b)))
                .collect();
            assert_eq!(early[&f], want, "frame {f}");
        }
    }

    fn track(id: u32, class: Class, frames: std::ops::Range<u64>, b: BBox) -> Track {
        Track {
            id,
            class,
            boxes: frames
                .map(|f| {
                    (
                        f,
                        TrackBox {
                            bbox: b,
                            score: Some(0.9),
                            source: Source::Detected,
                            gap: 0,
                        },
                    )
                })
                .collect(),
            best_frame: 0,
            confirmed: true,
        }
    }

    #[test]
    fn a_face_belongs_to_the_person_whose_head_it_is_in() {
        let body = |x| BBox {
            x,
            y: 100.0,
            w: 30.0,
            h: 90.0,
        };
        let face = |x| BBox {
            x,
            y: 100.0,
            w: 10.0,
            h: 10.0,
        };
        let tracks = vec![
            track(1, Class::Person, 0..10, body(100.0)),
            track(2, Class::Person, 0..10, body(300.0)),
            track(3, Class::Face, 0..10, face(110.0)),
            track(4, Class::Face, 5..10, face(310.0)),
            // At the person's feet, not their head.
            track(
                5,
                Class::Face,
                0..10,
                BBox {
                    y: 180.0,
                    ..face(110.0)
                },
            ),
        ];
        let owners = owners(&tracks);
        assert_eq!(owners, vec![(3, 1), (4, 2)]);
        // Keeping a person keeps their face; keeping a face, its person.
        assert_eq!(kept_with(&[1], &owners), vec![(3, 1)]);
        assert_eq!(kept_with(&[4], &owners), vec![(2, 4)]);
        assert_eq!(kept_with(&[3, 1], &owners), vec![]);
        assert_eq!(kept_with(&[5], &owners), vec![]);
    }
}
