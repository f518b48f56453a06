//! Pictures in conversations: LLaMA-Factory's multimodal records (a
//! `messages` list whose user turn holds `<image>`, and an `images` column),
//! their tokens with one slot where the picture goes, and the splice that
//! puts the visual tokens into that slot.

use crate::chat::{ChatTemplate, Message, Role};
use crate::data::records::{parse_record, read_objects};
use crate::data::Sample;
use crate::model::Qwen;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where a picture goes in a turn's text.
pub const IMAGE_TOKEN: &str = "<image>";
/// The id that stands for the picture until its visual tokens replace it.
pub const IMAGE_SLOT: u32 = u32::MAX;

/// One conversation about one picture.
#[derive(Debug, Clone)]
pub struct ImageSample {
    pub messages: Vec<Message>,
    pub image: PathBuf,
}

/// Reads a JSONL (or .json) dataset of `{"messages": [...], "images": [path]}`
/// records. Image paths are taken from the dataset's folder.
pub fn read_image_dataset(path: &Path) -> Result<Vec<ImageSample>> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (at, obj) in read_objects(path)? {
        let Sample::Chat(messages) = parse_record(&obj).with_context(|| at.clone())? else {
            bail!("{at}: a multimodal record is a conversation (`messages`), not plain text");
        };
        let images = match obj.get("images") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .with_context(|| format!("{at}: `images` must be a list of file paths"))?,
            Some(Value::String(one)) => vec![one.clone()],
            _ => bail!("{at}: no `images` column; each record names its picture, e.g. \"images\": [\"images/0001.png\"]"),
        };
        let slots: usize = messages
            .iter()
            .map(|m| m.content.matches(IMAGE_TOKEN).count())
            .sum();
        if images.len() != 1 || slots != 1 {
            bail!(
                "{at}: {} image(s) and {slots} `{IMAGE_TOKEN}` placeholder(s); this course's model reads exactly one picture per conversation",
                images.len()
            );
        }
        if messages
            .iter()
            .any(|m| m.role != Role::User && m.content.contains(IMAGE_TOKEN))
        {
            bail!("{at}: `{IMAGE_TOKEN}` belongs in a user turn");
        }
        out.push(ImageSample {
            messages,
            image: folder.join(&images[0]),
        });
    }
    if out.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(out)
}

/// A conversation's token ids with one `IMAGE_SLOT`, and which ids are the
/// assistant's own words (the loss targets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlottedIds {
    pub ids: Vec<u32>,
    pub is_reply: Vec<bool>,
}

impl SlottedIds {
    pub fn slot(&self) -> usize {
        self.ids
            .iter()
            .position(|&id| id == IMAGE_SLOT)
            .expect("built with exactly one slot")
    }

    /// The ids without the slot.
    pub fn text_ids(&self) -> Vec<u32> {
        self.ids.iter().copied().filter(|&id| id != IMAGE_SLOT).collect()
    }
}

/// Renders `messages` with the chat template and tokenizes each piece, with
/// `IMAGE_SLOT` where `<image>` was. With `add_generation_prompt` it ends
/// where the assistant's answer begins.
pub fn slotted_ids(
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    messages: &[Message],
    add_generation_prompt: bool,
) -> Result<SlottedIds> {
    let mut segments = template.segments(messages);
    if add_generation_prompt {
        segments.push(crate::chat::Segment {
            text: template.assistant_prefix(),
            is_reply: false,
        });
    }
    let (mut ids, mut is_reply) = (Vec::new(), Vec::new());
    for seg in segments {
        for (i, part) in seg.text.split(IMAGE_TOKEN).enumerate() {
            if i > 0 {
                ids.push(IMAGE_SLOT);
                is_reply.push(false);
            }
            let piece = tokenizer.encode(part)?;
            is_reply.extend(std::iter::repeat_n(seg.is_reply, piece.len()));
            ids.extend(piece);
        }
    }
    if ids.iter().filter(|&&id| id == IMAGE_SLOT).count() != 1 {
        bail!("a conversation needs exactly one `{IMAGE_TOKEN}` placeholder");
    }
    Ok(SlottedIds { ids, is_reply })
}

/// Text embeddings (t, h) with the visual tokens (n, h) put before row `at`
/// → (t + n, h).
pub fn splice(text: &Tensor, at: usize, visual: &Tensor) -> Result<Tensor> {
    let t = text.dim(0)?;
    if at > t {
        bail!("cannot put the picture at row {at} of {t}");
    }
    Ok(Tensor::cat(
        &[&text.narrow(0, 0, at)?, visual, &text.narrow(0, at, t - at)?],
        0,
    )?)
}

/// The model's input rows for `slotted` with `visual` (n, h) in the slot → (t - 1 + n, h).
pub fn embed_with_image(model: &Qwen, slotted: &SlottedIds, visual: &Tensor) -> Result<Tensor> {
    let text = slotted.text_ids();
    let n = text.len();
    let ids = Tensor::from_vec(text, (1, n), &Device::Cpu)?;
    let text = model.embed(&ids)?.squeeze(0)?;
    splice(&text, slotted.slot(), visual)
}

/// Per row of the spliced sequence: the token it holds, or `None` for a
/// visual token; and whether it is a loss target.
pub fn spliced_targets(slotted: &SlottedIds, visual_tokens: usize) -> Vec<(Option<u32>, bool)> {
    let mut out = Vec::with_capacity(slotted.ids.len() + visual_tokens);
    for (&id, &reply) in slotted.ids.iter().zip(&slotted.is_reply) {
        if id == IMAGE_SLOT {
            out.extend(std::iter::repeat_n((None, false), visual_tokens));
        } else {
            out.push((Some(id), reply));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_puts_the_rows_in_the_slot() -> Result<()> {
        let text = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((3, 2))?;
        let visual = Tensor::full(-1f32, (2, 2), &Device::Cpu)?;
        let out = splice(&text, 1, &visual)?;
        assert_eq!(
            out.to_vec2::<f32>()?,
            vec![
                vec![0., 1.],
                vec![-1., -1.],
                vec![-1., -1.],
                vec![2., 3.],
                vec![4., 5.]
            ]
        );
        assert!(splice(&text, 4, &visual).is_err());
        Ok(())
    }
}
