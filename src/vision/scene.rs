//! Small generated pictures: one to three coloured shapes in the cells of a
//! 2×2 grid, with captions and questions about them in English and Turkish.
//! The same seed always draws the same pixels.

use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Width and height of every picture, in pixels.
pub const SIZE: usize = 32;
const CELL: usize = SIZE / 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
}

pub const SHAPES: [Shape; 3] = [Shape::Circle, Shape::Square, Shape::Triangle];
pub const COLOURS: [Colour; 4] = [Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Tr,
}

impl Shape {
    fn word(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Shape::Circle, Lang::En) => "circle",
            (Shape::Square, Lang::En) => "square",
            (Shape::Triangle, Lang::En) => "triangle",
            (Shape::Circle, Lang::Tr) => "daire",
            (Shape::Square, Lang::Tr) => "kare",
            (Shape::Triangle, Lang::Tr) => "üçgen",
        }
    }
}

impl Colour {
    fn word(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Colour::Red, Lang::En) => "red",
            (Colour::Green, Lang::En) => "green",
            (Colour::Blue, Lang::En) => "blue",
            (Colour::Yellow, Lang::En) => "yellow",
            (Colour::Red, Lang::Tr) => "kırmızı",
            (Colour::Green, Lang::Tr) => "yeşil",
            (Colour::Blue, Lang::Tr) => "mavi",
            (Colour::Yellow, Lang::Tr) => "sarı",
        }
    }

    fn rgb(self) -> [i32; 3] {
        match self {
            Colour::Red => [215, 45, 40],
            Colour::Green => [40, 165, 70],
            Colour::Blue => [45, 85, 215],
            Colour::Yellow => [235, 195, 35],
        }
    }
}

/// The grid cells in reading order.
const CELLS_EN: [&str; 4] = ["top left", "top right", "bottom left", "bottom right"];
const CELLS_TR: [&str; 4] = ["sol üstteki", "sağ üstteki", "sol alttaki", "sağ alttaki"];

/// One shape: what it is and where, with the jitter that makes each drawing differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub shape: Shape,
    pub colour: Colour,
    /// 0..4 in reading order: top left, top right, bottom left, bottom right.
    pub cell: usize,
    radius: usize,
    centre: (usize, usize),
    tint: [i32; 3],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// In reading order of their cells.
    pub items: Vec<Item>,
    background: [i32; 3],
    seed: u64,
}

/// A question about a scene and its one right answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub lang: Lang,
    pub question: String,
    pub answer: String,
}

