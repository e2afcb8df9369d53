//! Limited-memory BFGS for smooth unconstrained minimisation: two-loop recursion and a line search that
//! enforces the strong Wolfe conditions (Nocedal & Wright, algorithms 3.5 and 3.6, with cubic interpolation),
//! as scipy's L-BFGS-B does with its Moré–Thuente search. Deterministic: no randomness.
//!
//! Stops when the largest absolute gradient component is at most `gtol` (scipy's `pgtol`, which
//! scikit-learn's `lbfgs` solver sets to its `tol`), when the relative decrease of the objective falls below
//! `ftol` (scipy's `factr * eps` test), or after `max_iter` iterations.

/// Optimiser settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LbfgsConfig {
    /// History size (scipy and scikit-learn use 10).
    pub memory: usize,
    /// Iteration limit.
    pub max_iter: usize,
    /// Gradient tolerance: stop when `max |g_i| <= gtol`.
    pub gtol: f64,
    /// Relative function-decrease tolerance: stop when `(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol`.
    pub ftol: f64,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            memory: 10,
            max_iter: 2000,
            gtol: 1e-4,
            ftol: 64.0 * f64::EPSILON,
        }
    }
}

/// How a minimisation ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsReport {
    /// Iterations taken.
    pub iterations: usize,
    /// Objective evaluations (including line-search trials).
    pub evaluations: usize,
    /// Final objective value.
    pub value: f64,
    /// Final `max |g_i|`.
    pub grad_max: f64,
    /// True when a tolerance (not the iteration limit or a failed line search) ended the run.
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Minimises `f` from `x` (updated in place). `f(x, grad)` returns the value and writes the gradient.
/// The initial inverse Hessian is `γ·diag(h0)` (`h0`: positive, one per variable, a diagonal
/// preconditioner; all ones is plain L-BFGS), the first step is scaled to `max |step| ≤ 1`, and stopping
/// always uses the unscaled gradient.
pub(crate) fn minimize(
    cfg: &LbfgsConfig,
    x: &mut [f64],
    h0: &[f64],
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> LbfgsReport {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut evals = 1;
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(cfg.memory);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(cfg.memory);
    let mut rho: Vec<f64> = Vec::with_capacity(cfg.memory);
    let mut d = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut alpha = vec![0.0; cfg.memory];
    let report = |iterations, evaluations, value, g: &[f64], converged| LbfgsReport {
        iterations,
        evaluations,
        value,
        grad_max: max_abs(g),
        converged,
    };
    if max_abs(&g) <= cfg.gtol {
        return report(0, evals, fx, &g, true);
    }
    for iter in 1..=cfg.max_iter {
        // Two-loop recursion: d = -H g.
        d.copy_from_slice(&g);
        let k = s_hist.len();
        for i in (0..k).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &d);
            d.iter_mut()
                .zip(&y_hist[i])
                .for_each(|(di, yi)| *di -= alpha[i] * yi);
        }
        let gamma = if k > 0 {
            let (s, y) = (&s_hist[k - 1], &y_hist[k - 1]);
            dot(s, y) / y.iter().zip(h0).map(|(y, h)| y * y * h).sum::<f64>()
        } else {
            1.0
        };
        d.iter_mut().zip(h0).for_each(|(di, h)| *di *= gamma * h);
        if k == 0 {
            let m = max_abs(&d).max(1.0);
            d.iter_mut().for_each(|di| *di /= m);
        }
        for i in 0..k {
            let beta = rho[i] * dot(&y_hist[i], &d);
            d.iter_mut()
                .zip(&s_hist[i])
                .for_each(|(di, si)| *di += (alpha[i] - beta) * si);
        }
        d.iter_mut().for_each(|di| *di = -*di);
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            d.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi);
            slope = dot(&g, &d);
        }
        let Some(f_new) =
            wolfe_search(&mut f, x, &d, fx, slope, &mut x_new, &mut g_new, &mut evals)
        else {
            return report(iter, evals, fx, &g, false);
        };
        // Curvature pair.
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if s_hist.len() == cfg.memory {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        let decrease = (fx - f_new) / fx.abs().max(f_new.abs()).max(1.0);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        fx = f_new;
        if max_abs(&g) <= cfg.gtol || decrease <= cfg.ftol {
            return report(iter, evals, fx, &g, true);
        }
    }
    report(cfg.max_iter, evals, fx, &g, false)
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_TRIALS: usize = 40;

/// One trial point of the line search.
struct Trial {
    step: f64,
    value: f64,
    slope: f64,
}

