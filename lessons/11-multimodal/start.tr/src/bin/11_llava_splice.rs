//! Ders 11 · Projektör ve ekleme
//!
//! LLaVA bir resmi üç adımda okur:
//!
//! 1. dondurulmuş kodlayıcı resmin her hücresi için bir öznitelik satırı
//!    verir (2×2 yama birleştirilmiş): `features` [4, 24];
//! 2. projektör her satırı LLaVA-1.5'in iki katmanlı MLP'siyle dil modelinin
//!    embedding uzayına taşır:
//!
//!        visual = GELU(features · w1ᵀ + b1) · w2ᵀ + b2
//!
//!    burada `w1` [20, 24], `b1` [20], `w2` [20, 20], `b2` [20]'dir; GELU da
//!    PyTorch'un nn.GELU()'su gibi tam (erf) olanıdır;
//! 3. sohbetin `<image>` yer tutucusu token kimliklerinden kesilip çıkarıldı;
//!    geriye metin embedding'leri `text` [9, 20] kaldı; `slot` [1] (u32) yer
//!    tutucunun nerede durduğunu söyler. Görsel satırlar oraya girer:
//!
//!        sequence = text[..slot] ++ visual ++ text[slot..]    → [13, 20]
//!
//! Eğitim modelden asla görsel bir satırı tahmin etmesini istememeli
//! (tahmin edilecek bir token yoktur); bu yüzden `text_mask` [13] (u32) de
//! döndür: bir satır metin token'ıysa 1, görsel bir satırsa 0.
//!
//! Çıktılar: `visual`, `sequence`, `text_mask`.
//!
//! Gereken candle işlemleri: `broadcast_matmul`, `t()`, `broadcast_add`,
//! `gelu_erf()`, `narrow(dim, start, len)`, `Tensor::cat(&[..], dim)`,
//! `dim(0)`, ve maske için `Tensor::new(v.as_slice(), &Device::Cpu)`.
//!
//! `tunelings check 11_llava_splice` çıktılarını referansınkilerle karşılaştırır.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

fn project(io: &Io) -> Result<Tensor> {
    let _ = io;
    todo!("GELU(features · w1ᵀ + b1) · w2ᵀ + b2")
}

fn splice(text: &Tensor, slot: usize, visual: &Tensor) -> Result<(Tensor, Tensor)> {
    let _ = (text, slot, visual, Device::Cpu);
    todo!("slot'tan önceki satırlar, görsel satırlar, geri kalanı; bir de maske")
}

fn llava(io: &Io) -> Result<Vec<(&'static str, Tensor)>> {
    let visual = project(io)?;
    let slot = io.tensor("slot")?.to_vec1::<u32>()?[0] as usize;
    let (sequence, text_mask) = splice(io.tensor("text")?, slot, &visual)?;
    Ok(vec![("visual", visual), ("sequence", sequence), ("text_mask", text_mask)])
}

fn main() -> std::process::ExitCode {
    exercise::run(llava)
}
