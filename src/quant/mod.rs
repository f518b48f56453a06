//! Weight quantization: NF4 with optional double quantization, as
//! bitsandbytes stores QLoRA base weights.

pub mod nf4;

use crate::model::Qwen;

/// Stores every projection's base weight in NF4; returns the bytes the
/// weights now take. Norms stay in full precision; the embedding table is
/// left to `Qwen::compact_frozen_tables`, which runs after adapters attach.
pub fn quantize_projections(model: &mut Qwen, double_quant: bool) -> anyhow::Result<usize> {
    let mut bytes = 0;
    model.visit_linears_mut(&mut |_, lin| {
        lin.quantize_nf4(double_quant)?;
        if let crate::model::linear::BaseWeight::Nf4 { q, .. } = lin.base() {
            bytes += q.bytes();
        }
        Ok(())
    })?;
    Ok(bytes)
}
