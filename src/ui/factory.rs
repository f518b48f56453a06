//! The Factory: a no-code form for a `tunelings train` config, in the spirit
//! of LLaMA-Factory's board. It shows the exact TOML it will run (checked by
//! the same parser as the CLI), pages through the dataset, saves and loads
//! configs. The Race reuses its settings with several methods.

use crate::course::catalog::Course;
use crate::data::registry::{self, DatasetSpec};
use crate::train::config::TrainConfig;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Lora,
    RsLora,
    Dora,
    Pissa,
    Qlora,
    Qdora,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Lora,
        Method::RsLora,
        Method::Dora,
        Method::Pissa,
        Method::Qlora,
        Method::Qdora,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Lora => "LoRA",
            Method::RsLora => "rsLoRA",
            Method::Dora => "DoRA",
            Method::Pissa => "PiSSA",
            Method::Qlora => "QLoRA",
            Method::Qdora => "QDoRA",
        }
    }

    /// The config keys that select this method, beside `finetuning_type = "lora"`.
    fn keys(self) -> &'static [(&'static str, toml::Value)] {
        use toml::Value::{Boolean, Integer};
        match self {
            Method::Lora => &[],
            Method::RsLora => &[("use_rslora", Boolean(true))],
            Method::Dora => &[("use_dora", Boolean(true))],
            Method::Pissa => &[("pissa_init", Boolean(true))],
            Method::Qlora => &[("quantization_bit", Integer(4))],
            Method::Qdora => &[("quantization_bit", Integer(4)), ("use_dora", Boolean(true))],
        }
    }

    /// The method a parsed config selects.
    fn of(cfg: &TrainConfig) -> Method {
        match (
            cfg.quantization_bit == Some(4),
            cfg.use_dora,
            cfg.pissa_init,
            cfg.use_rslora,
        ) {
            (true, true, ..) => Method::Qdora,
            (true, false, ..) => Method::Qlora,
            (false, true, ..) => Method::Dora,
            (false, false, true, _) => Method::Pissa,
            (false, false, false, true) => Method::RsLora,
            _ => Method::Lora,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Model,
    Method,
    Dataset,
    Rank,
    Alpha,
    Dropout,
    Target,
    LearningRate,
    MaxSteps,
    Batch,
    Cutoff,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Model,
        Field::Method,
        Field::Dataset,
        Field::Rank,
        Field::Alpha,
        Field::Dropout,
        Field::Target,
        Field::LearningRate,
        Field::MaxSteps,
        Field::Batch,
        Field::Cutoff,
    ];

    /// The config key the field writes (its label on screen).
    pub fn key(self) -> &'static str {
        match self {
            Field::Model => "model",
            Field::Method => "method",
            Field::Dataset => "dataset",
            Field::Rank => "lora_rank",
            Field::Alpha => "lora_alpha",
            Field::Dropout => "lora_dropout",
            Field::Target => "lora_target",
            Field::LearningRate => "learning_rate",
            Field::MaxSteps => "max_steps",
            Field::Batch => "per_device_train_batch_size",
            Field::Cutoff => "cutoff_len",
        }
    }

    fn is_choice(self) -> bool {
        matches!(self, Field::Method | Field::Dataset)
    }
}

/// A training set the Factory offers, with its held-out twin if any.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetChoice {
    pub label: String,
    /// The file the records are read from.
    pub train: PathBuf,
    pub heldout: Option<PathBuf>,
    /// Set when the dataset is named in a `dataset_info.json`: the config
    /// then names it too, and its columns are mapped as the registry says.
    pub registered: Option<Registered>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub name: String,
    pub dataset_dir: PathBuf,
    pub spec: DatasetSpec,
}

