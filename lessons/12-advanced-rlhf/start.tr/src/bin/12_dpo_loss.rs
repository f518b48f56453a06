//! Ders 12 · DPO kaybı
//!
//! DPO (Rafailov ve ark. 2023) bir ödül modeli olmadan tercih çiftleri
//! üzerinde eğitir. Her çift için, cevabın tamamının politika π ve dondurulmuş
//! referans π_ref altındaki toplam log-olasılıklarıyla:
//!
//!     Δw = log π(chosen) − log π_ref(chosen)
//!     Δl = log π(rejected) − log π_ref(rejected)
//!     loss = çiftler üzerinden −log σ(β · (Δw − Δl)) ortalaması
//!
//! ve TRL'nin günlüğe yazdığı ölçüler, her biri çiftler üzerinden bir ortalama:
//!
//!     rewards_chosen = β·Δw    rewards_rejected = β·Δl
//!     margins = β·(Δw − Δl)    accuracy = Δw > Δl olan çiftlerin payı
//!
//! Toplam log-olasılıklar yüzlerce nat'tır, yani β·(Δw − Δl) −200 olabilir.
//! O zaman σ f32'de 0'a düşer ve log σ = −inf olur. Kararlı biçimi kullan:
//!
//!     log σ(z) = min(z, 0) − log(1 + e^(−|z|))
//!
//! burada e^(−|z|) asla taşmaz. min(z, 0)'ı (z − |z|) / 2 olarak yaz.
//!
//! Girdiler: `policy_chosen`, `policy_rejected`, `ref_chosen`, `ref_rejected`
//! (her biri [pairs]) ve skaler `beta`. Çıktılar: `loss`, `rewards_chosen`,
//! `rewards_rejected`, `margins` ve `accuracy`, her biri bir skaler (boyut []).
//!
//! Gereken candle işlemleri: `(a - b)?`, `affine(mul, add)`, `abs()`, `neg()`,
//! `exp()`, `log()`, `mean_all()`, `gt(&other)` ve `to_dtype(DType::F32)`.
//!
//! `tunelings check 12_dpo_loss` çıktılarını referansınkilerle karşılaştırır.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

fn log_sigmoid(z: &Tensor) -> Result<Tensor> {
    let _ = z;
    todo!("min(z, 0) − log(1 + e^(−|z|)), burada min(z, 0) = (z − |z|) / 2")
}

fn dpo(io: &Io) -> Result<Vec<(&'static str, Tensor)>> {
    let _ = (io, DType::F32, log_sigmoid as fn(&Tensor) -> Result<Tensor>);
    todo!("Δw, Δl ve z = Δw − Δl; sonra kayıp ve dört ölçü")
}

fn main() -> std::process::ExitCode {
    exercise::run(dpo)
}
