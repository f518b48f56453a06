//! Ders 03 · GGUF'un q4_0 blokları
//!
//! q4_0, 32 değerlik blokları bir ölçek ve 32 dört bitlik kodla saklar.
//! llama.cpp'nin blok başına kuralı:
//!
//!     m = mutlak değeri en büyük olan değer, işaretiyle
//!     d = m / −8
//!     q = clamp(floor(x / d + 8.5), 0, 15)
//!     geri açılmış = (q − 8) · d
//!
//! Böylece m'nin kendisi 0 koduna düşer (−8·d = m) ve karşı tarafa bir düzey
//! eksik kalır. Boyutlar: x [rows, cols], cols 32'nin katı → dequant
//! [rows, cols].
//!
//! m'yi bulmak: bloğun `max_keepdim(2)` ve `min_keepdim(2)` değerlerini al;
//! max ≥ −min olan yerde m max'tır, değilse min (`ge`, `neg`, `where_cond`).
//! Diğer işlemler: `reshape`, `broadcast_div`, `+ 8.5`, `floor`,
//! `clamp(0.0, 15.0)`, `- 8.0`, `broadcast_mul`.
//!
//! `tunelings check 03_q4_0`, `dequant`'ı referansla karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor};

const BLOCK: usize = 32;

fn q4_0(x: &Tensor) -> Result<Tensor> {
    let _ = (x, BLOCK);
    todo!("blok başına işaretli en büyük değer, d = m / −8, 0..=15 kodları, değerlere geri dönüş")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("dequant", q4_0(io.tensor("x")?)?)]))
}
