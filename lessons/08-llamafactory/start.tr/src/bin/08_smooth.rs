//! Ders 08 · Kayıp panosunun yumuşatılmış eğrisi
//!
//! Eğitim kaybı bir batch'ten ötekine zıplar. Pano onu iki kez çizer: ham
//! hâliyle ve üstel hareketli ortalamayla yumuşatılmış olarak. Ortalama
//! eğilimi izler, gürültüyü bastırır:
//!
//!     s₀ = x₀
//!     sₜ = β·sₜ₋₁ + (1 − β)·xₜ        β = 0,8 ile
//!
//! 0'dan değil s₀ = x₀'dan başlamak ilk noktaları yanıltmayan kılar: 0 ile
//! başlatılan bir eğri gerçek kaybın çok altından başlar ve tırmanır.
//!
//! Girdi: `loss` [n], adım başına bir değer. Çıktı: `smoothed` [n].
//!
//! Gereken candle işlemleri: bir Vec almak için `to_vec1::<f32>()`, sade bir
//! döngü ve geri vermek için `Tensor::new(values, &Device::Cpu)?`.
//!
//! `tunelings check 08_smooth` senin eğrini referansınkiyle karşılaştırır.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

const BETA: f32 = 0.8;

fn smooth(loss: &Tensor) -> Result<Tensor> {
    let _ = (loss, BETA, Device::Cpu);
    todo!("ilk kayıpla başlat, sonra her yenisini karıştırarak ekle")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("smoothed", smooth(io.tensor("loss")?)?)]))
}
