//! Ders 06 · NEFTune'un gürültülü embedding'leri
//!
//! NEFTune (Jain ve ark. 2023, arXiv 2310.05914) eğitim sırasında, yalnızca o
//! sırada, girdi embedding'lerine düzgün dağılımlı gürültü ekler. Gürültü,
//! `u`'nun her eleman için aynı olan tek bir ölçekle çarpımıdır ve bu ölçek,
//! bütün bir dizi üzerindeki gürültünün toplam boyu, dizinin uzunluğu ve
//! embedding'in genişliği ne olursa olsun aşağı yukarı aynı kalacak biçimde
//! seçilir. Bölümün NEFTune kısmı makalenin seçimini ve ardındaki akıl
//! yürütmeyi anlatıyor: ölçeğin ne olması gerektiğini oradan çıkar.
//!
//! Girdiler: `embeds` [batch, L, d], doldurulmuş bir mikro-batch'in
//! embedding'leri (satır başına L token, her biri d genişliğinde bir vektör);
//! `u` [batch, L, d], ölçeklenmemiş gürültü (senin için çekildi: denetleyici
//! rastgele değerler verir, bu yüzden aralıkları hakkında bir varsayımda
//! bulunma, onları kırpma ya da yeniden ölçekleme); ve `alpha`, NEFTune'un tek
//! ayar düğmesi, bir f64. Çıktı: `noisy`, `embeds` ile aynı biçimde: her
//! eleman, embedding'in elemanı artı `u`'nun karşılık gelen elemanının ölçekle
//! çarpımıdır. Ölçek alpha'ya, L'ye ve d'ye bağlıdır, batch boyutuna değil.
//!
//! Gereken candle işlemleri: (batch, L, d)'yi okumak için `dims3()`, f64 bir
//! ölçekle `(t * scale)?` ve `(a + b)?`.
//!
//! `tunelings check 06_neftune` senin fonksiyonunu ve referansı aynı rastgele
//! `embeds` ve `u` ile, alpha = 5 için çalıştırır ve `noisy`'nin her elemanını
//! karşılaştırır. Herhangi bir biçimde yanlış olan bir ölçek, sonucun biçimi
//! doğru çıksa bile geçmez.

use tunelings::exercise::{self, Io, Result, Tensor};

fn neftune(embeds: &Tensor, u: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (embeds, u, alpha);
    todo!("gürültüyü NEFTune'un yaptığı gibi ölçekle, sonra ekle")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let noisy = neftune(io.tensor("embeds")?, io.tensor("u")?, io.scalar("alpha")?)?;
        Ok(vec![("noisy", noisy)])
    })
}