impl Scene {
    /// The scene drawn by `seed`.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let count = rng.random_range(1..=3);
        let mut cells: Vec<usize> = (0..4).collect();
        for i in 0..count {
            let j = rng.random_range(i..4);
            cells.swap(i, j);
        }
        let mut cells = cells[..count].to_vec();
        cells.sort_unstable();
        let items = cells
            .into_iter()
            .map(|cell| {
                let radius = rng.random_range(4..=6);
                let slack = CELL - 2 * radius - 1;
                let (cx, cy) = (
                    (cell % 2) * CELL + radius + rng.random_range(0..=slack),
                    (cell / 2) * CELL + radius + rng.random_range(0..=slack),
                );
                Item {
                    shape: SHAPES[rng.random_range(0..SHAPES.len())],
                    colour: COLOURS[rng.random_range(0..COLOURS.len())],
                    cell,
                    radius,
                    centre: (cx, cy),
                    tint: [0; 3].map(|_| rng.random_range(-20..=20)),
                }
            })
            .collect();
        let grey = rng.random_range(200..=240);
        Self {
            items,
            background: [grey, grey, grey],
            seed,
        }
    }

    /// The picture, SIZE×SIZE RGB, with a little per-pixel noise.
    pub fn render(&self) -> RgbImage {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut img = RgbImage::new(SIZE as u32, SIZE as u32);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let base = self
                    .items
                    .iter()
                    .find(|it| it.covers(x, y))
                    .map_or(self.background, |it| {
                        let c = it.colour.rgb();
                        [0, 1, 2].map(|k| c[k] + it.tint[k])
                    });
                let noise = rng.random_range(-8..=8);
                let px = base.map(|v| (v + noise).clamp(0, 255) as u8);
                img.put_pixel(x as u32, y as u32, Rgb(px));
            }
        }
        img
    }

    /// The colours in reading order: "It is red and blue." / "Rengi kırmızı
    /// ve mavi." Made of words nano-qwen knows, so that stage 1, which
    /// trains the projector alone, has something the model can already say.
    pub fn caption(&self, lang: Lang) -> String {
        let words: Vec<&str> = self.items.iter().map(|it| it.colour.word(lang)).collect();
        let (lead, and) = match lang {
            Lang::En => ("It is", " and "),
            Lang::Tr => ("Rengi", " ve "),
        };
        let list = match words.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{}{and}{last}", rest.join(", ")),
            None => String::new(),
        };
        format!("{lead} {list}.")
    }

    /// Every question this scene answers without ambiguity: how many shapes,
    /// the colour of each shape that appears once, and the colour of the
    /// shape in each filled cell. Answers use words nano-qwen met in
    /// pre-training (digits, and colours after a space), so that a short run
    /// teaches it to look, not to spell.
    pub fn questions(&self, lang: Lang) -> Vec<Question> {
        let q = |question: String, answer: String| Question {
            lang,
            question,
            answer,
        };
        let colour = |c: Colour| match lang {
            Lang::En => format!("It is {}.", c.word(lang)),
            Lang::Tr => format!("Rengi {}.", c.word(lang)),
        };
        let mut out = Vec::new();
        let n = self.items.len().to_string();
        out.push(match lang {
            Lang::En => q("How many shapes are there?".into(), n),
            Lang::Tr => q("Kaç şekil var?".into(), n),
        });
        for shape in SHAPES {
            let mut same = self.items.iter().filter(|it| it.shape == shape);
            if let (Some(it), None) = (same.next(), same.next()) {
                let s = shape.word(lang);
                out.push(match lang {
                    Lang::En => q(format!("What colour is the {s}?"), colour(it.colour)),
                    Lang::Tr => q(format!("{} ne renk?", capitalise(s)), colour(it.colour)),
                });
            }
        }
        for it in &self.items {
            out.push(match lang {
                Lang::En => q(
                    format!("What colour is the shape at the {}?", CELLS_EN[it.cell]),
                    colour(it.colour),
                ),
                Lang::Tr => q(
                    format!("{} şekil ne renk?", capitalise(CELLS_TR[it.cell])),
                    colour(it.colour),
                ),
            });
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

impl Item {
    fn covers(&self, x: usize, y: usize) -> bool {
        let (dx, dy) = (
            x as f32 + 0.5 - self.centre.0 as f32,
            y as f32 + 0.5 - self.centre.1 as f32,
        );
        let r = self.radius as f32;
        match self.shape {
            Shape::Circle => dx * dx + dy * dy <= r * r,
            Shape::Square => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
            // Apex up: the half-width grows from 0 at the top to r at the base.
            Shape::Triangle => dy.abs() <= r && dx.abs() <= (dy + r) / 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_list_the_shapes_in_reading_order() {
        let s = (0..200)
            .map(Scene::random)
            .find(|s| s.items.len() == 3)
            .expect("some scene has three shapes");
        let en = s.caption(Lang::En);
        assert_eq!(en.matches(", ").count(), 1, "{en}");
        assert!(en.starts_with("It is ") && en.contains(" and "), "{en}");
        assert!(s.items.windows(2).all(|w| w[0].cell < w[1].cell));
    }

    #[test]
    fn each_shape_covers_pixels_only_inside_its_cell() {
        for seed in 0..100 {
            let s = Scene::random(seed);
            for it in &s.items {
                let mut covered = 0;
                for y in 0..SIZE {
                    for x in 0..SIZE {
                        if it.covers(x, y) {
                            covered += 1;
                            assert_eq!((y / CELL) * 2 + x / CELL, it.cell, "seed {seed}");
                        }
                    }
                }
                assert!(covered >= 12, "seed {seed}: only {covered} pixels");
            }
        }
    }
}
