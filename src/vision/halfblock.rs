//! Pictures in a terminal: each character cell shows two pixels stacked,
//! the upper half block `▀` in the top pixel's colour over a background in
//! the bottom one's. Terminals without colour get a one-line description.

use image::RgbImage;
use std::fmt::Write;

/// The (top, bottom) colour pairs of every cell, row by row; an odd last
/// pixel row is paired with itself.
pub fn cells(img: &RgbImage) -> Vec<Vec<([u8; 3], [u8; 3])>> {
    let (w, h) = (img.width(), img.height());
    (0..h.div_ceil(2))
        .map(|row| {
            (0..w)
                .map(|x| {
                    let top = img.get_pixel(x, 2 * row).0;
                    let bottom = img.get_pixel(x, (2 * row + 1).min(h - 1)).0;
                    (top, bottom)
                })
                .collect()
        })
        .collect()
}

/// The picture as 24-bit ANSI colour text, one line per two pixel rows.
pub fn ansi(img: &RgbImage) -> String {
    let mut out = String::new();
    for row in cells(img) {
        for ([r, g, b], [r2, g2, b2]) in row {
            let _ = write!(out, "\x1b[38;2;{r};{g};{b}m\x1b[48;2;{r2};{g2};{b2}m▀");
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

/// What is shown where colour is not available.
pub fn describe(name: &str, width: u32, height: u32) -> String {
    format!("[picture {name}, {width}×{height} pixels]")
}

/// Whether stdout can show colour pictures: a terminal, and NO_COLOR unset.
pub fn stdout_shows_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_pixel_rows_make_one_line_of_half_blocks() {
        let mut img = RgbImage::new(2, 3);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(0, 1, image::Rgb([0, 0, 255]));
        let c = cells(&img);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0][0], ([255, 0, 0], [0, 0, 255]));
        assert_eq!(c[1][1], ([0, 0, 0], [0, 0, 0]));
        let text = ansi(&img);
        assert_eq!(text.lines().count(), 2);
        assert_eq!(text.matches('▀').count(), 4);
        assert!(text.starts_with("\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀"));
    }
}