/// Per lesson, in lesson order: the datasets its `data/dataset_info.json`
/// registers (paired with `data/heldout.jsonl`), then its `*train*.jsonl`
/// files.
pub fn course_datasets(course: &Course) -> Vec<DatasetChoice> {
    let mut out = Vec::new();
    for lesson in &course.lessons {
        let data_dir = lesson.dir.join("data");
        // A malformed registry is reported when a config names it; the form
        // only offers what reads.
        for (name, spec) in registry::registered(&data_dir).unwrap_or_default() {
            out.push(DatasetChoice {
                label: format!("{:02} {name} (dataset_info.json)", lesson.number),
                train: data_dir.join(&spec.file_name),
                heldout: Some(data_dir.join("heldout.jsonl")).filter(|p| p.exists()),
                registered: Some(Registered {
                    name,
                    dataset_dir: data_dir.clone(),
                    spec,
                }),
            });
        }
        let Ok(entries) = std::fs::read_dir(&data_dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                name.ends_with(".jsonl") && name.contains("train")
            })
            .collect();
        files.sort();
        for train in files {
            let name = train
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let heldout = Some(train.with_file_name(name.replace("train", "heldout"))).filter(|p| p.exists());
            out.push(DatasetChoice {
                label: format!("{:02} {}", lesson.number, name),
                train,
                heldout,
                registered: None,
            });
        }
    }
    out
}

/// Which page the right-hand pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preview {
    Config,
    Data,
}

pub const RECORDS_PER_PAGE: usize = 4;

#[derive(Debug, Clone)]
pub struct FactoryState {
    pub model: String,
    pub method: Method,
    pub datasets: Vec<DatasetChoice>,
    pub dataset: usize,
    /// The numeric and free-text fields as typed; checked when the config is built.
    pub rank: String,
    pub alpha: String,
    pub dropout: String,
    pub target: String,
    pub learning_rate: String,
    pub max_steps: String,
    pub batch: String,
    pub cutoff: String,
    pub field: usize,
    /// The text of the field being edited.
    pub editing: Option<String>,
    pub preview: Preview,
    pub data_page: usize,
    /// Where runs are written; each run gets a folder inside.
    pub runs_dir: PathBuf,
    /// Where `w` saves and `o` loads the config.
    pub config_path: PathBuf,
}

impl FactoryState {
    pub fn new(datasets: Vec<DatasetChoice>, runs_dir: PathBuf, config_path: PathBuf) -> Self {
        // Lesson 02's settings: they train nano-qwen in well under a minute.
        Self {
            model: String::new(),
            method: Method::Lora,
            dataset: datasets
                .iter()
                .position(|d| d.label.starts_with("02"))
                .unwrap_or(0),
            datasets,
            rank: "8".into(),
            alpha: "16".into(),
            dropout: "0".into(),
            target: "all".into(),
            learning_rate: "2e-3".into(),
            max_steps: "60".into(),
            batch: "8".into(),
            cutoff: "128".into(),
            field: 0,
            editing: None,
            preview: Preview::Config,
            data_page: 0,
            runs_dir,
            config_path,
        }
    }

    pub fn selected(&self) -> Field {
        Field::ALL[self.field]
    }

    /// The text shown for a field.
    pub fn value(&self, field: Field) -> String {
        match field {
            Field::Model if self.model.is_empty() => "nano-qwen".into(),
            Field::Model => self.model.clone(),
            Field::Method => self.method.name().into(),
            Field::Dataset => self
                .datasets
                .get(self.dataset)
                .map_or_else(|| "–".into(), |d| d.label.clone()),
            Field::Rank => self.rank.clone(),
            Field::Alpha => self.alpha.clone(),
            Field::Dropout => self.dropout.clone(),
            Field::Target => self.target.clone(),
            Field::LearningRate => self.learning_rate.clone(),
            Field::MaxSteps => self.max_steps.clone(),
            Field::Batch => self.batch.clone(),
            Field::Cutoff => self.cutoff.clone(),
        }
    }

    fn text_mut(&mut self, field: Field) -> Option<&mut String> {
        Some(match field {
            Field::Model => &mut self.model,
            Field::Rank => &mut self.rank,
            Field::Alpha => &mut self.alpha,
            Field::Dropout => &mut self.dropout,
            Field::Target => &mut self.target,
            Field::LearningRate => &mut self.learning_rate,
            Field::MaxSteps => &mut self.max_steps,
            Field::Batch => &mut self.batch,
            Field::Cutoff => &mut self.cutoff,
            Field::Method | Field::Dataset => return None,
        })
    }

    /// Steps a choice field forwards or back.
    pub fn cycle(&mut self, forward: bool) {
        let step = |i: usize, n: usize| if forward { (i + 1) % n } else { (i + n - 1) % n };
        match self.selected() {
            Field::Method => {
                let i = Method::ALL.iter().position(|&m| m == self.method).unwrap_or(0);
                self.method = Method::ALL[step(i, Method::ALL.len())];
            }
            Field::Dataset if !self.datasets.is_empty() => {
                self.dataset = step(self.dataset, self.datasets.len());
                self.data_page = 0;
            }
            _ => {}
        }
    }

