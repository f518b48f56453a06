//! Ders 01 · Paketlenmiş bir satırın konum kimlikleri
//!
//! Paketleme, birkaç kısa örneği tek bir satıra art arda koyar. Her örnek
//! yine de kendini 0. konumda başlıyormuş gibi görmeli; yoksa rotary konum
//! embedding'leri, önüne paketlenmiş her şey kadar kayar.
//!
//! Girdi: `lengths` [k] (u32), paketlenmiş her örneğin token sayısı.
//! Çıktı: `positions`, u32, uzunluğu lengths.sum():
//!
//!     lengths = [3, 2, 4]  →  positions = [0, 1, 2, 0, 1, 0, 1, 2, 3]
//!
//! Burada düz bir Rust döngüsü yeterli: uzunlukları
//! `lengths.to_vec1::<u32>()?` ile oku, bir `Vec<u32>` kur ve onu
//! `Tensor::new(v.as_slice(), &Device::Cpu)?` ile yeniden tensöre çevir.
//! (Python'da: `[i for n in lengths for i in range(n)]`.)
//!
//! `tunelings check 01_packed_positions` referansla karşılaştırır.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

fn packed_positions(lengths: &Tensor) -> Result<Tensor> {
    let _ = (lengths, Device::Cpu);
    todo!("her örnek için 0..len, birbiri ardına")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("positions", packed_positions(io.tensor("lengths")?)?)]))
}
