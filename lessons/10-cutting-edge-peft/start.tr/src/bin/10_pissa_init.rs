//! Ders 10 · PiSSA'nın asıl tekil vektörlerden başlaması
//!
//! PiSSA (Meng ve ark. 2024, arXiv 2404.02948) adapter'ı sıfırdan değil,
//! W'nin en önemli kısmından başlatır. W = U·diag(S)·Vᵀ ve en büyük r tekil
//! değer önde olmak üzere:
//!
//!     A = diag(√S_r)·Vᵀ_r               [r, in]   (Vᵀ'nin ilk r satırı)
//!     B = U_r·diag(√S_r)                [out, r]  (U'nun ilk r sütunu)
//!     W_res = W − B·A                   [out, in] (donmuş kalıntı)
//!
//! böylece W_res + B·A yine W olur ve eğitim modelin olduğu hâlinden başlar.
//! (PEFT önce S_r'yi s = α/r ölçeğine böler ki s·B·A yine asıl kısım olsun;
//! burada α = r, yani s = 1.)
//!
//! Çalıştırıcı sana SVD'nin parçalarını, en büyük değerler önde olmak üzere
//! verir: U [out, k], S [k] ve Vᵀ [k, in]; W = U·diag(S)·Vᵀ'yi onlardan sen
//! kur. S tam sayı (u32) olarak gelir: önce onu F32’ye çevir (`to_dtype`).
//! Rank r aşağıda bir sabittir.
//!
//! Çıktılar: `a`, `b` ve `w_res`.
//!
//! Gereken candle işlemleri: `narrow(dim, start, len)`, `sqrt`, `unsqueeze`,
//! `broadcast_mul`, `matmul`, `(x - y)?`.
//!
//! `tunelings check 10_pissa_init` üçünü de referansla karşılaştırır.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

const RANK: usize = 2;

/// (a, b, w_res) döndürür.
fn pissa_init(u: &Tensor, s: &Tensor, vt: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let _ = (u, s, vt, RANK, DType::F32);
    todo!("SVD'sinden W, sonra en büyük r tekil üçlüden A ve B, sonra kalıntı")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (a, b, w_res) = pissa_init(io.tensor("u")?, io.tensor("s")?, io.tensor("vt")?)?;
        Ok(vec![("a", a), ("b", b), ("w_res", w_res)])
    })
}
