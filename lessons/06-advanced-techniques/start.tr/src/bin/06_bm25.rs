//! Ders 06 · Küçük bir arayıcı: BM25
//!
//! Bilgileri ağırlıklara ince ayarla işlemeden önce onları aramayı dene. BM25,
//! her belgenin bir sorguya ne kadar uyduğunu yalnızca sözcük sayılarından
//! puanlar:
//!
//!     idf(w)    = ln(1 + (N − df(w) + 0.5) / (df(w) + 0.5))
//!     score(d)  = Σ_w q_w · idf(w) · tf(w,d)·(k1 + 1) / (tf(w,d) + k1·(1 − b + b·|d|/avgdl))
//!
//! N belge sayısı, df(w) bunlardan kaçının w'yu içerdiği, tf(w,d) w'nun d'de
//! kaç kez geçtiği, |d| d'nin sözcük cinsinden uzunluğu, avgdl de ortalama
//! uzunluktur. k1 = 1.2 bir sözcüğü tekrarlamanın kazandırabileceğini sınırlar;
//! b = 0.75 uzun bir belgenin ne kadar cezalandırılacağını söyler. Nadir
//! sözcükler büyük, her belgede geçen sözcükler küçük bir idf alır.
//! Bölümün BM25 kısmı bu formülü parça parça kuruyor ve küçük bir örneği elle
//! çözüyor: kodu yazmadan önce onu baştan sona izle.
//!
//! Girdiler: `tf` [docs, vocab], belge başına sözcük sayıları, ve `q` [vocab],
//! sorguda geçen sözcükler için 1, diğerleri için 0 (ikisi de u32). Çıktı:
//! `scores` [docs], f32.
//!
//! Gereken candle işlemleri: `to_dtype(DType::F32)`, varlığı işaretlemek için
//! `gt(0f32)` ve ardından `to_dtype(DType::F32)`, sütun ve satır toplamları
//! için `sum(0)` / `sum(1)`, `mean_all()`, `affine(mul, add)`, `log()`,
//! `recip()`, `broadcast_mul`/`broadcast_add`/`broadcast_div` ve `dims2()`.
//!
//! `tunelings check 06_bm25` puanlarını referansla karşılaştırır.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

const K1: f64 = 1.2;
const B: f64 = 0.75;

fn bm25(tf: &Tensor, q: &Tensor) -> Result<Tensor> {
    let _ = (tf, q, DType::F32, K1, B);
    todo!("sözcük başına idf, belge başına uzunluk düzeltmesi, sonra doyan toplam")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("scores", bm25(io.tensor("tf")?, io.tensor("q")?)?)]))
}
