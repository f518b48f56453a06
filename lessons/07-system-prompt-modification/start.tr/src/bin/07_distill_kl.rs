//! Ders 07 · Damıtma kaybı
//!
//! Bağlam damıtma bir öğrenciyi (sistem prompt'u olmayan modeli), öğretmenin
//! (aynı modelin prompt'lu hâlinin) tahmin ettiğini tahmin etmek üzere eğitir.
//! Yumuşak hedeflerde kayıp, ikisinin bir sonraki token dağılımları arasındaki
//! KL ıraksamasıdır; iki dağılım da bir T sıcaklığıyla yumuşatılır:
//!
//!     p = softmax(teacher / T)       q = softmax(student / T)
//!     kl = T² · (konumlar üzerinden ortalama)  Σ_v p_v · (log p_v − log q_v)
//!
//! T², gradyanın boyunu sıcaklıklar arasında karşılaştırılabilir tutar
//! (Hinton ve ark. 2015). Log-olasılıkları doğrudan ve kararlı biçimde hesapla:
//!
//!     log_softmax(x) = (x − max x) − log Σ exp(x − max x)
//!
//! Önce satırın en büyük değerini çıkarmak, büyük logit'lerde exp'in taşmasını
//! önler.
//!
//! Biçimler: teacher [n, vocab] ve student [n, vocab], her konum için bir
//! satır. Çıktı: `kl`, bir skaler (biçim []).
//!
//! Gereken candle işlemleri: `(t / temp)?`, `max_keepdim(D::Minus1)`,
//! `broadcast_sub`, `exp()`, `sum_keepdim(D::Minus1)`, `log()`, `(a * b)?`,
//! `sum_all()`, `dim(0)` ve `affine(mul, add)`.
//!
//! `tunelings check 07_distill_kl` senin `kl`'ni referansla karşılaştırır.

use tunelings::exercise::{self, Io, Result, Tensor, D};

fn distill_kl(teacher: &Tensor, student: &Tensor, temperature: f64) -> Result<Tensor> {
    let _ = (teacher, student, temperature, D::Minus1);
    todo!("ikisini de sıcaklıkla yumuşat, kararlı log-softmax'lar al, sonra T² · ortalama KL")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let kl = distill_kl(io.tensor("teacher")?, io.tensor("student")?, io.scalar("temperature")?)?;
        Ok(vec![("kl", kl)])
    })
}
