//! Ders 09 · Eğitimin bellekteki bedeli
//!
//! Bir eğitim başlamadan önce sığıp sığmayacağını hesapla. Aktivasyonları
//! dışarıda bırak ve eğitim boyunca bellekte kalanları say: her parametrenin
//! ağırlığı, eğitilen her parametre için de ayrıca gradyanı ve AdamW'nin iki
//! hareketli ortalaması (m ve v).
//!
//! Girdiler: `n` ve `t` [k] (u32): k model; her biri N parametreli bir temel
//! ve T parametreli bir adapter.
//! Çıktılar: `full`, `lora`, `qlora` [k], her yöntemin gerektirdiği bayt,
//! f64 olarak:
//!
//!     full     temelin her ağırlığı eğitilir; adapter yoktur.
//!     lora     temel dondurulur ve F32 tutulur; yalnızca adapter eğitilir.
//!     qlora    temel dondurulur ve NF4 tutulur; yalnızca adapter eğitilir.
//!
//! Değer başına bayt: F32'de bir ağırlık, gradyan ya da moment 4 bayttır;
//! adapter ve eğitilen her şey F32'dir. NF4 bir ağırlık 4 bitlik bir koddur
//! ve 64 NF4 ağırlıklık her blok bir F32 absmax paylaşır (çift nicemleme
//! yok). Temelin her parametresini, embedding dahil, böyle fiyatla (motorun
//! gerçek QLoRA faturasının neden daha yüksek çıktığını 09. bölüm anlatır).
//!
//! Çarpmadan önce f64'e çevir: birkaç bayt çarpı milyarlarca parametre bir
//! u32'ye sığmaz.
//!
//! Gereken candle işlemleri: `to_dtype(DType::F64)`, bir tensör çarpı bir
//! f64 (`(&x * 3.0)?`) ve iki tensörün toplamı (`(&a + &b)?`).
//!
//! `tunelings check 09_memory` üç çıktını referansınkilerle karşılaştırır.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

/// (full, lora, qlora) değerlerini bayt olarak döndürür.
fn training_bytes(n: &Tensor, t: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let _ = (n, t, DType::F64);
    todo!("ağırlıklar, gradyanlar ve AdamW'nin iki momenti, bayt olarak")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (full, lora, qlora) = training_bytes(io.tensor("n")?, io.tensor("t")?)?;
        Ok(vec![("full", full), ("lora", lora), ("qlora", qlora)])
    })
}
