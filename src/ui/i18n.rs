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
    Exporting,
    RaceNeedsTwo,
    AbNeedsAdapter,
    PictureSeen,
    PictureUnseen,
    AnsweringLlava,
    Step,
    Loss,
    LossRaw,
    LossSmoothed,
    EvalLoss,
    PreferenceLine,
    TokensPerS,
    PeakMemory,
    Time,
    RunDone,
    RunStopped,
    RunDiverged,
    RunWaiting,
    Stopping,
    WaitingForTraining,
    Reference,
    YourRun,
    Busy,
    ExportHelp,
    FactoryTitle,
    ConfigPreview,
    DataPreview,
    Page,
    RaceTitle,
    RaceIntro,
    MemoryTitle,
    MemoryIntro,
    MemorySmall,
    MemoryBig,
    MemoryStart,
    Resident,
    Saved,
    Loaded,
    FooterDashboard,
    FooterFactory,
    FooterEditing,
    FooterRace,
    FooterMemory,
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
            "↑↓ move · Enter open · / find · C chat · F factory · R race · M memory · D dash · q quit",
            "↑↓ gez · Enter aç · / ara · C sohbet · F fabrika · R yarış · M bellek · D pano · q çık",
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
            "Ask the model something and press Enter. `/system TEXT` sets a system prompt, `/clear` starts over, \
             `/temp 0.7`, `/top_p 0.9` and `/max 100` set sampling, `/ab` asks the other model the same prompt, \
             `/image FILE` starts a talk about a picture (`/image` alone ends it).",
            "Modele bir şey sor ve Enter'a bas. `/system METİN` bir sistem istemi koyar, `/clear` baştan başlatır, \
             `/temp 0.7`, `/top_p 0.9` ve `/max 100` örneklemeyi ayarlar, `/ab` aynı istemi diğer modele sorar, \
             `/image DOSYA` bir resim hakkında konuşma başlatır (yalnız `/image` bitirir).",
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
        AbNeedsAdapter => (
            "/ab asks the other model the last prompt again: it needs an adapter, an answer first, and no picture \
             (only your LLaVA talks about pictures).",
            "/ab son istemi diğer modele yeniden sorar: bir adapter, önce bir yanıt ve resim olmaması gerekir \
             (resimler hakkında yalnızca LLaVA'n konuşur).",
        ),
        PictureSeen => (
            "seen by your LLaVA from lesson 11",
            "11. dersteki LLaVA'n görüyor",
        ),
        AnsweringLlava => ("answering: your LLaVA from lesson 11", "yanıtlayan: 11. dersteki LLaVA'n"),
        PictureUnseen => (
            "no model here can see it yet: the text model answers from your words alone. \
             Pass 11_llava in lesson 11 to talk with one that sees.",
            "burada onu görebilen bir model henüz yok: metin modeli yalnızca sözlerinden yanıt verir. \
             Görebilen bir modelle konuşmak için 11. dersteki 11_llava'yı geç.",
        ),
        Exporting => ("exporting", "dışa aktarılıyor:"),
        RaceNeedsTwo => (
            "Pick at least two methods (Space), then start.",
            "En az iki yöntem seç (Boşluk), sonra başlat.",
        ),
        Step => ("step", "adım"),
        Loss => ("loss", "kayıp"),
        LossRaw => ("loss", "kayıp"),
        LossSmoothed => ("smoothed", "yumuşatılmış"),
        EvalLoss => ("eval loss", "değ. kaybı"),
        PreferenceLine => (
            "DPO: chosen wins {acc}% · margin {margin} · rewards {chosen} / {rejected}",
            "DPO: seçilen %{acc} kazanıyor · fark {margin} · ödüller {chosen} / {rejected}",
        ),
        TokensPerS => ("tokens/s", "token/s"),
        PeakMemory => ("peak mem", "tepe bell."),
        Time => ("time", "süre"),
        RunDone => ("done", "bitti"),
        RunStopped => ("stopped, checkpoint kept", "durdu, checkpoint saklandı"),
        RunDiverged => ("diverged (NaN)", "ıraksadı (NaN)"),
        RunWaiting => ("waiting", "bekliyor"),
        Stopping => ("Stopping: saving a checkpoint first…", "Duruyor: önce checkpoint kaydediliyor…"),
        WaitingForTraining => ("No training yet: check a train exercise, or start one from the Factory (F).", "Henüz eğitim yok: bir eğitim alıştırmasını kontrol et ya da Fabrika'dan (F) başlat."),
        Reference => ("reference", "referans"),
        YourRun => ("your run", "senin koşun"),
        Busy => ("A check or a training is running; wait for it, or stop it on its dashboard (x).", "Bir kontrol ya da eğitim sürüyor; bitmesini bekle ya da panosunda durdur (x)."),
        ExportHelp => ("Finished. Export it: 1 PEFT adapter · 2 merged model · 3 GGUF + Ollama Modelfile.", "Bitti. Dışa aktar: 1 PEFT adapter · 2 birleşik model · 3 GGUF + Ollama Modelfile."),
        FactoryTitle => ("Factory", "Fabrika"),
        ConfigPreview => ("The config it runs", "Çalıştıracağı yapılandırma"),
        DataPreview => ("Dataset", "Veri kümesi"),
        Page => ("page", "sayfa"),
        RaceTitle => ("Race", "Yarış"),
        RaceIntro => ("Pick two to four methods (Space) and start (Enter). They train one after another with the Factory's settings; their curves share the chart.", "İki ile dört arası yöntem seç (Boşluk) ve başlat (Enter). Fabrika'nın ayarlarıyla sırayla eğitilirler; eğrileri aynı grafikte görünür."),
        MemoryTitle => ("Memory game", "Bellek oyunu"),
        MemoryIntro => ("The same model loaded three times, each in its own process: watch resident memory as the weights arrive in F32, F16 and NF4.", "Aynı model üç kez, her biri kendi sürecinde yüklenir: ağırlıklar F32, F16 ve NF4 olarak gelirken yerleşik belleği izle."),
        MemorySmall => ("the course model", "kursun modeli"),
        MemoryBig => ("Qwen2.5-0.5B shape, random weights", "Qwen2.5-0.5B biçimi, rastgele ağırlıklar"),
        MemoryStart => ("Press Enter to start; b switches the model.", "Başlatmak için Enter'a bas; b modeli değiştirir."),
        Resident => ("resident", "yerleşik"),
        Saved => ("saved to", "kaydedildi:"),
        Loaded => ("loaded from", "yüklendi:"),
        FooterDashboard => ("x stop (keeps the checkpoint) · 1/2/3 export · Esc back · q back", "x durdur (checkpoint kalır) · 1/2/3 dışa aktar · Esc geri · q geri"),
        FooterFactory => ("↑↓ field · ←→/Enter change · s start · Tab config/data · n/p page · w save · o load · Esc back", "↑↓ alan · ←→/Enter değiştir · s başlat · Tab yapılandırma/veri · n/p sayfa · w kaydet · o yükle · Esc geri"),
        FooterEditing => ("type the value · Enter keep · Esc cancel", "değeri yaz · Enter tut · Esc vazgeç"),
        FooterRace => ("↑↓ move · Space pick · Enter start · x stop · Esc back", "↑↓ gez · Boşluk seç · Enter başlat · x durdur · Esc geri"),
        FooterMemory => ("Enter start · b switch model · Esc back", "Enter başlat · b model değiştir · Esc geri"),
    }
}

/// The word for a check's outcome.
pub fn status_word(lang: Lang, status: crate::course::check::Status) -> &'static str {
    use crate::course::check::Status;
    t(
        lang,
        match status {
            Status::Pass => Key::Pass,
            Status::Fail => Key::Fail,
            Status::Error => Key::Error,
        },
    )
}

pub fn t(lang: Lang, key: Key) -> &'static str {
    let (en, tr) = pair(key);
    match lang {
        Lang::En => en,
        Lang::Tr => tr,
    }
}
