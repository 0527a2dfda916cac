//! Charts as inline SVG, drawn on the server: the report needs no script
//! and prints as it shows.

use std::fmt::Write;

/// `text` safe inside HTML or SVG text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One group of a bar chart: its label, this period's value and the
/// previous period's, if compared.
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    pub previous: Option<f64>,
}

/// A horizontal bar chart: one row per bar, this period dark, the previous
/// period (when given) as a lighter bar under it, values written at the
/// ends. `unit` follows each value.
pub(crate) fn bar_chart(title: &str, bars: &[Bar], unit: &str, decimals: usize) -> String {
    let label_w = 170.0;
    let chart_w = 420.0;
    let row_h = if bars.iter().any(|b| b.previous.is_some()) {
        30.0
    } else {
        20.0
    };
    let top = 28.0;
    let height = top + row_h * bars.len().max(1) as f64 + 24.0;
    let width = label_w + chart_w + 90.0;
    let max = bars
        .iter()
        .flat_map(|b| [b.value, b.previous.unwrap_or(0.0)])
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\"><title>{t}</title>\
         <text x=\"0\" y=\"16\" font-weight=\"bold\" font-size=\"14\">{t}</text>",
        t = escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = b.value / max * chart_w;
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"12\" fill=\"#1f4e79\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{v:.decimals$}{unit}</text>",
            lx = label_w - 6.0,
            ty = y + 10.0,
            label = escape(&b.label),
            vx = label_w + w + 4.0,
            v = b.value,
            unit = escape(unit),
        );
        if let Some(p) = b.previous {
            let pw = p / max * chart_w;
            let _ = write!(
                s,
                "<rect x=\"{label_w}\" y=\"{py}\" width=\"{pw:.1}\" height=\"8\" fill=\"#9db8d3\"/>\
                 <text x=\"{vx:.1}\" y=\"{pty}\" fill=\"#555\" font-size=\"10\">{p:.decimals$}</text>",
                py = y + 14.0,
                pty = y + 21.0,
                vx = label_w + pw + 4.0,
            );
        }
    }
    let ly = height - 8.0;
    let _ = write!(
        s,
        "<rect x=\"{label_w}\" y=\"{ry}\" width=\"10\" height=\"10\" fill=\"#1f4e79\"/>\
         <text x=\"{tx}\" y=\"{ly}\">this month</text>",
        ry = ly - 9.0,
        tx = label_w + 14.0
    );
    if bars.iter().any(|b| b.previous.is_some()) {
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{ry}\" width=\"10\" height=\"10\" fill=\"#9db8d3\"/>\
             <text x=\"{tx}\" y=\"{ly}\">previous month</text>",
            x = label_w + 100.0,
            ry = ly - 9.0,
            tx = label_w + 114.0
        );
    }
    s.push_str("</svg>");
    s
}

/// One stretch on a timeline: where it starts and ends (fractions of the
/// day, 0..1), a tooltip and the page it links to.
pub(crate) struct Span {
    pub from: f64,
    pub to: f64,
    pub title: String,
    pub href: String,
}

/// A day timeline: one row per camera, hour ticks, each incident a bar
/// linking to its page.
pub(crate) fn day_timeline(day: &str, rows: &[(String, Vec<Span>)]) -> String {
    let label_w = 170.0;
    let chart_w = 720.0;
    let row_h = 22.0;
    let top = 36.0;
    let height = top + row_h * rows.len().max(1) as f64 + 8.0;
    let width = label_w + chart_w + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>Incidents on {d} (UTC)</title>\
         <text x=\"0\" y=\"14\" font-weight=\"bold\" font-size=\"13\">Incidents on {d} (UTC)</text>",
        d = escape(day)
    );
    for h in (0..=24).step_by(3) {
        let x = label_w + chart_w * f64::from(h) / 24.0;
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{y1}\" stroke=\"#ccc\"/>\
             <text x=\"{x:.1}\" y=\"30\" text-anchor=\"middle\">{h:02}:00</text>",
            y0 = top - 4.0,
            y1 = height - 4.0
        );
    }
    for (i, (label, spans)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{l}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{chart_w}\" height=\"16\" fill=\"#f2f2f2\"/>",
            lx = label_w - 6.0,
            ty = y + 12.0,
            l = escape(label)
        );
        for sp in spans {
            let x = label_w + chart_w * sp.from.clamp(0.0, 1.0);
            // At least 2 px, so a short incident stays visible.
            let w = (chart_w * (sp.to.clamp(0.0, 1.0) - sp.from.clamp(0.0, 1.0))).max(2.0);
            let _ = write!(
                s,
                "<a href=\"{href}\"><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" \
                 fill=\"#c0392b\"><title>{t}</title></rect></a>",
                href = escape(&sp.href),
                t = escape(&sp.title)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_charts() {
        let svg = bar_chart(
            "<b>",
            &[Bar {
                label: "Town & <script>".into(),
                value: 3.0,
                previous: Some(1.0),
            }],
            "",
            0,
        );
        assert!(svg.contains("Town &amp; &lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("previous month"));
    }

    #[test]
    fn a_timeline_bar_sits_at_its_time_of_day() {
        let svg = day_timeline(
            "2026-11-03",
            &[(
                "1 High St".into(),
                vec![Span {
                    from: 0.5,
                    to: 0.75,
                    title: "12:00".into(),
                    href: "/incidents/1".into(),
                }],
            )],
        );
        // Noon: halfway across the 720 px chart after the 170 px labels.
        assert!(svg.contains("x=\"530.0\""), "{svg}");
        assert!(svg.contains("width=\"180.0\""), "{svg}");
        assert!(svg.contains("href=\"/incidents/1\""));
    }
}