/// Finds a step along `d` from `x` that satisfies the strong Wolfe conditions. On success the accepted point
/// and its gradient are in `x_new`/`g_new` and its value is returned.
#[allow(clippy::too_many_arguments)]
fn wolfe_search(
    f: &mut impl FnMut(&[f64], &mut [f64]) -> f64,
    x: &[f64],
    d: &[f64],
    f0: f64,
    slope0: f64,
    x_new: &mut [f64],
    g_new: &mut [f64],
    evals: &mut usize,
) -> Option<f64> {
    let mut eval = |step: f64, x_new: &mut [f64], g_new: &mut [f64]| -> Trial {
        x_new
            .iter_mut()
            .zip(x.iter().zip(d))
            .for_each(|(xn, (xi, di))| *xn = xi + step * di);
        let value = f(x_new, g_new);
        *evals += 1;
        Trial {
            step,
            value,
            slope: dot(g_new, d),
        }
    };
    let armijo = |t: &Trial| t.value.is_finite() && t.value <= f0 + C1 * t.step * slope0;
    let curvature = |t: &Trial| t.slope.abs() <= -C2 * slope0;
    let mut prev = Trial {
        step: 0.0,
        value: f0,
        slope: slope0,
    };
    let mut step = 1.0;
    for i in 0..MAX_TRIALS {
        let t = eval(step, x_new, g_new);
        if !armijo(&t) || (i > 0 && t.value >= prev.value) {
            return zoom(&mut eval, prev, t, f0, slope0, x_new, g_new);
        }
        if curvature(&t) {
            return Some(t.value);
        }
        if t.slope >= 0.0 {
            return zoom(&mut eval, t, prev, f0, slope0, x_new, g_new);
        }
        step = t.step * 2.0;
        prev = t;
    }
    None
}

/// The zoom phase: `lo` satisfies Armijo and has the lower value; the minimiser lies between `lo` and `hi`.
fn zoom(
    eval: &mut impl FnMut(f64, &mut [f64], &mut [f64]) -> Trial,
    mut lo: Trial,
    mut hi: Trial,
    f0: f64,
    slope0: f64,
    x_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<f64> {
    for _ in 0..MAX_TRIALS {
        let step = interpolate(&lo, &hi);
        let t = eval(step, x_new, g_new);
        if !(t.value.is_finite() && t.value <= f0 + C1 * t.step * slope0) || t.value >= lo.value {
            hi = t;
        } else {
            if t.slope.abs() <= -C2 * slope0 {
                return Some(t.value);
            }
            if t.slope * (hi.step - lo.step) >= 0.0 {
                hi = lo;
            }
            lo = t;
        }
        if (hi.step - lo.step).abs() < 1e-14 * lo.step.abs().max(1.0) {
            break;
        }
    }
    // The interval collapsed: accept `lo` if it made progress (it satisfies Armijo), re-evaluating it.
    (lo.step > 0.0).then(|| eval(lo.step, x_new, g_new).value)
}

/// Minimiser of the cubic through two trial points, kept inside the middle 80% of the interval
/// (bisection when the cubic is not usable).
fn interpolate(a: &Trial, b: &Trial) -> f64 {
    let (lo, hi) = if a.step < b.step { (a, b) } else { (b, a) };
    let width = hi.step - lo.step;
    let d1 = lo.slope + hi.slope - 3.0 * (lo.value - hi.value) / (lo.step - hi.step);
    let disc = d1 * d1 - lo.slope * hi.slope;
    let mid = lo.step + 0.5 * width;
    if disc.is_nan() || disc < 0.0 || !disc.is_finite() {
        return mid;
    }
    let d2 = disc.sqrt();
    let t = hi.step - width * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2.0 * d2);
    if t.is_finite() {
        t.clamp(lo.step + 0.1 * width, hi.step - 0.1 * width)
    } else {
        mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let mut x = vec![-1.2, 1.0];
        let cfg = LbfgsConfig {
            gtol: 1e-8,
            ftol: 0.0,
            ..Default::default()
        };
        let r = minimize(&cfg, &mut x, &[1.0; 2], |p, g| {
            let (a, b) = (p[0], p[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        });
        assert!(r.converged, "{r:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
    }

    #[test]
    fn a_diagonal_preconditioner_evens_out_badly_scaled_variables() {
        // curvatures from 1e-4 to 1e2: plain L-BFGS needs many iterations, the exact inverse diagonal one
        let c: Vec<f64> = (0..40)
            .map(|i| 10f64.powf(-4.0 + 6.0 * i as f64 / 39.0))
            .collect();
        let f = |p: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..p.len() {
                g[i] = c[i] * (p[i] - 1.0);
                v += 0.5 * c[i] * (p[i] - 1.0).powi(2);
            }
            v
        };
        let cfg = LbfgsConfig {
            gtol: 1e-9,
            ftol: 0.0,
            ..Default::default()
        };
        let mut plain = vec![0.0; 40];
        let rp = minimize(&cfg, &mut plain, &[1.0; 40], f);
        let inv: Vec<f64> = c.iter().map(|c| 1.0 / c).collect();
        let mut scaled = vec![0.0; 40];
        let rs = minimize(&cfg, &mut scaled, &inv, f);
        assert!(rs.converged, "{rs:?}");
        assert!(scaled.iter().all(|x| (x - 1.0).abs() < 1e-4), "{scaled:?}");
        assert!(rs.iterations <= 3, "{rs:?}");
        assert!(rp.iterations > 10 * rs.iterations, "{rp:?} vs {rs:?}");
    }

    #[test]
    fn minimises_quadratic_exactly() {
        let mut x = vec![5.0, -3.0, 2.0];
        let c = [1.0, 10.0, 100.0];
        let r = minimize(
            &LbfgsConfig {
                gtol: 1e-10,
                ..Default::default()
            },
            &mut x,
            &[1.0; 3],
            |p, g| {
                let mut v = 0.0;
                for i in 0..3 {
                    g[i] = c[i] * (p[i] - 1.0);
                    v += 0.5 * c[i] * (p[i] - 1.0).powi(2);
                }
                v
            },
        );
        assert!(r.converged);
        assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-8), "{x:?}");
    }
}
