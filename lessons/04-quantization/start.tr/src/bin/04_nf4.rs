//! Ders 04 · Bloklar hâlinde NF4 nicemleme (QLoRA)
//!
//! x, 64 değerlik bloklara bölünür. Her blok için:
//!   1. absmax = blok üzerinde max|x|;
//!   2. her değer [−1, 1] aralığına ölçeklenir: x / absmax;
//!   3. kodu, 16 NF4 seviyesinden en yakınının indeksidir (0..=15).
//!
//! "En yakın" bitsandbytes'ı izler: bir değer, orta nokta
//! (NF4[i] + NF4[i + 1]) / 2'nin üstündeyse i yerine i + 1 kodunu alır.
//! Yani kod, 15 orta noktadan kaçının değerin altında kaldığıdır.
//!
//! Şekiller: n 64'ün katı olmak üzere x [n] → codes [n] (f32 olarak), absmax [n / 64].
//! Gereken candle işlemleri: `reshape`, `abs`, `max_keepdim`, `broadcast_div`,
//! `unsqueeze`, `broadcast_gt`, `to_dtype(DType::F32)`, `sum(D::Minus1)`,
//! `flatten_all` ve orta noktalar için `Tensor::new(&array, &Device::Cpu)`.
//!
//! Denetim, referansın kodlarının ve ölçeklerinin birebir aynısını ister.

#![allow(dead_code)]

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor, D};

/// 16 NF4 seviyesi (bitsandbytes'ın `get_4bit_type("nf4")` değeri), kodlar 0..=15.
const NF4: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

const BLOCK: usize = 64;

/// Komşu seviyeler arasındaki 15 orta nokta.
fn midpoints() -> [f32; 15] {
    std::array::from_fn(|i| (NF4[i] + NF4[i + 1]) / 2.0)
}

/// (codes, absmax) döndürür.
fn nf4_quantize(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let _ = (x, DType::F32, Device::Cpu, D::Minus1);
    todo!("64'lük blok başına absmax, ölçekle, her değerin altında kalan orta noktaları say")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (codes, absmax) = nf4_quantize(io.tensor("x")?)?;
        Ok(vec![("codes", codes), ("absmax", absmax)])
    })
}
