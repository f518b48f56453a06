//! The Race: two to four methods trained one after another on the Factory's
//! settings, their curves on one chart and a table of what each reached.

use super::dashboard::Dashboard;
use super::factory::{FactoryState, Method};
use anyhow::{bail, Result};
use std::path::PathBuf;

pub const MAX_RUNNERS: usize = 4;

/// One training the runtime should run: a label, its config, its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub label: String,
    pub config: String,
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RaceState {
    pub picked: Vec<Method>,
    pub cursor: usize,
    pub dashboard: Dashboard,
}

impl Default for RaceState {
    fn default() -> Self {
        Self {
            picked: vec![Method::Lora, Method::Dora, Method::Pissa],
            cursor: 0,
            dashboard: Dashboard::default(),
        }
    }
}

impl RaceState {
    /// Adds or removes the method under the cursor, keeping the list in
    /// `Method::ALL` order and at most four long.
    pub fn toggle(&mut self) {
        let m = Method::ALL[self.cursor];
        if let Some(i) = self.picked.iter().position(|&p| p == m) {
            self.picked.remove(i);
        } else if self.picked.len() < MAX_RUNNERS {
            self.picked.push(m);
            self.picked
                .sort_by_key(|p| Method::ALL.iter().position(|a| a == p));
        }
    }

    /// The jobs of a new race, and a fresh chart with one curve per runner.
    pub fn start(&mut self, factory: &FactoryState) -> Result<Vec<Job>> {
        if self.picked.len() < 2 {
            bail!("pick at least two methods (Space), then start");
        }
        let jobs = self
            .picked
            .iter()
            .map(|&m| {
                let run_dir = factory.run_dir(&format!("race-{}", m.name().to_lowercase()));
                Ok(Job {
                    label: m.name().into(),
                    config: factory.config_for(m, &run_dir)?,
                    run_dir,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<&str> = self.picked.iter().map(|m| m.name()).collect();
        self.dashboard = Dashboard::new(names.join(" vs "));
        for j in &jobs {
            self.dashboard.add_run(j.label.clone());
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::catalog::Course;
    use std::path::Path;

    fn factory() -> FactoryState {
        let course =
            Course::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course")).unwrap();
        FactoryState::new(
            super::super::factory::course_datasets(&course),
            "/runs".into(),
            "/f.toml".into(),
        )
    }

    #[test]
    fn toggling_keeps_method_order_and_at_most_four_runners() {
        let mut r = RaceState {
            cursor: 1, // rsLoRA
            ..RaceState::default()
        };
        r.toggle();
        assert_eq!(
            r.picked,
            [Method::Lora, Method::RsLora, Method::Dora, Method::Pissa]
        );
        r.cursor = 5;
        r.toggle();
        assert_eq!(r.picked.len(), 4, "a fifth runner is refused");
        r.cursor = 0;
        r.toggle();
        assert_eq!(r.picked, [Method::RsLora, Method::Dora, Method::Pissa]);
    }

    #[test]
    fn a_race_needs_two_runners_and_gets_one_curve_each() {
        let f = factory();
        let mut r = RaceState {
            picked: vec![Method::Lora],
            ..RaceState::default()
        };
        assert!(r.start(&f).is_err());
        r.picked.push(Method::Qlora);
        let jobs = r.start(&f).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].run_dir, Path::new("/runs/race-qlora"));
        assert!(jobs[1].config.contains("quantization_bit = 4"));
        assert!(jobs[1].config.contains("output_dir = \"/runs/race-qlora\""));
        let labels: Vec<&str> = r.dashboard.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["LoRA", "QLoRA"]);
        assert_eq!(r.dashboard.title, "LoRA vs QLoRA");
    }
}
