//! Learning-rate schedules: linear warmup, then cosine, linear or constant.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    #[default]
    Cosine,
    Linear,
    Constant,
    ConstantWithWarmup,
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub kind: SchedulerType,
    pub peak_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl Schedule {
    /// The learning rate for optimizer step `step` (0-based), as HF computes it.
    pub fn lr(&self, step: usize) -> f64 {
        let warm = self.warmup_steps;
        if self.kind != SchedulerType::Constant && step < warm {
            return self.peak_lr * step as f64 / warm.max(1) as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(warm).max(1) as f64;
        let progress = ((step - warm.min(step)) as f64 / decay_steps).min(1.0);
        match self.kind {
            SchedulerType::Cosine => self.peak_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            SchedulerType::Linear => self.peak_lr * (1.0 - progress),
            SchedulerType::Constant | SchedulerType::ConstantWithWarmup => self.peak_lr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay() {
        let s = Schedule {
            kind: SchedulerType::Cosine,
            peak_lr: 1.0,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!((s.lr(60) - 0.5).abs() < 1e-12);
        assert!(s.lr(110).abs() < 1e-12);
        let l = Schedule {
            kind: SchedulerType::Linear,
            ..s
        };
        assert!((l.lr(35) - 0.75).abs() < 1e-12);
        let c = Schedule {
            kind: SchedulerType::Constant,
            ..s
        };
        assert_eq!(c.lr(0), 1.0);
    }
}
