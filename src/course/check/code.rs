//! Code exercises: build the learner's binary and the reference solution's,
//! run both on the same freshly seeded inputs, compare their tensors.

use super::{Ctx, Outcome};
use crate::course::catalog::{CodeCheck, Exercise};
use crate::course::process::{self, Finished, Limits};
use crate::course::sandbox::{self, Built};
use crate::model::random::normal_vec;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Normal tensors (mean 0, `input_std`) of the listed shapes, whole-number ones, and the
/// scalars, seeded.
pub fn make_inputs(c: &CodeCheck, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = HashMap::new();
    for (name, shape) in &c.inputs {
        let n = shape.iter().product();
        out.insert(
            name.clone(),
            Tensor::from_vec(
                normal_vec(&mut rng, n, 0.0, c.input_std as f32),
                shape.as_slice(),
                &Device::Cpu,
            )?,
        );
    }
    for (name, spec) in &c.ints {
        let n = spec.shape.iter().product();
        let values: Vec<u32> = (0..n).map(|_| rng.random_range(spec.low..=spec.high)).collect();
        out.insert(
            name.clone(),
            Tensor::from_vec(values, spec.shape.as_slice(), &Device::Cpu)?,
        );
    }
    for (name, v) in &c.scalars {
        out.insert(name.clone(), Tensor::new(*v, &Device::Cpu)?);
    }
    Ok(out)
}

fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn run_binary(exe: &Path, inputs: &Path, outputs: &Path, c: &CodeCheck) -> Result<Finished> {
    let _ = std::fs::remove_file(outputs);
    let mut cmd = Command::new(exe);
    cmd.arg(inputs).arg(outputs).env("RUST_BACKTRACE", "0");
    process::run(
        cmd,
        Limits {
            time: Duration::from_secs_f64(c.time_limit_s),
            output: c.output_limit_kib * 1024,
            memory: None,
        },
    )
}

/// Why a finished learner run is not a result, if it is not.
fn run_failure(run: &Finished, c: &CodeCheck) -> Option<String> {
    if run.timed_out {
        return Some(format!(
            "your program did not finish within {} s and was stopped (an endless loop?)",
            c.time_limit_s
        ));
    }
    if run.flooded {
        return Some(format!(
            "your program printed more than {} KiB and was stopped; remove the printing inside loops",
            c.output_limit_kib
        ));
    }
    if run.success() {
        return None;
    }
    if let Some(panic) = run.panic_message() {
        return Some(format!("your program panicked: {panic}"));
    }
    let code = run
        .status
        .and_then(|s| s.code())
        .map_or("a signal".into(), |c| format!("code {c}"));
    Some(format!(
        "your program exited with {code}:\n{}",
        run.stderr_tail(20)
    ))
}

pub fn check(ctx: &Ctx, ex: &Exercise, c: &CodeCheck, learner_file: &Path) -> Result<Outcome> {
    let shown = Path::new("exercises").join(&ex.file);
    let reference_src = ctx.course.solution_file(ex);
    let reference = match sandbox::build(ctx.engine, "reference", &ex.name, &reference_src, "solution")? {
        Built::Binary(p) => p,
        Built::CompileError(e) => bail!("the reference solution does not build:\n{e}"),
    };
    let learner = match sandbox::build(
        ctx.engine,
        &ctx.slot,
        &ex.name,
        learner_file,
        &shown.to_string_lossy(),
    )? {
        Built::Binary(p) => p,
        Built::CompileError(e) => {
            let mut msg = format!("your code does not compile yet:\n{e}");
            for note in crate::course::compile_help::explain(&e, ctx.lang) {
                msg += &format!("\n\n{note}");
            }
            return Ok(Outcome::fail(msg));
        }
    };

    let dir = ctx
        .engine
        .work_dir()
        .join("runs")
        .join(sandbox::slot_name(&ctx.slot))
        .join(&ex.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Several independent draws: a wrong answer can agree with the
    // reference on one draw by chance (two argmins that coincide).
    let first_seed = fresh_seed();
    let mut outputs = 0;
    for round in 0..ROUNDS {
        let draw = Draw {
            seed: first_seed.wrapping_add(round),
            dir: &dir,
            shown: &shown,
        };
        match run_draw(&draw, &reference, &learner, ex, c)? {
            Ok(n) => outputs = n,
            Err(fail) => return Ok(fail),
        }
    }
    Ok(Outcome::pass(format!(
        "all {} output(s) match the reference within rtol {:e}, atol {:e}",
        outputs, c.rtol, c.atol
    )))
}

/// Input draws per check.
const ROUNDS: u64 = 4;

struct Draw<'a> {
    seed: u64,
    dir: &'a Path,
    /// The learner's file as they know it, for panic locations.
    shown: &'a Path,
}

