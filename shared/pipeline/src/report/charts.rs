//! The report page's charts: inline SVG drawn by plotters (which escapes the text it draws), each a pure
//! function of the records it shows.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use polarity_core::metrics::Calibration;

use super::{ClassTerms, clip, short_time};
use crate::registry::{HistoryEntry, TransitionKind};

const INK: RGBColor = RGBColor(31, 41, 51);
const BLUE: RGBColor = RGBColor(43, 108, 176);
const GREY: RGBColor = RGBColor(113, 128, 150);
const ORANGE: RGBColor = RGBColor(221, 107, 32);
const GREEN: RGBColor = RGBColor(47, 133, 90);
const RED: RGBColor = RGBColor(197, 48, 48);
const PURPLE: RGBColor = RGBColor(128, 90, 213);

/// The timeline's marker colour per kind of move.
pub(super) const MOVE_COLORS: [(TransitionKind, RGBColor); 4] = [
    (TransitionKind::Promote, GREEN),
    (TransitionKind::ManualPromote, ORANGE),
    (TransitionKind::ForcedPromote, PURPLE),
    (TransitionKind::Rollback, RED),
];

/// White → blue by `t` in `[0, 1]`.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| {
        let v = f64::from(a) + (f64::from(b) - f64::from(a)) * t;
        // in 0..=255 by construction
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = v.round() as u8;
        v
    };
    RGBColor(mix(255, 23), mix(255, 78), mix(255, 140))
}

/// Runs `draw` on a fresh SVG canvas and returns the markup; a drawing error (which only a bug in the
/// chart code can cause) becomes a one-line note in its place.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Drawn,
) -> String {
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root).map_err(|e| e.to_string()))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => buf,
        Err(e) => maud::html! { p.fail { "chart not drawn: " (e) } }.into_string(),
    }
}

/// What drawing on an SVG canvas returns.
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An axis of `n` categories: plotters' integer ranges include their end, and segmenting adds one.
fn segments(n: i32) -> std::ops::Range<i32> {
    0..(n - 1).max(1)
}

fn segment_label(names: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i))
            .map(|s| clip(s, 28))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The confusion matrix as a heat map; true classes top to bottom in label order.
pub(super) fn confusion_svg(names: &[String], confusion: &[Vec<u64>]) -> String {
    let k = i32::try_from(names.len()).unwrap_or(i32::MAX).max(1);
    let side = 120 + 90 * u32::try_from(k).unwrap_or(1).min(8);
    // rows drawn top-down: true class i sits at y = k - 1 - i
    let flipped: Vec<String> = names.iter().rev().cloned().collect();
    svg((side + 110, side + 60), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Confusion matrix",
                ("sans-serif", 18).into_font().color(&INK),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(segments(k).into_segmented(), segments(k).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_label_formatter(&|v| segment_label(names, v))
            .y_label_formatter(&|v| segment_label(&flipped, v))
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .draw()?;
        let mut cells = Vec::new();
        for (t, row) in confusion.iter().enumerate() {
            let total: f64 = row.iter().map(|&n| n as f64).sum();
            for (p, &n) in row.iter().enumerate() {
                let share = if total > 0.0 { n as f64 / total } else { 0.0 };
                let (x, y) = (
                    i32::try_from(p).unwrap_or(0),
                    k - 1 - i32::try_from(t).unwrap_or(0),
                );
                cells.push((x, y, n, share));
            }
        }
        chart.draw_series(cells.iter().map(|&(x, y, _, share)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                shade(share).filled(),
            )
        }))?;
        chart.draw_series(cells.iter().map(|&(x, y, n, share)| {
            let color = if share > 0.55 { WHITE } else { INK };
            Text::new(
                format!("{n} ({:.0}%)", share * 100.0),
                (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                ("sans-serif", 14).into_font().color(&color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )
        }))?;
        Ok(())
    })
}

