//! Ders 00 · Hangi checkpoint saklanmalı
//!
//! Bir eğitim, adapter'ını birkaç kez değerlendirdi. Her değerlendirmede
//! ortalama eğitim kaybı ve held-out kaybı elinde:
//!
//!     train_loss [n]    eval_loss [n]
//!
//! Döndür
//!   - `best`: en düşük held-out kaybının indeksi, tek elemanlı bir tensör
//!     olarak (NumPy: `np.argmin(eval_loss)`);
//!   - `gap`: eleman eleman eval_loss − train_loss. Eğitim kaybı düşerken
//!     durmadan açılan bir fark, aşırı öğrenmedir.
//!
//! Gereken candle işlemleri: `argmin_keepdim(0)` (boyutu korur, böylece
//! sonucun şekli [1] olur) ve `sub` (ya da iki `&Tensor` arasında `-`). Her
//! candle çağrısı başarısız olabilir, bu yüzden `?` ile biter.
//!
//! `tunelings check 00_best_step` iki çıktıyı da referansla karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor};

/// (best, gap) döndürür.
fn best_step(train_loss: &Tensor, eval_loss: &Tensor) -> Result<(Tensor, Tensor)> {
    let _ = (train_loss, eval_loss);
    todo!("en düşük held-out kaybının indeksi ve eval − train")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (best, gap) = best_step(io.tensor("train_loss")?, io.tensor("eval_loss")?)?;
        Ok(vec![("best", best), ("gap", gap)])
    })
}
