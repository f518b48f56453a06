//! Ders 02 · LoRA ileri geçişi
//!
//! Bir LoRA katmanı önceden eğitilmiş W ağırlığını dondurulmuş bırakır ve
//! yanına eğitilebilir bir sapak ekler: A her girdi vektörünü r sayıya
//! sıkıştırır, B onları katmanın çıktı genişliğine yeniden yayar ve sapağın
//! sonucu donmuş yola katılmadan önce ölçeklenir. İleri geçişi bölümün
//! "Kavrayış: değişim basittir" kısmı açıkça yazar; oradaki çözümlü örnekle
//! nasıl okuduğunu kâğıt üzerinde sınayabilirsin.
//!
//! Girdiler: x [batch, seq, in], W [out, in], A [r, in], B [out, r] ve α
//! (`alpha`). PyTorch ve candle bir linear katmanı nasıl saklıyorsa her ağırlık
//! da öyle, [out, in] olarak saklanır. Rank r verilmez: onu A'nın boyutundan oku.
//!
//! Çıktı: y [batch, seq, out]; donmuş katmanın x için verdiği artı adapter'ın
//! ölçeklenmiş güncellemesi. r genişliğindeki darboğazdan geç; güncellemenin
//! [out, in] boyutundaki matrisini hiç kurma.
//!
//! `tunelings check 02_lora_forward`, fonksiyonunu ve referans çözümü aynı
//! rastgele girdilerle çalıştırır (orada B sıfır değildir, güncelleme görünür)
//! ve `y`'nin her elemanını karşılaştırır. Doğru boyutlar yetmez: eksik bir
//! ölçek ya da yanlış bir transpoz makul görünen ama geçmeyen sayılar verir.

use tunelings::exercise::{self, Io, Result, Tensor};

fn lora_forward(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (x, w, a, b, alpha);
    todo!("donmuş yol artı ölçeklenmiş düşük rank'lı sapak")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let y = lora_forward(
            io.tensor("x")?,
            io.tensor("w")?,
            io.tensor("a")?,
            io.tensor("b")?,
            io.scalar("alpha")?,
        )?;
        Ok(vec![("y", y)])
    })
}
