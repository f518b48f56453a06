//! Ders 05 · n-gram sayımlarından chrF
//!
//! chrF bir yanıtı (hipotezi) referansla karakter n-gram'ları üzerinden
//! karşılaştırır. Her n-gram'ın iki taraftaki sayısı aynı sırayla verilince:
//!
//!     matches = Σ min(hyp_counts, ref_counts)
//!     P = matches / Σ hyp_counts        (yanıtın ne kadarı doğru)
//!     R = matches / Σ ref_counts        (referansın ne kadarını kapsıyor)
//!     chrF = (1 + β²)·P·R / (β²·P + R)   β = 2 ile; P + R = 0 ise 0
//!
//! Girdi: `hyp_counts`, `ref_counts` [k] (u32). Çıktı: `chrf`, 0 boyutlu bir
//! tensör olarak tek bir sayı (`Tensor::new(value, &Device::Cpu)?`).
//!
//! Gereken candle işlemleri: `to_dtype(DType::F64)`, `minimum`, `sum_all` ve
//! `to_scalar::<f64>()`; gerisi f64 üzerinde düz aritmetik.
//!
//! `tunelings check 05_chrf` senin skorunu referansınkiyle karşılaştırır.

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor};

const BETA: f64 = 2.0;

fn chrf(hyp_counts: &Tensor, ref_counts: &Tensor) -> Result<Tensor> {
    let _ = (hyp_counts, ref_counts, BETA, DType::F64, Device::Cpu);
    todo!("eşleşmeler, kesinlik, duyarlılık, sonra β = 2 ile F-skoru")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("chrf", chrf(io.tensor("hyp_counts")?, io.tensor("ref_counts")?)?)]))
}
