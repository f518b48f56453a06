//! Every string the UI shows, in English and Turkish.

use crate::course::catalog::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    AppTitle,
    Welcome,
    Lessons,
    Progress,
    Current,
    AllDone,
    NoExercises,
    Chapter,
    Exercises,
    Output,
    NoCheckYet,
    Checking,
    Watching,
    HintsLeft,
    NoMoreHints,
    SolveFirst,
    Solution,
    ResetDone,
    TooSmall,
    FooterHome,
    FooterLesson,
    EditorFailed,
    Pass,
    Fail,
    Error,
    ChatTitle,
    ChatEmpty,
    You,
    FooterChat,
    AdapterOn,
    AdapterOff,
    NoAdapter,
}

/// (English, Turkish) for every key.
fn pair(key: Key) -> (&'static str, &'static str) {
    use Key::*;
    match key {
        AppTitle => ("tunelings: learn fine-tuning by doing it", "tunelings: fine-tuning'i yaparak öğren"),
        Welcome => (
            "Welcome! Pick a lesson and press Enter. Each lesson is a chapter to read beside exercises \
             you solve in your own editor; they are checked the moment you save.",
            "Hoş geldin! Bir ders seç ve Enter'a bas. Her ders, kendi editöründe çözdüğün alıştırmaların \
             yanında okunacak bir bölümdür; kaydettiğin anda kontrol edilirler.",
        ),
        Lessons => ("Lessons", "Dersler"),
        Progress => ("Progress", "İlerleme"),
        Current => ("Next exercise", "Sıradaki alıştırma"),
        AllDone => ("Every exercise is done. Well done!", "Bütün alıştırmalar bitti. Tebrikler!"),
        NoExercises => ("This lesson has no exercises yet.", "Bu dersin henüz alıştırması yok."),
        Chapter => ("Chapter", "Bölüm"),
        Exercises => ("Exercises", "Alıştırmalar"),
        Output => ("Last check", "Son kontrol"),
        NoCheckYet => (
            "Not checked yet. Save the file in your editor, or press c.",
            "Henüz kontrol edilmedi. Dosyayı editöründe kaydet ya da c'ye bas.",
        ),
        Checking => ("Checking…", "Kontrol ediliyor…"),
        Watching => ("watching for saves", "kayıtlar izleniyor"),
        HintsLeft => ("more hint(s): press h", "ipucu daha var: h'ye bas"),
        NoMoreHints => ("That was the last hint.", "Bu son ipucuydu."),
        SolveFirst => (
            "The solution opens once the exercise passes (S shows it anyway).",
            "Çözüm, alıştırma geçince açılır (S yine de gösterir).",
        ),
        Solution => ("Solution", "Çözüm"),
        ResetDone => ("The file is back to its starting version.", "Dosya başlangıç hâline döndü."),
        TooSmall => ("Make me bigger", "Beni büyüt"),
        FooterHome => (
            "↑↓/jk move · g/G first/last · Enter open · / find · C chat · q quit",
            "↑↓/jk gez · g/G ilk/son · Enter aç · / ara · C sohbet · q çık",
        ),
        FooterLesson => (
            "Tab pane · ↑↓ scroll · c check · h hint · s solution · e edit · r reset · C chat · Esc back · q quit",
            "Tab bölme · ↑↓ kaydır · c kontrol · h ipucu · s çözüm · e düzenle · r sıfırla · C sohbet · Esc geri · q çık",
        ),
        EditorFailed => ("Could not start the editor", "Editör başlatılamadı"),
        Pass => ("passed", "geçti"),
        Fail => ("not yet", "henüz değil"),
        Error => ("could not check", "kontrol edilemedi"),
        ChatTitle => ("Chat", "Sohbet"),
        ChatEmpty => (
            "Ask the model something and press Enter. `/system TEXT` sets a system prompt, `/clear` starts over.",
            "Modele bir şey sor ve Enter'a bas. `/system METİN` bir sistem istemi koyar, `/clear` baştan başlatır.",
        ),
        You => ("you", "sen"),
        FooterChat => (
            "Enter send · Tab base/adapter · Esc back · Ctrl-C quit",
            "Enter gönder · Tab temel/adapter · Esc geri · Ctrl-C çık",
        ),
        AdapterOn => ("answering: base + your adapter", "yanıtlayan: temel + senin adapter'ın"),
        AdapterOff => ("answering: base model", "yanıtlayan: temel model"),
        NoAdapter => (
            "base model (a train exercise's adapter appears here once it has run)",
            "temel model (bir eğitim alıştırması çalışınca adapter'ı burada belirir)",
        ),
    }
}

pub fn t(lang: Lang, key: Key) -> &'static str {
    let (en, tr) = pair(key);
    match lang {
        Lang::En => en,
        Lang::Tr => tr,
    }
}

/// `--lang`, else `TUNELINGS_LANG`, else `LANG` starting with `tr`.
pub fn detect(explicit: Option<Lang>) -> Lang {
    explicit.unwrap_or_else(|| match std::env::var("LANG") {
        Ok(l) if l.to_lowercase().starts_with("tr") => Lang::Tr,
        _ => Lang::En,
    })
}
