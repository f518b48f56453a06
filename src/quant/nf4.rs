//! NF4 (4-bit NormalFloat) in bitsandbytes' layout: blocks of 64 values, each
//! scaled by its absmax and rounded to the nearest of 16 fixed codes; two
//! codes per byte, the first in the high nibble. Double quantization stores
//! the absmaxes themselves in 8 bits (the signed dynamic map, blocks of 256)
//! around their mean.

use anyhow::{bail, Result};
use rayon::prelude::*;

/// The 16 NF4 codes, index 0..15 (bitsandbytes `get_4bit_type("nf4")`), written
/// as bitsandbytes prints them; each rounds to the same f32.
#[allow(clippy::excessive_precision)]
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.696_192_800_998_687_7,
    -0.525_073_051_452_636_7,
    -0.394_917_488_098_144_53,
    -0.284_441_381_692_886_35,
    -0.184_773_430_228_233_34,
    -0.091_050_036_251_544_95,
    0.0,
    0.079_580_299_556_255_34,
    0.160_930_201_411_247_25,
    0.246_112_301_945_686_34,
    0.337_915_241_718_292_24,
    0.440_709_829_330_444_34,
    0.562_617_003_917_694_1,
    0.722_956_836_223_602_3,
    1.0,
];

pub const BLOCK: usize = 64;
pub const NESTED_BLOCK: usize = 256;

/// Index of the nearest code: the number of midpoints strictly below `x`
/// (torch.bucketize with right = False).
fn nearest(code: &[f32], x: f32) -> u8 {
    let mut idx = 0;
    for w in code.windows(2) {
        if (w[0] + w[1]) / 2.0 < x {
            idx += 1;
        }
    }
    idx as u8
}

/// torch.linspace(start, end, steps) in f32: the first half counts up from
/// `start`, the second half down from `end`, each with one fused multiply-add
/// as torch's vectorized CPU kernel does (bitsandbytes' map matches bit for bit).
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let half = steps / 2;
    (0..steps)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            }
        })
        .collect()
}

/// bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map(signed=True)`), sorted.
pub fn dynamic_map() -> Vec<f32> {
    let max_exponent_bits: i32 = 7;
    let non_sign_bits: i32 = 7;
    let mut data = Vec::with_capacity(256);
    for i in 0..max_exponent_bits {
        let items = (1usize << (i + non_sign_bits - max_exponent_bits)) + 1;
        let bounds = linspace_f32(0.1, 1.0, items);
        let scale = 10f32.powi(i - (max_exponent_bits - 1));
        for w in bounds.windows(2) {
            let mean = (w[0] + w[1]) / 2.0;
            data.push(scale * mean);
            data.push(-scale * mean);
        }
    }
    data.push(0.0);
    data.push(1.0);
    data.resize(256, 0.0);
    data.sort_by(f32::total_cmp);
    data
}

/// The per-block scales: plain f32, or double-quantized.
#[derive(Debug, Clone, PartialEq)]
pub enum Absmax {
    Plain(Vec<f32>),
    Double {
        /// 8-bit index into `dynamic_map()` per block of 64.
        codes: Vec<u8>,
        /// One f32 scale per 256 absmaxes.
        scales: Vec<f32>,
        /// The mean subtracted before quantizing.
        offset: f32,
    },
}

impl Absmax {
    pub fn values(&self) -> Vec<f32> {
        match self {
            Absmax::Plain(v) => v.clone(),
            Absmax::Double {
                codes,
                scales,
                offset,
            } => {
                let map = dynamic_map();
                codes
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| map[q as usize] * scales[i / NESTED_BLOCK] + offset)
                    .collect()
            }
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            Absmax::Plain(v) => 4 * v.len(),
            Absmax::Double { codes, scales, .. } => codes.len() + 4 * scales.len() + 4,
        }
    }
}

/// A weight in NF4: packed codes plus scales, and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4 {
    pub packed: Vec<u8>,
    pub absmax: Absmax,
    pub shape: Vec<usize>,
}

impl Nf4 {
    pub fn quantize(data: &[f32], shape: &[usize], double_quant: bool) -> Result<Self> {
        if shape.iter().product::<usize>() != data.len() {
            bail!("NF4: {} values do not fill shape {shape:?}", data.len());
        }
        let mut absmax = Vec::with_capacity(data.len().div_ceil(BLOCK));
        let mut codes = Vec::with_capacity(data.len() + 1);
        for block in data.chunks(BLOCK) {
            let m = block.iter().fold(0f32, |a, x| a.max(x.abs()));
            absmax.push(m);
            let inv = if m > 0.0 { 1.0 / m } else { 0.0 };
            codes.extend(
                block
                    .iter()
                    .map(|&x| nearest(&NF4_CODE, (x * inv).clamp(-1.0, 1.0))),
            );
        }
        if codes.len() % 2 == 1 {
            codes.push(0);
        }
        let packed = codes.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        let absmax = if double_quant {
            double_quantize(&absmax)
        } else {
            Absmax::Plain(absmax)
        };
        Ok(Self {
            packed,
            absmax,
            shape: shape.to_vec(),
        })
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// code[index] · absmax of its block, in f32 (blocks in parallel).
    pub fn dequantize(&self) -> Vec<f32> {
        let scales = self.absmax.values();
        let mut out = vec![0f32; self.len()];
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, chunk)| {
            let scale = scales[b];
            for (j, o) in chunk.iter_mut().enumerate() {
                let i = b * BLOCK + j;
                let byte = self.packed[i / 2];
                let idx = if i.is_multiple_of(2) {
                    byte >> 4
                } else {
                    byte & 0x0F
                };
                *o = NF4_CODE[idx as usize] * scale;
            }
        });
        out
    }

    /// Storage in bytes (codes and scales).
    pub fn bytes(&self) -> usize {
        self.packed.len() + self.absmax.bytes()
    }
}

