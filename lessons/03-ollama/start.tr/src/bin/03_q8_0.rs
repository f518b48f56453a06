//! Ders 03 · GGUF'un q8_0 blokları
//!
//! llama.cpp bir q8_0 tensörünü, bir satır boyunca ardışık 32 değerden oluşan
//! bloklar hâlinde saklar. Her blok bir d ölçeği ve 32 işaretli bayt tutar:
//!
//!     d = max|x| / 127          (blok üzerinde)
//!     q = round(x / d)          (−127..=127 arasında)
//!     geri açılmış = q · d
//!
//! Boyutlar: x [rows, cols], cols 32'nin katı →
//! scales [rows, cols / 32] ve dequant [rows, cols].
//!
//! Gereken candle işlemleri: `reshape` ([rows, cols / 32, 32] boyutuna: son
//! eksen bir bloktur), `abs`, `max_keepdim(2)`, `(t / 127.0)?`, `broadcast_div`,
//! `round`, `broadcast_mul`, `squeeze(2)`. Tamamı sıfır bir bloğun d'si 0'dır:
//! orada güvenli bir kopyaya böl (`d.eq(0.0)?` ve `where_cond` yardımcı olur),
//! yoksa geri açılan değerler NaN olur.
//!
//! `tunelings check 03_q8_0` iki çıktıyı da referansla karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor};

const BLOCK: usize = 32;

/// (scales, dequant) döndürür.
fn q8_0(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let _ = (x, BLOCK);
    todo!("32'lik blok başına bir ölçek, yuvarla, geri çarp")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (scales, dequant) = q8_0(io.tensor("x")?)?;
        Ok(vec![("scales", scales), ("dequant", dequant)])
    })
}
