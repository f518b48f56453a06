//! The harness every code exercise's `main` calls. The checker runs the
//! learner's binary and the reference solution's with the same freshly
//! seeded inputs and compares what they write.
//!
//! ```no_run
//! use tunelings::exercise::{self, Io};
//! fn main() -> std::process::ExitCode {
//!     exercise::run(|io: &Io| {
//!         let x = io.tensor("x")?;
//!         Ok(vec![("y", (x * io.scalar("scale")?)?)])
//!     })
//! }
//! ```

pub use anyhow::Result;
use anyhow::{anyhow, bail, Context};
pub use candle_core::{self, DType, Device, Tensor, D};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

/// The inputs of one run: tensors and scalars by name.
pub struct Io {
    tensors: HashMap<String, Tensor>,
}

impl Io {
    pub fn load(path: &Path) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("cannot read the exercise inputs {}", path.display()))?;
        Ok(Self { tensors })
    }

    pub fn new(tensors: HashMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| {
            let mut known: Vec<_> = self.tensors.keys().collect();
            known.sort();
            anyhow!("no input named `{name}`; the inputs are {known:?}")
        })
    }

    /// A scalar input (stored as a 0-d tensor).
    pub fn scalar(&self, name: &str) -> Result<f64> {
        Ok(self.tensor(name)?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }
}

/// Runs `f` on the inputs named by argv[1] and writes its outputs to argv[2].
/// With no arguments it says how to check the exercise.
pub fn run(f: impl FnOnce(&Io) -> Result<Vec<(&'static str, Tensor)>>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [inputs, outputs] => run_files(Path::new(inputs), Path::new(outputs), f),
        _ => {
            println!("This is an exercise: `tunelings check <name>` runs it against the reference.");
            return ExitCode::SUCCESS;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_files(
    inputs: &Path,
    outputs: &Path,
    f: impl FnOnce(&Io) -> Result<Vec<(&'static str, Tensor)>>,
) -> Result<()> {
    let io = Io::load(inputs)?;
    let out = f(&io)?;
    if out.is_empty() {
        bail!("the exercise returned no outputs");
    }
    let map: HashMap<String, Tensor> = out
        .into_iter()
        .map(|(k, t)| Ok((k.to_string(), t.contiguous()?)))
        .collect::<Result<_>>()?;
    candle_core::safetensors::save(&map, outputs)
        .with_context(|| format!("cannot write {}", outputs.display()))
}
