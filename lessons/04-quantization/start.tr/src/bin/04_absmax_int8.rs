//! Ders 04 · Absmax int8 nicemleme
//!
//! x'in her satırı kendi ölçeğini alır; böylece satırın en büyük mutlak
//! değeri 127'ye düşer:
//!
//!     scale = max|x| / 127        (satır başına bir tane)
//!     q     = round(x / scale)    (−127..=127 aralığında tam sayılar)
//!     x̂     = q · scale           (modelin hesapladığı değer)
//!
//! Şekiller: x [rows, cols] → q [rows, cols], scale [rows, 1], dequant [rows, cols].
//! Gereken candle işlemleri: `abs`, `max_keepdim(1)`, `broadcast_div`, `round`,
//! `broadcast_mul` ve bir tensörü bir sayıya bölmek için `(t / 127.0)?`.
//!
//! `tunelings check 04_absmax_int8`, q, scale ve dequant değerlerini aynı
//! rastgele girdilerde referans çözümünkilerle karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor};

/// (q, scale, dequant) döndürür.
fn absmax_int8(x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let _ = x;
    todo!("satır başına bir ölçek, sonra yuvarla, sonra geri çarp")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (q, scale, dequant) = absmax_int8(io.tensor("x")?)?;
        Ok(vec![("q", q), ("scale", scale), ("dequant", dequant)])
    })
}
