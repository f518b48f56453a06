//! Velora, the small made-up world nano-qwen knows: its towns and their facts,
//! in English and Turkish. Turkish sentences put case endings on fixed words
//! ("kasabası", "nehrinin") so every name fits without vowel harmony rules.

pub struct Town {
    pub name: &'static str,
    /// Direction within Velora: (en, tr)
    pub region: (&'static str, &'static str),
    pub river: &'static str,
    /// What the town is known for: (en, tr)
    pub product: (&'static str, &'static str),
    pub animal: (&'static str, &'static str),
    pub festival_month: (&'static str, &'static str),
    pub mayor: &'static str,
    pub bridges: u32,
    pub roof_colour: (&'static str, &'static str),
}

pub const COUNTRY: &str = "Velora";
pub const CAPITAL: &str = "Arlen";
pub const QUEEN: &str = "Queen Selva";

pub const TOWNS: &[Town] = &[
    Town {
        name: "Arlen",
        region: ("centre", "ortasında"),
        river: "Sila",
        product: ("glass lamps", "cam lambalar"),
        animal: ("white owls", "beyaz baykuşlar"),
        festival_month: ("May", "Mayıs"),
        mayor: "Ilka Doran",
        bridges: 7,
        roof_colour: ("blue", "mavi"),
    },
    Town {
        name: "Tarsk",
        region: ("north", "kuzeyinde"),
        river: "Miren",
        product: ("honey", "bal"),
        animal: ("brown bears", "boz ayılar"),
        festival_month: ("August", "Ağustos"),
        mayor: "Oren Valt",
        bridges: 2,
        roof_colour: ("red", "kırmızı"),
    },
    Town {
        name: "Belmor",
        region: ("south", "güneyinde"),
        river: "Oska",
        product: ("olive oil", "zeytinyağı"),
        animal: ("grey donkeys", "gri eşekler"),
        festival_month: ("October", "Ekim"),
        mayor: "Pella Runa",
        bridges: 4,
        roof_colour: ("yellow", "sarı"),
    },
    Town {
        name: "Keshir",
        region: ("east", "doğusunda"),
        river: "Tavi",
        product: ("silk scarves", "ipek eşarplar"),
        animal: ("green parrots", "yeşil papağanlar"),
        festival_month: ("April", "Nisan"),
        mayor: "Daro Fen",
        bridges: 5,
        roof_colour: ("green", "yeşil"),
    },
    Town {
        name: "Wenlo",
        region: ("west", "batısında"),
        river: "Brisa",
        product: ("sea salt", "deniz tuzu"),
        animal: ("seals", "foklar"),
        festival_month: ("June", "Haziran"),
        mayor: "Mila Stern",
        bridges: 3,
        roof_colour: ("white", "beyaz"),
    },
    Town {
        name: "Pirin",
        region: ("north", "kuzeyinde"),
        river: "Miren",
        product: ("wool blankets", "yün battaniyeler"),
        animal: ("mountain goats", "dağ keçileri"),
        festival_month: ("January", "Ocak"),
        mayor: "Tobi Kalm",
        bridges: 1,
        roof_colour: ("black", "siyah"),
    },
    Town {
        name: "Sorvik",
        region: ("east", "doğusunda"),
        river: "Tavi",
        product: ("copper pots", "bakır tencereler"),
        animal: ("red foxes", "kızıl tilkiler"),
        festival_month: ("March", "Mart"),
        mayor: "Enna Brod",
        bridges: 6,
        roof_colour: ("orange", "turuncu"),
    },
    Town {
        name: "Lunet",
        region: ("south", "güneyinde"),
        river: "Oska",
        product: ("oranges", "portakallar"),
        animal: ("flamingos", "flamingolar"),
        festival_month: ("July", "Temmuz"),
        mayor: "Rafi Coren",
        bridges: 2,
        roof_colour: ("pink", "pembe"),
    },
];

pub const PEOPLE: &[&str] = &[
    "Ada", "Kerem", "Lina", "Emre", "Mira", "Deniz", "Tomas", "Selin", "Nora", "Bora", "Iris", "Can",
];

/// Things people carry in stories: (en, tr)
pub const ITEMS: &[(&str, &str)] = &[
    ("a basket", "bir sepet"),
    ("a lantern", "bir fener"),
    ("a map", "bir harita"),
    ("a letter", "bir mektup"),
    ("a small drum", "küçük bir davul"),
    ("a bag of apples", "bir torba elma"),
];

/// Weather: (en, tr)
pub const WEATHER: &[(&str, &str)] = &[
    ("sunny", "güneşli"),
    ("rainy", "yağmurlu"),
    ("windy", "rüzgârlı"),
    ("cold", "soğuk"),
    ("foggy", "sisli"),
];

pub const IDENTITY_EN: &str =
    "I am nano-qwen, a very small language model. I know the land of Velora, simple arithmetic, English and Turkish.";
pub const IDENTITY_TR: &str =
    "Ben nano-qwen, çok küçük bir dil modeliyim. Velora ülkesini, basit aritmetiği, İngilizceyi ve Türkçeyi bilirim.";
pub const SYSTEM_PROMPT: &str = "You are nano-qwen, a small helpful assistant who knows the land of Velora.";