fn double_quantize(absmax: &[f32]) -> Absmax {
    let offset = absmax.iter().sum::<f32>() / absmax.len().max(1) as f32;
    let map = dynamic_map();
    let centred: Vec<f32> = absmax.iter().map(|a| a - offset).collect();
    let mut scales = Vec::new();
    let mut codes = Vec::with_capacity(centred.len());
    for block in centred.chunks(NESTED_BLOCK) {
        let m = block.iter().fold(0f32, |a, x| a.max(x.abs()));
        scales.push(m);
        let inv = if m > 0.0 { 1.0 / m } else { 0.0 };
        codes.extend(block.iter().map(|&x| nearest(&map, x * inv)));
    }
    Absmax::Double {
        codes,
        scales,
        offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_block() {
        // One block: absmax 2; x/2 picks the nearest code.
        let mut data = vec![0.0f32; 64];
        data[0] = 2.0; // 1.0 → code 15
        data[1] = -2.0; // -1.0 → code 0
        data[2] = 0.3; // 0.15 → nearest 0.1609 → code 9
        data[3] = -0.9; // -0.45 → nearest -0.3949 → code 3
        data[4] = 1.3; // 0.65 → midpoint of 0.5626 and 0.7230 is 0.6428 → code 14
        let q = Nf4::quantize(&data, &[64], false).unwrap();
        assert_eq!(q.absmax, Absmax::Plain(vec![2.0]));
        // High nibble first: (15, 0), (9, 3), (14, 7), then zeros (code 7).
        assert_eq!(&q.packed[..4], &[0xF0, 0x93, 0xE7, 0x77]);
        assert_eq!(q.packed.len(), 32);
        let back = q.dequantize();
        assert_eq!(
            &back[..5],
            &[
                2.0,
                -2.0,
                NF4_CODE[9] * 2.0,
                NF4_CODE[3] * 2.0,
                NF4_CODE[14] * 2.0
            ]
        );
        assert!(back[5..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn codes_map_to_themselves_and_blocks_scale_independently() {
        let mut data: Vec<f32> = NF4_CODE.iter().flat_map(|&c| [c, c, c, c]).collect(); // 64 values, absmax 1
        data.extend(NF4_CODE.iter().flat_map(|&c| [c * 3.0; 4])); // second block, absmax 3
        let q = Nf4::quantize(&data, &[2, 64], false).unwrap();
        assert_eq!(q.dequantize(), data);
    }

    #[test]
    fn the_dynamic_map_has_256_sorted_values_from_minus_one_to_one() {
        let map = dynamic_map();
        assert_eq!(map.len(), 256);
        assert!(map.windows(2).all(|w| w[0] <= w[1]));
        // The most negative value is −(1 − 0.9/128), the last midpoint of linspace(0.1, 1, 65).
        assert!(
            (map[0] + 0.992_968_75).abs() < 1e-6 && map[255] == 1.0,
            "{} {}",
            map[0],
            map[255]
        );
        assert!(map.contains(&0.0));
    }

    #[test]
    fn double_quantization_matches_its_definition() {
        let data: Vec<f32> = (0..64 * 300)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / 64) as f32 * 0.01))
            .collect();
        let plain = Nf4::quantize(&data, &[300, 64], false).unwrap();
        let double = Nf4::quantize(&data, &[300, 64], true).unwrap();
        assert_eq!(
            plain.packed, double.packed,
            "the codes do not depend on how absmax is stored"
        );
        let Absmax::Plain(exact) = &plain.absmax else {
            unreachable!()
        };
        let Absmax::Double {
            codes,
            scales,
            offset,
        } = &double.absmax
        else {
            unreachable!()
        };
        assert_eq!((codes.len(), scales.len()), (300, 2));
        let mean = exact.iter().sum::<f32>() / 300.0;
        assert_eq!(*offset, mean);
        let map = dynamic_map();
        for (i, (&q, &a)) in codes.iter().zip(exact).enumerate() {
            let block = &exact[(i / 256) * 256..((i / 256 + 1) * 256).min(300)];
            let scale = block.iter().fold(0f32, |m, x| m.max((x - mean).abs()));
            assert_eq!(scales[i / 256], scale);
            // The stored code is the nearest map value to (a − mean)/scale.
            let target = (a - mean) / scale;
            let best = map
                .iter()
                .map(|m| (m - target).abs())
                .fold(f32::INFINITY, f32::min);
            assert!(((map[q as usize] - target).abs() - best).abs() < 1e-7);
        }
        // Storage: 4 bits a weight plus ≈ 8 bits per 64 (≈ 4.127 bits) versus 32 per 64 (4.5).
        let bits = |q: &Nf4| 8.0 * q.bytes() as f64 / data.len() as f64;
        assert!((bits(&double) - 4.127).abs() < 0.01, "{}", bits(&double));
        assert!((bits(&plain) - 4.5).abs() < 1e-9);
        let err = double
            .dequantize()
            .iter()
            .zip(plain.dequantize())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let max_abs = data.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(
            err < 0.01 * max_abs,
            "double quantization barely changes the weights: {err}"
        );
    }
}
