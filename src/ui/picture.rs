//! Pictures inside the UI: the half-block cells of `vision::halfblock` as
//! styled spans, for a chapter's `![…](…)` and the chat's `/image`. Without
//! colour a picture is one line that says what it is.

use super::theme::Theme;
use crate::vision::halfblock;
use anyhow::Result;
use image::RgbImage;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use std::path::{Path, PathBuf};

/// Larger pictures are scaled down into this many pixels across and down
/// (48 columns, 24 lines), to fit a pane.
pub const MAX_PIXELS: u32 = 48;

/// A picture file, read and sized for the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub path: PathBuf,
    /// The file's own size, before any scaling.
    pub size: (u32, u32),
    pub image: RgbImage,
}

impl Picture {
    pub fn load(path: &Path) -> Result<Self> {
        let mut image = crate::vision::vit::read_image(path)?;
        let (w, h) = image.dimensions();
        if w.max(h) > MAX_PIXELS {
            let scale = |n: u32| (n * MAX_PIXELS / w.max(h)).max(1);
            let filter = image::imageops::FilterType::Triangle;
            image = image::imageops::resize(&image, scale(w), scale(h), filter);
        }
        Ok(Self {
            path: path.to_path_buf(),
            size: (w, h),
            image,
        })
    }

    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// One line per two pixel rows, each cell `▀` in the top pixel's colour
    /// over the bottom one's.
    pub fn lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        if !theme.color {
            let (w, h) = self.size;
            return vec![Line::styled(halfblock::describe(&self.name(), w, h), theme.dim())];
        }
        let rgb = |[r, g, b]: [u8; 3]| Color::Rgb(r, g, b);
        halfblock::cells(&self.image)
            .into_iter()
            .map(|row| {
                Line::from(
                    row.into_iter()
                        .map(|(top, bottom)| Span::styled("▀", Style::default().fg(rgb(top)).bg(rgb(bottom))))
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(img: &RgbImage) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        img.save(&path).unwrap();
        (dir, path)
    }

    #[test]
    fn cells_carry_the_two_pixels_as_foreground_and_background() {
        let mut img = RgbImage::new(3, 4);
        img.put_pixel(1, 2, image::Rgb([200, 10, 20]));
        img.put_pixel(1, 3, image::Rgb([5, 6, 250]));
        let (_dir, path) = saved(&img);
        let p = Picture::load(&path).unwrap();
        let lines = p.lines(&Theme { color: true });
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.spans.len() == 3));
        let cell = &lines[1].spans[1];
        assert_eq!(cell.content, "▀");
        assert_eq!(cell.style.fg, Some(Color::Rgb(200, 10, 20)));
        assert_eq!(cell.style.bg, Some(Color::Rgb(5, 6, 250)));
        assert_eq!(lines[0].spans[1].style.fg, Some(Color::Rgb(0, 0, 0)));
    }

    #[test]
    fn large_pictures_shrink_and_plain_terminals_get_a_description() {
        let (_dir, path) = saved(&RgbImage::new(96, 40));
        let p = Picture::load(&path).unwrap();
        assert_eq!((p.image.width(), p.image.height()), (48, 20));
        let plain = p.lines(&Theme::plain());
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].spans[0].content, "[picture p.png, 96×40 pixels]");
        let (_dir, path) = saved(&RgbImage::new(10, 4000));
        let tall = Picture::load(&path).unwrap();
        assert_eq!((tall.image.width(), tall.image.height()), (1, 48));
        assert_eq!(tall.lines(&Theme { color: true }).len(), 24);
        let missing = Picture::load(Path::new("no/such.png")).unwrap_err();
        assert!(format!("{missing:#}").contains("no/such.png"), "{missing:#}");
    }
}
