//! nano-vit: a small ViT that turns a picture into one feature vector per
//! patch. Patches are flattened channel-first, as PyTorch's patch conv
//! (Conv2d with kernel = stride = patch) lays out its weight.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The encoder the course ships, beside nano-qwen.
pub const EMBEDDED_VISION: &str = "assets/nano-vit";

pub fn embedded_vision_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(EMBEDDED_VISION)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub mlp_size: usize,
    /// Classes of the pre-training proxy head (what each patch's cell holds).
    pub num_classes: usize,
    pub layer_norm_eps: f64,
}

impl VitConfig {
    pub fn nano() -> Self {
        Self {
            image_size: super::scene::SIZE,
            patch_size: 8,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            mlp_size: 128,
            num_classes: super::pretrain::NUM_CLASSES,
            layer_norm_eps: 1e-5,
        }
    }

    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    pub fn patch_dim(&self) -> usize {
        3 * self.patch_size * self.patch_size
    }

    /// Every tensor by name, with its shape.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, m) = (self.hidden_size, self.mlp_size);
        let mut out = vec![
            ("patch_embed.weight".into(), vec![d, self.patch_dim()]),
            ("patch_embed.bias".into(), vec![d]),
            ("pos_embed".into(), vec![self.num_patches(), d]),
        ];
        for i in 0..self.num_layers {
            let p = format!("blocks.{i}");
            for (name, shape) in [
                ("norm1.weight", vec![d]),
                ("norm1.bias", vec![d]),
                ("attn.qkv.weight", vec![3 * d, d]),
                ("attn.qkv.bias", vec![3 * d]),
                ("attn.proj.weight", vec![d, d]),
                ("attn.proj.bias", vec![d]),
                ("norm2.weight", vec![d]),
                ("norm2.bias", vec![d]),
                ("mlp.fc1.weight", vec![m, d]),
                ("mlp.fc1.bias", vec![m]),
                ("mlp.fc2.weight", vec![d, m]),
                ("mlp.fc2.bias", vec![d]),
            ] {
                out.push((format!("{p}.{name}"), shape));
            }
        }
        out.push(("norm.weight".into(), vec![d]));
        out.push(("norm.bias".into(), vec![d]));
        out.push(("head.weight".into(), vec![self.num_classes, d]));
        out.push(("head.bias".into(), vec![self.num_classes]));
        out
    }
}

/// A linear layer, y = x·Wᵀ + b, over the last dimension.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Tensor) -> Self {
        Self { weight, bias }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.broadcast_matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }
}

#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Written out from primitive ops so that it has a backward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)?)
    }
}

#[derive(Debug, Clone)]
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    num_heads: usize,
}

impl Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.num_heads;
        let qkv = self
            .qkv
            .forward(&self.norm1.forward(x)?)?
            .reshape((b, n, 3, self.num_heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let (q, k, v) = (
            qkv.get(0)?.contiguous()?,
            qkv.get(1)?.contiguous()?,
            qkv.get(2)?.contiguous()?,
        );
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let attn = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?;
        let attn = attn.transpose(1, 2)?.reshape((b, n, d))?;
        let x = (x + self.proj.forward(&attn)?)?;
        let h = self.fc1.forward(&self.norm2.forward(&x)?)?.gelu_erf()?;
        Ok((&x + self.fc2.forward(&h)?)?)
    }
}

#[derive(Debug, Clone)]
pub struct Vit {
    pub cfg: VitConfig,
    patch_embed: Linear,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Linear,
    /// The same tensors by name, for saving.
    tensors: HashMap<String, Tensor>,
}