    /// Enter on a field: a choice steps on, a text field opens for typing.
    pub fn activate(&mut self) {
        let field = self.selected();
        if field.is_choice() {
            self.cycle(true);
        } else if let Some(text) = self.text_mut(field) {
            let current = text.clone();
            self.editing = Some(current);
        }
    }

    /// Enter while typing: the text becomes the field's value.
    pub fn commit(&mut self) {
        if let Some(typed) = self.editing.take() {
            let field = self.selected();
            if let Some(text) = self.text_mut(field) {
                *text = typed.trim().to_string();
            }
        }
    }

    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.runs_dir.join(name)
    }

    /// The config this form describes for `method`, as TOML the CLI runs
    /// unchanged; the error names the field that does not parse.
    pub fn config_for(&self, method: Method, output_dir: &Path) -> Result<String> {
        fn parse<T: std::str::FromStr>(field: Field, text: &str) -> Result<T> {
            text.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("`{}` is not a valid {}", text.trim(), field.key()))
        }
        let Some(data) = self.datasets.get(self.dataset) else {
            bail!("no dataset: the course has no data/*train*.jsonl files");
        };
        // In reading order (a toml::Table would sort the keys).
        let mut t: Vec<(String, toml::Value)> = Vec::new();
        let mut put = |key: &str, value: toml::Value| t.push((key.to_string(), value));
        if !self.model.trim().is_empty() {
            put("model", self.model.trim().into());
        }
        match &data.registered {
            Some(r) => {
                put("dataset", r.name.as_str().into());
                put("dataset_dir", r.dataset_dir.display().to_string().into());
            }
            None => put("dataset", data.train.display().to_string().into()),
        }
        if let Some(h) = &data.heldout {
            put("eval_dataset", h.display().to_string().into());
        }
        put("finetuning_type", "lora".into());
        for (key, value) in method.keys() {
            put(key, value.clone());
        }
        put("lora_rank", parse::<i64>(Field::Rank, &self.rank)?.into());
        put("lora_alpha", parse::<f64>(Field::Alpha, &self.alpha)?.into());
        put(
            "lora_dropout",
            parse::<f64>(Field::Dropout, &self.dropout)?.into(),
        );
        put("lora_target", self.target.trim().into());
        put(
            "learning_rate",
            parse::<f64>(Field::LearningRate, &self.learning_rate)?.into(),
        );
        let steps = parse::<i64>(Field::MaxSteps, &self.max_steps)?;
        put("max_steps", steps.into());
        put(
            "per_device_train_batch_size",
            parse::<i64>(Field::Batch, &self.batch)?.into(),
        );
        put("cutoff_len", parse::<i64>(Field::Cutoff, &self.cutoff)?.into());
        put("lr_scheduler_type", "cosine".into());
        put("warmup_ratio", 0.1.into());
        // Five eval points make the dashboard's curve worth reading.
        if data.heldout.is_some() {
            put("eval_steps", (steps / 5).max(1).into());
        }
        put("seed", 42.into());
        put("output_dir", output_dir.display().to_string().into());
        put("overwrite_output_dir", true.into());
        let text: String = t.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        TrainConfig::from_toml(&text)?;
        Ok(format!(
            "# Made by the tunelings Factory ({}). Run it with `tunelings train <this file>`.\n{text}",
            method.name()
        ))
    }

    /// Where a Factory run of the chosen method trains.
    pub fn method_run_dir(&self) -> PathBuf {
        self.run_dir(&self.method.name().to_lowercase())
    }

    pub fn config(&self) -> Result<String> {
        self.config_for(self.method, &self.method_run_dir())
    }

    /// Fills the form from a saved config; keys the form has no field for are ignored.
    pub fn load_toml(&mut self, text: &str) -> Result<()> {
        let cfg = TrainConfig::from_toml(text)?;
        self.model = cfg.model.clone().unwrap_or_default();
        self.method = Method::of(&cfg);
        let first = cfg.dataset.split(',').next().unwrap_or("").trim();
        let dir = Path::new(&cfg.dataset_dir);
        if let Some(i) = self.datasets.iter().position(|d| match &d.registered {
            Some(r) => r.name == first && r.dataset_dir == dir,
            None => d.train == Path::new(first),
        }) {
            self.dataset = i;
        }
        self.rank = cfg.lora_rank.to_string();
        self.alpha = cfg.lora_alpha.unwrap_or(2.0 * cfg.lora_rank as f64).to_string();
        self.dropout = cfg.lora_dropout.to_string();
        self.target = cfg.lora_target.clone();
        self.learning_rate = format!("{:e}", cfg.learning_rate);
        if let Some(s) = cfg.max_steps {
            self.max_steps = s.to_string();
        }
        self.batch = cfg.per_device_train_batch_size.to_string();
        self.cutoff = cfg.cutoff_len.to_string();
        Ok(())
    }

    /// One page of the dataset's records, each as a short `role: text` line list.
    pub fn data_page_lines(&self) -> Result<(Vec<String>, usize)> {
        let Some(data) = self.datasets.get(self.dataset) else {
            return Ok((Vec::new(), 0));
        };
        let text = std::fs::read_to_string(&data.train)
            .with_context(|| format!("cannot read {}", data.train.display()))?;
        let records: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let pages = records.len().div_ceil(RECORDS_PER_PAGE).max(1);
        let page = self.data_page.min(pages - 1);
        let mut lines = Vec::new();
        for (i, raw) in records
            .iter()
            .enumerate()
            .skip(page * RECORDS_PER_PAGE)
            .take(RECORDS_PER_PAGE)
        {
            lines.push(format!("#{}", i + 1));
            match &data.registered {
                Some(r) => lines.extend(summarize_record(&normalized(raw, &r.spec))),
                None => lines.extend(summarize_record(raw)),
            }
            lines.push(String::new());
        }
        Ok((lines, pages))
    }
}

