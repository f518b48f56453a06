//! Ders 02 · Birleştirme ve ayırma
//!
//! Bir adapter eğitildikten sonra sapağı donmuş ağırlığın içine katlanabilir:
//! W ile aynı [out, in] boyutunda tek bir W' matrisi; her x girdisi için
//! `02_lora_forward`'daki donmuş yol artı ölçeklenmiş sapakla aynı çıktıyı
//! verir. Çıkarımın maliyeti böylece temel modelinkine eşit olur. Ayırma
//! (unmerge) adapter'ı birleştirilmiş ağırlıktan yeniden çıkarır ve kayan
//! nokta yuvarlaması dışında W'yi geri verir.
//!
//! Girdiler: W [out, in], A [r, in], B [out, r] ve α (`alpha`); rank r'yi
//! `main` senin için A'nın boyutundan okur. Üç fonksiyon yaz:
//! - `scaling`: PEFT'in adapter'ın güncellemesine koyduğu çarpan; sıradan LoRA
//!   için ve rsLoRA (`use_rslora`) için. İkisini de bölümün "Ayar düğmesi"
//!   kısmı verir. Rank bir usize, ölçek bir f64.
//! - `merge`: W, A, B ve bir s ölçeğinden W'. A ile B'nin hangi çarpımının W
//!   boyutunda olduğunu ve neden sapağı yeniden ürettiğini bul; bölümün
//!   "Birleştirme (merge): sapak ortadan kalkar" kısmı bunu adım adım anlatır.
//! - `unmerge`: W', A, B ve aynı s'den yeniden W.
//! Candle: `matmul` iki 2 boyutlu tensörü çarpar, bir tensör bir f64 ile
//! çarpılabilir, `+` ve `-` aynı boyuttaki tensörler arasında çalışır.
//!
//! `main`, `merged` (sıradan LoRA ölçeği), `merged_rs` (rsLoRA ölçeği) ve
//! `unmerged` (sıradan ölçekle ayrılmış `merged`) döndürür.
//! `tunelings check 02_merge` referansı aynı rastgele W, A ve B ile çalıştırır
//! (orada B sıfır değildir, güncelleme görünür) ve üçünü eleman eleman
//! karşılaştırır: iki birleştirilmiş ağırlık eşleşmeli, `unmerged` da W'ye
//! geri dönmelidir.

use tunelings::exercise::{self, Io, Result, Tensor};

/// PEFT'in adapter'ın güncellemesine koyduğu ölçek.
fn scaling(alpha: f64, rank: usize, rslora: bool) -> f64 {
    let _ = (alpha, rank, rslora);
    todo!("sıradan LoRA'nın ölçeği, `rslora` true ise rsLoRA'nınki")
}

/// Adapter'ın s ile ölçeklenmiş güncellemesi katılmış W.
fn merge(w: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Result<Tensor> {
    let _ = (w, a, b, s);
    todo!("güncellemeyi W'nin içine kat")
}

/// `merge`'ün tersi: yeniden W.
fn unmerge(merged: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Result<Tensor> {
    let _ = (merged, a, b, s);
    todo!("güncellemeyi yeniden çıkar")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (w, a, b) = (io.tensor("w")?, io.tensor("a")?, io.tensor("b")?);
        let (alpha, rank) = (io.scalar("alpha")?, a.dim(0)?);
        let merged = merge(w, a, b, scaling(alpha, rank, false))?;
        let merged_rs = merge(w, a, b, scaling(alpha, rank, true))?;
        let unmerged = unmerge(&merged, a, b, scaling(alpha, rank, false))?;
        Ok(vec![("merged", merged), ("merged_rs", merged_rs), ("unmerged", unmerged)])
    })
}