impl Vit {
    /// Builds the encoder from tensors by name (see `VitConfig::tensor_shapes`).
    pub fn from_tensors(cfg: VitConfig, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        for (name, shape) in cfg.tensor_shapes() {
            let t = tensors
                .get(&name)
                .with_context(|| format!("the vision encoder has no tensor `{name}`"))?;
            if t.dims() != shape.as_slice() {
                bail!(
                    "vision encoder tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                );
            }
        }
        let get = |name: &str| tensors[name].clone();
        let linear = |p: &str| Linear::new(get(&format!("{p}.weight")), get(&format!("{p}.bias")));
        let norm = |p: &str| LayerNorm {
            weight: get(&format!("{p}.weight")),
            bias: get(&format!("{p}.bias")),
            eps: cfg.layer_norm_eps,
        };
        let blocks = (0..cfg.num_layers)
            .map(|i| {
                let p = format!("blocks.{i}");
                Block {
                    norm1: norm(&format!("{p}.norm1")),
                    qkv: linear(&format!("{p}.attn.qkv")),
                    proj: linear(&format!("{p}.attn.proj")),
                    norm2: norm(&format!("{p}.norm2")),
                    fc1: linear(&format!("{p}.mlp.fc1")),
                    fc2: linear(&format!("{p}.mlp.fc2")),
                    num_heads: cfg.num_heads,
                }
            })
            .collect();
        Ok(Self {
            patch_embed: linear("patch_embed"),
            pos_embed: get("pos_embed"),
            blocks,
            norm: norm("norm"),
            head: linear("head"),
            tensors: tensors.clone(),
            cfg,
        })
    }

    /// Reads `config.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("cannot read the vision encoder's {}", cfg_path.display()))?;
        let cfg: VitConfig = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a nano-vit config", cfg_path.display()))?;
        let weights = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .with_context(|| format!("cannot read {}", weights.display()))?;
        Self::from_tensors(cfg, &tensors).with_context(|| format!("in {}", weights.display()))
    }

    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// Patch features (b, patches, hidden) of patches (b, patches, patch_dim).
    pub fn forward(&self, patches: &Tensor) -> Result<Tensor> {
        let mut x = self
            .patch_embed
            .forward(patches)?
            .broadcast_add(&self.pos_embed)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        self.norm.forward(&x)
    }

    /// Logits of the proxy task (b, patches, classes) from features.
    pub fn classify(&self, features: &Tensor) -> Result<Tensor> {
        self.head.forward(features)
    }

    /// Flattened, normalised patches (patches, patch_dim) of one picture,
    /// values in [-1, 1].
    pub fn patches(&self, img: &RgbImage) -> Result<Tensor> {
        let c = &self.cfg;
        if img.width() as usize != c.image_size || img.height() as usize != c.image_size {
            bail!(
                "the picture is {}×{} pixels; nano-vit reads {}×{}",
                img.width(),
                img.height(),
                c.image_size,
                c.image_size
            );
        }
        let (g, p) = (c.grid(), c.patch_size);
        let mut out = Vec::with_capacity(c.num_patches() * c.patch_dim());
        for gy in 0..g {
            for gx in 0..g {
                for ch in 0..3 {
                    for y in 0..p {
                        for x in 0..p {
                            let px = img.get_pixel((gx * p + x) as u32, (gy * p + y) as u32);
                            out.push(px.0[ch] as f32 / 127.5 - 1.0);
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_vec(
            out,
            (c.num_patches(), c.patch_dim()),
            &Device::Cpu,
        )?)
    }

    /// The picture at the size the encoder reads, resized when it differs,
    /// as LLaVA's image processor resizes to its encoder's input.
    pub fn fit(&self, img: RgbImage) -> RgbImage {
        let n = self.cfg.image_size as u32;
        if img.dimensions() == (n, n) {
            return img;
        }
        image::imageops::resize(&img, n, n, image::imageops::FilterType::Triangle)
    }

    /// Features of a batch of pictures → (b, patches, hidden).
    pub fn encode(&self, images: &[RgbImage]) -> Result<Tensor> {
        let patches = images
            .iter()
            .map(|img| self.patches(img))
            .collect::<Result<Vec<_>>>()?;
        self.forward(&Tensor::stack(&patches, 0)?.to_dtype(DType::F32)?)
    }
}

/// Qwen2-VL's patch merger, before its MLP: each 2×2 block of neighbouring
/// patches becomes one row of their four features side by side, so
/// (b, g·g, d) → (b, g·g/4, 4·d). Here a block is one cell of the scene's
/// grid, and the language model reads 4 visual tokens instead of 16.
pub fn merge_2x2(features: &Tensor, grid: usize) -> Result<Tensor> {
    let (b, n, d) = features.dims3()?;
    if n != grid * grid || !grid.is_multiple_of(2) {
        bail!("cannot merge {n} patches as a {grid}×{grid} grid in 2×2 blocks");
    }
    let h = grid / 2;
    Ok(features
        .reshape((b, h, 2, h, 2, d))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, h * h, 4 * d))?)
}

/// Reads a picture file as RGB.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let img = image::open(path)
        .with_context(|| format!("cannot read the picture {}", path.display()))?
        .to_rgb8();
    Ok(img)
}