/// A registered dataset's record with its columns renamed as the trainer
/// reads them; the raw line when it does not parse.
fn normalized(raw: &str, spec: &DatasetSpec) -> String {
    serde_json::from_str(raw)
        .ok()
        .and_then(|obj| spec.normalize(&obj).ok())
        .and_then(|m| serde_json::to_string(&m).ok())
        .unwrap_or_else(|| raw.to_string())
}

/// `role: content` lines of a chat record (`messages` or `conversations`),
/// the text of a pretraining record, or the raw line.
fn summarize_record(raw: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return vec![raw.to_string()];
    };
    let turns = v
        .get("messages")
        .or_else(|| v.get("conversations"))
        .and_then(|m| m.as_array());
    if let Some(turns) = turns {
        return turns
            .iter()
            .map(|t| {
                let role = t
                    .get("role")
                    .or_else(|| t.get("from"))
                    .and_then(|r| r.as_str())
                    .unwrap_or("?");
                let content = t
                    .get("content")
                    .or_else(|| t.get("value"))
                    .and_then(|c| c.as_str())
                    .unwrap_or("");
                format!("  {role}: {content}")
            })
            .collect();
    }
    let field = |k: &str| v.get(k).and_then(|t| t.as_str()).filter(|t| !t.is_empty());
    if let Some(instruction) = field("instruction") {
        let prompt = match field("input") {
            Some(input) => format!("{instruction}\n{input}"),
            None => instruction.to_string(),
        };
        return vec![
            format!("  user: {prompt}"),
            format!("  assistant: {}", field("output").unwrap_or("")),
        ];
    }
    match field("text") {
        Some(text) => vec![format!("  {text}")],
        None => vec![raw.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> FactoryState {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course");
        let course = Course::load(&dir).unwrap();
        FactoryState::new(course_datasets(&course), "/runs".into(), "/saved.toml".into())
    }

    #[test]
    fn the_course_datasets_pair_train_with_heldout() {
        let f = factory();
        assert_eq!(f.datasets.len(), 1);
        assert_eq!(f.datasets[0].label, "01 train.jsonl");
        assert!(f.datasets[0]
            .heldout
            .as_ref()
            .unwrap()
            .ends_with("data/heldout.jsonl"));
    }

    #[test]
    fn every_method_builds_a_config_the_trainer_accepts() {
        let mut f = factory();
        for m in Method::ALL {
            let text = f.config_for(m, Path::new("/runs/x")).unwrap();
            let cfg = TrainConfig::from_toml(&text).unwrap();
            assert_eq!(Method::of(&cfg), m, "{text}");
            assert_eq!((cfg.lora_rank, cfg.max_steps, cfg.eval_steps), (8, Some(60), 12));
        }
        f.method = Method::Qdora;
        let text = f.config().unwrap();
        assert!(text.contains("quantization_bit = 4") && text.contains("use_dora = true"));
        assert!(text.contains("output_dir = \"/runs/qdora\""));
    }

    #[test]
    fn a_field_that_does_not_parse_is_named() {
        let mut f = factory();
        f.field = Field::ALL.iter().position(|&x| x == Field::LearningRate).unwrap();
        f.activate();
        f.editing = Some("fast".into());
        f.commit();
        let err = f.config().unwrap_err().to_string();
        assert_eq!(err, "`fast` is not a valid learning_rate");
    }

    #[test]
    fn choices_cycle_both_ways_and_text_fields_edit() {
        let mut f = factory();
        f.field = 1;
        f.cycle(false);
        assert_eq!(f.method, Method::Qdora);
        f.activate();
        assert_eq!((f.method, f.editing.clone()), (Method::Lora, None));
        f.field = 3;
        f.activate();
        assert_eq!(f.editing.as_deref(), Some("8"));
        f.editing = Some(" 16 ".into());
        f.commit();
        assert_eq!((f.rank.as_str(), f.editing.clone()), ("16", None));
    }

    #[test]
    fn a_saved_config_loads_back_into_the_form() {
        let mut f = factory();
        f.method = Method::Pissa;
        f.rank = "4".into();
        f.learning_rate = "0.0005".into();
        f.max_steps = "30".into();
        let text = f.config().unwrap();
        let mut g = factory();
        g.load_toml(&text).unwrap();
        assert_eq!(
            (g.method, g.rank.as_str(), g.max_steps.as_str()),
            (Method::Pissa, "4", "30")
        );
        assert_eq!(g.learning_rate, "5e-4");
        assert_eq!(
            g.config_for(Method::Pissa, Path::new("/runs/pissa")).unwrap(),
            text
        );
        assert!(g.load_toml("dataset = 3").is_err());
    }

    #[test]
    fn registered_datasets_are_offered_by_name_and_previewed_with_their_columns_mapped() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let course = Course::load(root).unwrap();
        let mut f = FactoryState::new(course_datasets(&course), "/runs".into(), "/saved.toml".into());
        let label = "08 velora_chats (dataset_info.json)";
        let i = f
            .datasets
            .iter()
            .position(|d| d.label == label)
            .unwrap_or_else(|| {
                let labels: Vec<&str> = f.datasets.iter().map(|d| d.label.as_str()).collect();
                panic!("{label} not among {labels:?}")
            });
        f.dataset = i;
        let data = root.join("lessons/08-llamafactory/data");
        let text = f.config().unwrap();
        assert!(text.contains("dataset = \"velora_chats\"\n"), "{text}");
        let cfg = TrainConfig::from_toml(&text).unwrap();
        assert_eq!(Path::new(&cfg.dataset_dir), data);
        assert_eq!(
            cfg.eval_dataset.as_deref().map(Path::new),
            Some(data.join("heldout.jsonl").as_path())
        );
        // The trainer resolves the name to the file, with the registry's columns.
        let sources = cfg.datasets().unwrap();
        assert_eq!(sources[0].path, data.join("velora_chats.jsonl"));
        assert!(sources[0].spec.is_some());
        // The preview shows the turns under the trainer's role names, not the file's tags.
        let (lines, _) = f.data_page_lines().unwrap();
        assert!(
            lines[1].starts_with("  user: ") && lines[2].starts_with("  assistant: "),
            "{lines:?}"
        );
        // A saved config selects the same entry again.
        let mut g = FactoryState::new(course_datasets(&course), "/runs".into(), "/saved.toml".into());
        g.load_toml(&text).unwrap();
        assert_eq!(g.dataset, i);
    }

    #[test]
    fn the_dataset_preview_pages_through_records() {
        let mut f = factory();
        let (lines, pages) = f.data_page_lines().unwrap();
        assert!(pages >= 1);
        assert_eq!(lines[0], "#1");
        assert!(lines[1].starts_with("  user: "), "{lines:?}");
        f.data_page = 999;
        let (last, _) = f.data_page_lines().unwrap();
        assert!(!last.is_empty(), "a page past the end shows the last page");
        assert_eq!(summarize_record("{\"text\": \"hi\"}"), ["  hi"]);
        assert_eq!(summarize_record("not json"), ["not json"]);
    }
}
