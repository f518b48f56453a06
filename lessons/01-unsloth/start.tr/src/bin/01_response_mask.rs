//! Ders 01 · Kayıp yalnızca yanıtta
//!
//! Bir sohbet örneğinde önce prompt (sistem ve kullanıcı sıraları), ardından
//! yanıt gelir. Eğitim kaybı yalnızca yanıtta saymalı; bu yüzden yanıttan
//! önceki her etiket −100 yapılır: PyTorch'un cross-entropy'sinin atladığı
//! "yok say" indeksi (tunelings de onu aynı biçimde kullanır).
//!
//! Girdi: `labels` [batch, seq] (token kimlikleri, u32) ve skaler `prompt_len`.
//! Çıktı: i64 olarak etiketler; prompt_len'den küçük her konum −100 yapılmış.
//!
//! Gereken candle işlemleri: `to_dtype(DType::I64)`, `Tensor::arange(0u32, seq,
//! &Device::Cpu)`, `ge(n)` gibi bir sayıyla karşılaştırma (doğru olduğu yerde
//! 1 verir), `broadcast_as`, `Tensor::full(-100i64, shape, &Device::Cpu)` ve
//! `where_cond`: `mask.where_cond(&if_true, &if_false)`.
//!
//! `tunelings check 01_response_mask` etiketlerini referansla karşılaştırır.

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor};

fn mask_prompt(labels: &Tensor, prompt_len: u32) -> Result<Tensor> {
    let _ = (labels, prompt_len, DType::I64, Device::Cpu);
    todo!("prompt_len'den önce −100, oradan itibaren etiketin kendisi")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let prompt_len = io.scalar("prompt_len")? as u32;
        Ok(vec![("labels", mask_prompt(io.tensor("labels")?, prompt_len)?)])
    })
}
