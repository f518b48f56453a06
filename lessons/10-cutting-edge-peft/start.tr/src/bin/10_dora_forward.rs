//! Ders 10 · DoRA'nın ayrıştırılmış ileri geçişi
//!
//! DoRA (Liu ve ark. 2024, arXiv 2402.09353) her ağırlığı bir yön ve bir
//! büyüklük olarak ikiye ayırır. LoRA güncellemesi içine katıldığında:
//!
//!     V = W + s·B·A                      (uyarlanmış ağırlık, [out, in])
//!     norm = her çıktı satırı için ‖V‖   ([out]: `in` üzerindeki L2 normu)
//!     y = (m / norm) ⊙ (x·Vᵀ)            (her çıktı özniteliği için ölçeklenir)
//!
//! Burada m [out] öğrenilen büyüklüktür, s = α/r. Eğitimde PEFT `norm`'u
//! sabit sayar (onun üzerinden gradyan akmaz); ileri geçişin değeri iki
//! durumda da aynıdır.
//!
//! Boyutlar: x [batch, in], W [out, in], A [r, in], B [out, r], m [out].
//! Çıktı: `y` [batch, out].
//!
//! Gereken candle işlemleri: `matmul`, `t()`, `sqr`, `sum_keepdim(1)`, `sqrt`,
//! `(t * s)?`, `broadcast_div`, `broadcast_mul`, `unsqueeze(0)`.
//!
//! `tunelings check 10_dora_forward` senin `y`'ni referansınkiyle karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor};

fn dora_forward(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, m: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (x, w, a, b, m, alpha);
    todo!("uyarlanmış ağırlık, onun satır normları, sonra her çıktıyı m / norm ile ölçekle")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let y = dora_forward(
            io.tensor("x")?,
            io.tensor("w")?,
            io.tensor("a")?,
            io.tensor("b")?,
            io.tensor("m")?,
            io.scalar("alpha")?,
        )?;
        Ok(vec![("y", y)])
    })
}
