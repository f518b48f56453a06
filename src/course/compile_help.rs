//! Plain words for the compiler errors a learner who knows Python meets
//! first, added under rustc's own message.

use super::catalog::Lang;

/// (error code, English, Turkish).
const NOTES: &[(&str, &str, &str)] = &[
    (
        "E0308",
        "A value has a different type from the one expected here. Candle calls return `Result<Tensor>`: add `?` to get the Tensor out, and wrap your final tensor as `Ok(t)`.",
        "Bir değer burada beklenenden farklı türde. Candle çağrıları `Result<Tensor>` döndürür: Tensor'ı almak için `?` ekle, son tensörünü `Ok(t)` ile sar.",
    ),
    (
        "E0277",
        "An operation is not defined for these types. Common causes: `?` inside a function that does not return `Result`, or `+ - * /` between a tensor and an integer (write `2.0`, not `2`).",
        "Bu türler için bir işlem tanımlı değil. Sık nedenler: `Result` döndürmeyen bir fonksiyonda `?` kullanmak ya da bir tensörle tam sayı arasında `+ - * /` (`2` değil `2.0` yaz).",
    ),
    (
        "E0369",
        "This operator cannot combine these two values. Between two tensors, borrow them: `(&a + &b)?`, and finish with `?`, since tensor arithmetic can fail.",
        "Bu işleç bu iki değeri birleştiremez. İki tensör arasında onları ödünç al: `(&a + &b)?`, ve sonuna `?` koy, çünkü tensör aritmetiği hata verebilir.",
    ),
    (
        "E0599",
        "No method by this name exists on this type. Check the spelling against the ops named in the exercise's comment, and whether you still hold a `Result` that needs `?` first.",
        "Bu türde bu adla bir metot yok. Yazımı alıştırmanın yorumundaki işlemlerle karşılaştır ve önce `?` gerektiren bir `Result` tutup tutmadığına bak.",
    ),
    (
        "E0425",
        "A name is used that does not exist here: a typo, or a variable defined inside another block. Rust variables live until the `}` that closes their block.",
        "Burada var olmayan bir ad kullanılmış: bir yazım hatası ya da başka bir blokta tanımlanmış bir değişken. Rust'ta değişkenler bloklarını kapatan `}` işaretine kadar yaşar.",
    ),
    (
        "E0382",
        "A value was used after it was moved away. Pass tensors by reference (`&t`), or call `.clone()`: a tensor clone is cheap and shares its data.",
        "Bir değer taşındıktan sonra kullanılmış. Tensörleri referansla (`&t`) geçir ya da `.clone()` çağır: tensör kopyası ucuzdur ve verisini paylaşır.",
    ),
    (
        "E0061",
        "A function got the wrong number of arguments; the compiler's note shows its signature.",
        "Bir fonksiyon yanlış sayıda argüman almış; derleyicinin notu imzasını gösteriyor.",
    ),
];

/// One line of explanation per distinct error code found in `stderr`.
pub fn explain(stderr: &str, lang: Lang) -> Vec<String> {
    NOTES
        .iter()
        .filter(|(code, _, _)| stderr.contains(&format!("error[{code}]")))
        .map(|(code, en, tr)| match lang {
            Lang::En => format!("In plain words ({code}): {en}"),
            Lang::Tr => format!("Kısaca ({code}): {tr}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_get_one_note_each_in_the_chosen_language() {
        let stderr =
            "error[E0308]: mismatched types\n...\nerror[E0308]: mismatched types\nerror[E0599]: no method";
        let en = explain(stderr, Lang::En);
        assert_eq!(en.len(), 2);
        assert!(en[0].starts_with("In plain words (E0308): A value has a different type"));
        assert!(explain(stderr, Lang::Tr)[1].starts_with("Kısaca (E0599): Bu türde"));
        assert!(explain("error[E9999]: something else", Lang::En).is_empty());
    }
}