/// Runs the reference and the learner on one seeded draw of inputs: the
/// number of outputs compared when all match, else the failing verdict.
fn run_draw(
    draw: &Draw,
    reference: &Path,
    learner: &Path,
    ex: &Exercise,
    c: &CodeCheck,
) -> Result<std::result::Result<usize, Outcome>> {
    let (seed, dir, shown) = (draw.seed, draw.dir, draw.shown);
    let inputs = dir.join("inputs.safetensors");
    candle_core::safetensors::save(&make_inputs(c, seed)?, &inputs)?;

    let (want_path, got_path): (PathBuf, PathBuf) =
        (dir.join("reference.safetensors"), dir.join("learner.safetensors"));
    let reference_run = run_binary(reference, &inputs, &want_path, c)?;
    if let Some(why) = run_failure(&reference_run, c) {
        bail!("the reference solution failed (seed {seed}): {why}");
    }
    let learner_run = run_binary(learner, &inputs, &got_path, c)?;
    if let Some(why) = run_failure(&learner_run, c) {
        // Panic locations name the sandbox copy; show the learner's file.
        let why = why.replace(&format!("{}.rs:", ex.name), &format!("{}:", shown.display()));
        return Ok(Err(Outcome::fail(why)));
    }
    let want = candle_core::safetensors::load(&want_path, &Device::Cpu)?;
    let got = match candle_core::safetensors::load(&got_path, &Device::Cpu) {
        Ok(g) => g,
        Err(e) => {
            return Ok(Err(Outcome::fail(format!(
                "your program wrote no readable outputs: {e}"
            ))))
        }
    };
    let mut names: Vec<&String> = want.keys().collect();
    names.sort();
    for name in names {
        let Some(g) = got.get(name) else {
            return Ok(Err(Outcome::fail(format!(
                "your program did not return the output `{name}`"
            ))));
        };
        if let Some(diff) = compare(name, &want[name], g, c)? {
            return Ok(Err(Outcome::fail(format!("{diff}\n(inputs seeded with {seed})"))));
        }
    }
    Ok(Ok(want.len()))
}

/// None when `got` matches `want` elementwise within tolerance; otherwise
/// where it differs most, expected against got.
pub fn compare(name: &str, want: &Tensor, got: &Tensor, c: &CodeCheck) -> Result<Option<String>> {
    if want.dims() != got.dims() {
        return Ok(Some(format!(
            "output `{name}` has shape {:?}; expected {:?}",
            got.dims(),
            want.dims()
        )));
    }
    let w: Vec<f64> = want.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    let g: Vec<f64> = got.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    let mut worst: Option<(usize, f64)> = None;
    let mut bad = 0usize;
    for (i, (&w, &g)) in w.iter().zip(&g).enumerate() {
        let excess = if g.is_finite() {
            (g - w).abs() - (c.atol + c.rtol * w.abs())
        } else {
            f64::INFINITY
        };
        if excess > 0.0 {
            bad += 1;
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((i, excess));
            }
        }
    }
    let Some((i, _)) = worst else { return Ok(None) };
    let index = unravel(i, want.dims());
    Ok(Some(format!(
        "output `{name}` differs in {bad} of {} elements; the worst is at {index:?}: expected {:.6}, got {:.6} \
         (tolerance {:.1e})",
        w.len(),
        w[i],
        g[i],
        c.atol + c.rtol * w[i].abs()
    )))
}

fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for (k, &d) in dims.iter().enumerate().rev() {
        idx[k] = i % d.max(1);
        i /= d.max(1);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol() -> CodeCheck {
        toml::from_str("").unwrap()
    }

    #[test]
    fn compare_names_the_worst_element() {
        let want = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &Device::Cpu).unwrap();
        assert!(compare("y", &want, &want, &tol()).unwrap().is_none());
        let got = Tensor::new(&[[1f32, 2.5, 3.], [4., 5., 9.]], &Device::Cpu).unwrap();
        let msg = compare("y", &want, &got, &tol()).unwrap().unwrap();
        assert!(msg.contains("2 of 6"), "{msg}");
        assert!(msg.contains("[1, 2]: expected 6.000000, got 9.000000"), "{msg}");
        let nan = Tensor::new(&[[1f32, 2., 3.], [4., f32::NAN, 6.]], &Device::Cpu).unwrap();
        assert!(compare("y", &want, &nan, &tol())
            .unwrap()
            .unwrap()
            .contains("[1, 1]"));
        let wrong_shape = Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap();
        assert!(compare("y", &want, &wrong_shape, &tol())
            .unwrap()
            .unwrap()
            .contains("shape [3]"));
    }
}
