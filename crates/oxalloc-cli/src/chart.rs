//! The benchmark chart: for each workload, every allocator's median wall time divided by
//! oxalloc's, as grouped bars (one colour per allocator) on a log scale around 1, with the
//! geometric mean as the last group. Drawn with plotters' SVG backend.

use std::path::Path;

use oxalloc_bench::{Results, REFERENCE};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The ratios to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioData {
    /// Workloads, in table order.
    pub workloads: Vec<String>,
    /// Per allocator other than oxalloc: its name and its time ratio per workload (`None` where
    /// either cell failed).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// Per series, the geometric mean of its ratios.
    pub geomeans: Vec<Option<f64>>,
    /// Runs per cell (for the caption).
    pub runs: usize,
    /// Quick size (for the caption).
    pub quick: bool,
}

/// The geometric mean of `v` (`None` for an empty or non-positive set).
pub fn geomean(v: &[f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| !x.is_finite() || *x <= 0.0) {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// The time ratios of `results` (`None` when oxalloc did not run).
pub fn ratio_data(results: &Results) -> Option<RatioData> {
    if !results.allocators.iter().any(|a| a.name == REFERENCE) {
        return None;
    }
    let ratio = |w: &str, a: &str| -> Option<f64> {
        let x = results.cell(w, a)?;
        let o = results.cell(w, REFERENCE)?;
        if x.failure.is_some() || o.failure.is_some() || x.ok_runs == 0 || o.ok_runs == 0 {
            return None;
        }
        let r = x.median_ms / o.median_ms;
        (r.is_finite() && r > 0.0).then_some(r)
    };
    let mut series = Vec::new();
    let mut geomeans = Vec::new();
    for a in results.allocators.iter().filter(|a| a.name != REFERENCE) {
        let vals: Vec<Option<f64>> = results
            .workloads
            .iter()
            .map(|w| ratio(w, &a.name))
            .collect();
        let present: Vec<f64> = vals.iter().flatten().copied().collect();
        geomeans.push(geomean(&present));
        series.push((a.name.clone(), vals));
    }
    Some(RatioData {
        workloads: results.workloads.clone(),
        series,
        geomeans,
        runs: results.runs_per_cell,
        quick: results.quick,
    })
}

/// One colour per allocator (colour-blind-friendly, Okabe–Ito).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
];

/// Draws `data` as an SVG file at `path`.
pub fn write_svg(data: &RatioData, path: &Path) -> Result<(), String> {
    draw(data, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Ratio ticks, symmetric on a log scale around 1.
const TICKS: [f64; 19] = [
    0.05, 0.1, 0.2, 0.25, 0.333, 0.5, 0.667, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0,
    50.0, 100.0,
];

fn tick_label(y: f64) -> String {
    if y >= 10.0 {
        format!("{y:.0}×")
    } else if (y * 10.0 - (y * 10.0).round()).abs() < 1e-9 {
        format!("{y:.1}×")
    } else {
        format!("{y:.2}×")
    }
}

fn draw(data: &RatioData, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let groups = data.workloads.len() + 1;
    let width = (170 + 95 * groups as u32).max(760);
    let height = 560;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(78);

    // Title and legend (one entry per allocator) above the plot.
    let caption = format!(
        "Wall time ÷ oxalloc's per workload ({} size, median of {} run{}) — above 1: oxalloc is faster",
        if data.quick { "quick" } else { "full" },
        data.runs,
        if data.runs == 1 { "" } else { "s" }
    );
    head.draw(&Text::new(
        caption,
        (width as i32 / 2, 14),
        ("sans-serif", 19)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    let mut entries: Vec<(String, Option<RGBColor>)> = vec![("oxalloc = 1".to_string(), None)];
    for (i, (name, _)) in data.series.iter().enumerate() {
        entries.push((name.clone(), Some(COLOURS[i % COLOURS.len()])));
    }
    let entry_w = 130;
    let mut x = (width as i32 - entry_w * entries.len() as i32) / 2;
    let ly = 54;
    for (name, colour) in &entries {
        match colour {
            Some(c) => head.draw(&Rectangle::new([(x, ly - 7), (x + 16, ly + 7)], c.filled()))?,
            None => head.draw(&PathElement::new(
                vec![(x, ly), (x + 16, ly)],
                BLACK.stroke_width(2),
            ))?,
        }
        head.draw(&Text::new(
            name.clone(),
            (x + 22, ly),
            ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        x += entry_w;
    }

    let all: Vec<f64> = data
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .chain(data.geomeans.iter().flatten().copied())
        .collect();
    let lo = all.iter().copied().fold(1.0_f64, f64::min) / 1.2;
    let hi = all.iter().copied().fold(1.0_f64, f64::max) * 1.2;
    let ticks: Vec<f64> = TICKS
        .iter()
        .copied()
        .filter(|t| (lo..=hi).contains(t))
        .collect();
    let n_ticks = ticks.len();

    let mut chart = ChartBuilder::on(&body)
        .margin_left(16)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.0..groups as f64,
            (lo..hi).log_scale().with_key_points(ticks),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(n_ticks)
        .y_desc("time ratio (log scale)")
        .y_label_formatter(&|y| tick_label(*y))
        .y_label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    // A divider before the geometric means.
    let divider = (groups - 1) as f64;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(divider, lo), (divider, hi)],
        RGBColor(150, 150, 150).stroke_width(1),
    )))?;

    let n = data.series.len().max(1) as f64;
    let inner = 0.8;
    let bar = inner / n;
    for (i, (_, vals)) in data.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut bars: Vec<(usize, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(g, v)| v.map(|v| (g, v)))
            .collect();
        if let Some(g) = data.geomeans[i] {
            bars.push((groups - 1, g));
        }
        chart.draw_series(bars.iter().map(|&(g, v)| {
            let x0 = g as f64 + (1.0 - inner) / 2.0 + i as f64 * bar;
            Rectangle::new([(x0, 1.0), (x0 + bar * 0.9, v)], colour.filled())
        }))?;
        // The geometric mean's value, written past the end of its bar.
        if let Some(g) = data.geomeans[i] {
            let x = (groups - 1) as f64 + (1.0 - inner) / 2.0 + (i as f64 + 0.45) * bar;
            let (y, v) = if g >= 1.0 {
                (g * 1.02, VPos::Bottom)
            } else {
                (g / 1.02, VPos::Top)
            };
            chart.draw_series(std::iter::once(Text::new(
                format!("{g:.2}"),
                (x, y),
                ("sans-serif", 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, v)),
            )))?;
        }
    }
    // oxalloc's line at 1, over the bars.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (groups as f64, 1.0)],
        BLACK.stroke_width(2),
    )))?;
    // Workload names under their groups.
    let mut names: Vec<String> = data.workloads.clone();
    names.push("geomean".to_string());
    for (g, name) in names.iter().enumerate() {
        // backend_coord gives pixels of the whole picture: draw on the root area.
        let (px, py) = chart.backend_coord(&(g as f64 + 0.5, lo));
        root.draw(&Text::new(
            name.clone(),
            (px, py + 10),
            ("sans-serif", 14)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geomeans() {
        let g = geomean(&[2.0, 8.0]).expect("positive");
        assert!((g - 4.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
        assert_eq!(geomean(&[1.0, 0.0]), None);
    }

    #[test]
    fn draws_a_chart_that_is_svg() {
        let data = RatioData {
            workloads: vec!["bignum".into(), "parser".into()],
            series: vec![
                ("glibc".into(), vec![Some(1.5), Some(0.8)]),
                ("jemalloc".into(), vec![None, Some(1.1)]),
            ],
            geomeans: vec![geomean(&[1.5, 0.8]), Some(1.1)],
            runs: 1,
            quick: true,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.svg");
        write_svg(&data, &path).expect("drawn");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("<svg"));
        assert!(text.contains("bignum") && text.contains("geomean") && text.contains("jemalloc"));
    }
}