/// A stored share drawn on a `0..1` axis: out-of-range values at the edge (a record from elsewhere may hold
/// anything; drawing must not fail on it).
fn unit(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The reliability diagram of the candidate (and production on the same rows).
pub(super) fn reliability_svg(c: &Calibration, production: Option<(&Calibration, &str)>) -> String {
    svg((460, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Reliability", ("sans-serif", 18).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("confidence (top-class probability)")
            .y_desc("accuracy")
            .light_line_style(RGBColor(238, 241, 245))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GREY.stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY));
        let mut series = |cal: &Calibration, color: RGBColor, name: String| -> Drawn {
            let total = cal
                .bins
                .iter()
                .map(|b| b.count as f64)
                .sum::<f64>()
                .max(1.0);
            let pts: Vec<(f64, f64, f64)> = cal
                .bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (unit(b.confidence), unit(b.accuracy), b.count as f64 / total))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|p| {
                // 3..=12 px by the bin's share of rows
                #[allow(clippy::cast_possible_truncation)]
                let r = (3.0 + 9.0 * p.2.sqrt()).round() as i32;
                Circle::new((p.0, p.1), r, color.filled())
            }))?;
            Ok(())
        };
        series(c, BLUE, format!("candidate (ECE {:.3})", c.ece))?;
        if let Some((p, name)) = production {
            series(
                p,
                ORANGE,
                format!("production {} (ECE {:.3})", clip(name, 16), p.ece),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(217, 226, 236))
            .label_font(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        Ok(())
    })
}

/// One class's top n-grams as horizontal bars, strongest on top.
pub(super) fn terms_svg(t: &ClassTerms) -> String {
    let n = i32::try_from(t.terms.len()).unwrap_or(0).max(1);
    let max = t
        .terms
        .iter()
        .map(|x| x.1)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    // bar i (strongest first) sits at y = n - 1 - i
    let names: Vec<String> = t.terms.iter().rev().map(|x| x.0.clone()).collect();
    let height = 80 + 22 * u32::try_from(n).unwrap_or(1);
    svg((400, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Towards \u{201c}{}\u{201d}", clip(&t.class, 24)),
                ("sans-serif", 16).into_font().color(&INK),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..max * 1.05, segments(n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 241, 245))
            .x_desc("weight")
            .x_labels(5)
            .y_labels(usize::try_from(n).unwrap_or(1))
            .y_label_formatter(&|v| segment_label(&names, v))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        chart.draw_series(t.terms.iter().enumerate().map(|(i, (_, w))| {
            let y = n - 1 - i32::try_from(i).unwrap_or(0);
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(y)),
                    (*w, SegmentValue::Exact(y + 1)),
                ],
                BLUE.mix(0.8).filled(),
            )
        }))?;
        Ok(())
    })
}

/// The production pointer over time: one row per version, a bar for each period it was in production,
/// a marker at each move coloured by its kind.
pub(super) fn timeline_svg(entries: &[HistoryEntry], highlight: &str, now: u64) -> String {
    let mut versions: Vec<String> = Vec::new();
    for e in entries {
        if !versions.contains(&e.to) {
            versions.push(e.to.clone());
        }
    }
    let rows = i32::try_from(versions.len()).unwrap_or(1).max(1);
    // times come from different machines' clocks and may go backwards: the axis spans all of them
    let start = entries.iter().map(|e| e.at).min().unwrap_or(now);
    let end = entries
        .iter()
        .map(|e| e.at)
        .fold(now, u64::max)
        .max(start.saturating_add(60));
    let span = end.saturating_sub(start) as f64;
    let x = |at: u64| at.saturating_sub(start) as f64;
    let row_of = |v: &str| {
        let i = versions.iter().position(|x| x == v).unwrap_or(0);
        rows - 1 - i32::try_from(i).unwrap_or(0)
    };
    let names: Vec<String> = versions.iter().rev().cloned().collect();
    let height = 110 + 26 * u32::try_from(rows).unwrap_or(1).min(40);
    svg((1000, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Production over time",
                ("sans-serif", 16).into_font().color(&INK),
            )
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..span * 1.02, segments(rows).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 241, 245))
            .x_labels(6)
            .x_label_formatter(&|x| {
                // whole seconds after the first move
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let at = start.saturating_add(x.max(0.0).round() as u64);
                short_time(at)
            })
            .y_label_formatter(&|v| segment_label(&names, v))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        let mut bars = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let until = entries.get(i + 1).map_or(end, |n| n.at).max(e.at);
            let y = row_of(&e.to);
            let color = if e.to == highlight { BLUE } else { GREY };
            bars.push(Rectangle::new(
                [
                    (x(e.at), SegmentValue::Exact(y)),
                    (x(until), SegmentValue::Exact(y + 1)),
                ],
                color.mix(0.55).filled(),
            ));
        }
        chart.draw_series(bars)?;
        for (kind, color) in MOVE_COLORS {
            chart.draw_series(entries.iter().filter(|e| e.kind == kind).map(|e| {
                Circle::new(
                    (x(e.at), SegmentValue::CenterOf(row_of(&e.to))),
                    5,
                    color.filled(),
                )
            }))?;
        }
        Ok(())
    })
}
