//! The lesson catalog: `lessons/NN-slug/lesson.toml` files, parsed strictly
//! so that a typo names its file, key and what was expected.

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

pub const FORMAT_VERSION: u32 = 1;

/// Text in English with an optional Turkish version.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    #[serde(default)]
    pub tr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    #[default]
    En,
    Tr,
}

impl Lang {
    /// `explicit` (from `--lang` or `TUNELINGS_LANG`), else `LANG` starting with `tr`.
    pub fn detect(explicit: Option<Lang>) -> Lang {
        explicit.unwrap_or_else(|| match std::env::var("LANG") {
            Ok(l) if l.to_lowercase().starts_with("tr") => Lang::Tr,
            _ => Lang::En,
        })
    }
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match (lang, &self.tr) {
            (Lang::Tr, Some(tr)) => tr,
            _ => &self.en,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Code,
    Train,
    Quiz,
    Export,
    /// A constitution whose rule judge must order labelled pairs.
    Judge,
    /// A two-stage LLaVA config whose model must answer questions about pictures.
    Vision,
    /// A project of the learner's own, graded against a checklist.
    Capstone,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Code => "code",
            Kind::Train => "train",
            Kind::Quiz => "quiz",
            Kind::Export => "export",
            Kind::Judge => "judge",
            Kind::Vision => "vision",
            Kind::Capstone => "capstone",
        }
    }
}

/// Compare the learner's outputs with the reference's on seeded inputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeCheck {
    /// Input tensors by name and shape, filled with standard normal values.
    #[serde(default)]
    pub inputs: BTreeMap<String, Vec<usize>>,
    /// The standard deviation of `inputs` (log-probs of whole answers are
    /// hundreds of nats, far from unit scale).
    #[serde(default = "default_input_std")]
    pub input_std: f64,
    /// Input tensors of whole numbers (u32), uniform in `low..=high`.
    #[serde(default)]
    pub ints: BTreeMap<String, IntInput>,
    #[serde(default)]
    pub scalars: BTreeMap<String, f64>,
    #[serde(default = "default_tol")]
    pub rtol: f64,
    #[serde(default = "default_tol")]
    pub atol: f64,
    #[serde(default = "default_code_time")]
    pub time_limit_s: f64,
    #[serde(default = "default_output_kib")]
    pub output_limit_kib: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntInput {
    pub shape: Vec<usize>,
    pub low: u32,
    pub high: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    EvalLoss,
    Perplexity,
    Accuracy,
    /// Greedy answers equal to the reference.
    ExactMatch,
    /// Greedy answers that parse as the reference's JSON.
    JsonMatch,
    /// Mean chrF of the greedy answers.
    Chrf,
    /// Held-out preference pairs whose chosen answer is the more likely.
    PreferenceAccuracy,
}

impl Metric {
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::EvalLoss | Metric::Perplexity)
    }

    /// Whether the metric scores generated answers (`eval --generate`).
    pub fn needs_generation(self) -> bool {
        matches!(self, Metric::ExactMatch | Metric::JsonMatch | Metric::Chrf)
    }

    /// The key in `tunelings eval --json` output.
    pub fn eval_key(self) -> &'static str {
        match self {
            Metric::EvalLoss => "loss",
            Metric::Perplexity => "perplexity",
            Metric::Accuracy => "token_accuracy",
            Metric::ExactMatch => "exact_match",
            Metric::JsonMatch => "json_match",
            Metric::Chrf => "chrf",
            Metric::PreferenceAccuracy => "preference_accuracy",
        }
    }
}

/// Train with the learner's config and compare with the reference run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainCheck {
    /// Held-out JSONL, relative to the lesson folder.
    pub heldout: PathBuf,
    pub metric: Metric,
    /// Allowed relative shortfall against the reference run.
    pub margin: f64,
    /// Config keys the exercise is about, with the values they must have
    /// (a plain LoRA must not pass a QLoRA exercise).
    #[serde(default)]
    pub require: BTreeMap<String, toml::Value>,
    #[serde(default = "default_train_time")]
    pub time_limit_s: f64,
    /// Also judge the trained model's behaviour with a constitution: its
    /// greedy answers must score above the untrained model's.
    pub behaviour: Option<BehaviourCheck>,
    /// The submitted value of a key must be the best point of the
    /// learner's own sweep of this recipe.
    pub sweep: Option<SweepCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepCheck {
    /// The swept key (a number).
    pub key: String,
    /// Distinct values the sweep must try…
    pub min_values: usize,
    /// …spanning at least this factor, largest over smallest.
    pub min_span: f64,
    /// Allowed relative difference between the check's own run of the
    /// submitted recipe and the sweep's record of it.
    pub agreement: f64,
    /// The grid `dev check` sweeps before it checks the solution.
    pub reference_grid: Vec<f64>,
}

#[derive(Debug, Clone, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourCheck {
    /// Relative to the lesson folder, like the prompts file.
    pub constitution: PathBuf,
    pub prompts: PathBuf,
}

/// The learner writes a constitution; its rule judge must prefer the
/// chosen answer of every labelled pair (a tie is a miss).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeCheck {
    /// Labelled `{prompt, chosen, rejected}` JSONL, relative to the lesson folder.
    pub pairs: PathBuf,
}

/// Train a tiny LLaVA with the learner's `tunelings llava` config; its greedy
/// answers to held-out picture questions must reach `min_accuracy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionCheck {
    /// Multimodal question JSONL, relative to the lesson folder.
    pub heldout: PathBuf,
    pub min_accuracy: f64,
    #[serde(default = "default_train_time")]
    pub time_limit_s: f64,
}

/// Export with the learner's settings, run the GGUF as Ollama would, and
/// compare its answers with the merged model's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportCheck {
    /// Chat JSONL whose questions are asked and whose answers set the
    /// perplexity, relative to the lesson folder.
    pub heldout: PathBuf,
    /// The GGUF type the exercise asks for.
    pub quant: crate::export::gguf::Quant,
    /// Share of greedy answers that must equal the merged model's.
    pub min_agreement: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    /// What the question asks of the learner.
    #[serde(default)]
    pub asks: Asks,
    pub prompt: Text,
    pub choices: BTreeMap<String, Text>,
    pub answer: String,
    /// Why each choice is right or wrong; every choice has one.
    pub explain: BTreeMap<String, Text>,
}

/// Recall of a concept, or a number to work out or predict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Asks {
    #[default]
    Concept,
    Calculation,
    Prediction,
}

/// The learner's own project: data with a disjoint held-out split, a
/// recipe that beats the base model on it, an export that runs, and a
/// model card that tells the truth. One point per item.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapstoneCheck {
    pub min_train: usize,
    pub min_heldout: usize,
    /// The tuned held-out loss must be this share below the base model's.
    pub min_gain: f64,
    #[serde(default = "default_train_time")]
    pub time_limit_s: f64,
}

#[derive(Debug, Clone)]
pub enum Check {
    Code(CodeCheck),
    Train(TrainCheck),
    Quiz(Vec<Question>),
    Export(ExportCheck),
    Judge(JudgeCheck),
    Vision(VisionCheck),
    Capstone(CapstoneCheck),
}

#[derive(Debug, Clone)]
pub struct Exercise {
    pub name: String,
    pub lesson: u32,
    pub title: Text,
    /// The learner's file, relative to the exercises folder (and to `solutions/`).
    pub file: PathBuf,
    /// Other starting files the exercise needs, beside `file`.
    pub files: Vec<PathBuf>,
    pub points: u32,
    pub hints: Vec<Text>,
    pub check: Check,
}

impl Exercise {
    pub fn kind(&self) -> Kind {
        match self.check {
            Check::Code(_) => Kind::Code,
            Check::Train(_) => Kind::Train,
            Check::Quiz(_) => Kind::Quiz,
            Check::Export(_) => Kind::Export,
            Check::Judge(_) => Kind::Judge,
            Check::Vision(_) => Kind::Vision,
            Check::Capstone(_) => Kind::Capstone,
        }
    }

    pub fn max_score(&self) -> u32 {
        match &self.check {
            Check::Quiz(q) => q.len() as u32,
            _ => self.points,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Lesson {
    pub number: u32,
    pub slug: String,
    pub dir: PathBuf,
    pub title: Text,
    pub chapter: Text,
    pub exercises: Vec<Exercise>,
}

impl Lesson {
    /// The shipped starting version of a learner file (English).
    pub fn start_file(&self, ex: &Exercise) -> PathBuf {
        self.dir.join("start").join(&ex.file)
    }

    /// The starting version in `lang`: `start.tr/` holds the Turkish
    /// copies, with the same code and translated comments.
    pub fn start_file_in(&self, ex: &Exercise, lang: Lang) -> PathBuf {
        self.start_file_in_at(&ex.file, lang)
    }

    /// `start_file_in` for any starting file, by its path in the exercises folder.
    pub fn start_file_in_at(&self, rel: &Path, lang: Lang) -> PathBuf {
        let translated = match lang {
            Lang::En => None,
            Lang::Tr => Some(self.dir.join("start.tr").join(rel)),
        };
        translated
            .filter(|p| p.is_file())
            .unwrap_or_else(|| self.dir.join("start").join(rel))
    }

    pub fn chapter_path(&self, lang: Lang) -> PathBuf {
        self.dir.join(self.chapter.get(lang))
    }
}

/// A course folder: `lessons/`, `solutions/` and the default `exercises/`.
#[derive(Debug, Clone)]
pub struct Course {
    pub root: PathBuf,
    pub lessons: Vec<Lesson>,
}

impl Course {
    pub fn load(root: &Path) -> Result<Self> {
        let dir = root.join("lessons");
        let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut lesson_dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        lesson_dirs.sort();
        let mut lessons = Vec::new();
        for d in lesson_dirs {
            lessons.push(load_lesson(&d)?);
        }
        let mut seen = HashSet::new();
        for ex in lessons.iter().flat_map(|l| &l.exercises) {
            ensure!(
                seen.insert(ex.name.clone()),
                "two exercises are named `{}`",
                ex.name
            );
        }
        Ok(Self {
            root: root.to_path_buf(),
            lessons,
        })
    }

    pub fn exercises(&self) -> impl Iterator<Item = (&Lesson, &Exercise)> {
        self.lessons
            .iter()
            .flat_map(|l| l.exercises.iter().map(move |e| (l, e)))
    }

    pub fn find(&self, name: &str) -> Result<(&Lesson, &Exercise)> {
        if let Some(found) = self.exercises().find(|(_, e)| e.name == name) {
            return Ok(found);
        }
        let names: Vec<&str> = self.exercises().map(|(_, e)| e.name.as_str()).collect();
        match crate::train::config::closest(name, &names) {
            Some(near) => bail!("no exercise named `{name}`; did you mean `{near}`?"),
            None => bail!("no exercise named `{name}`; `tunelings list` shows them all"),
        }
    }

    pub fn solution_file(&self, ex: &Exercise) -> PathBuf {
        self.root.join("solutions").join(&ex.file)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LessonToml {
    format_version: u32,
    title: Text,
    chapter: Text,
    #[serde(default, rename = "exercise")]
    exercises: Vec<ExerciseToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExerciseToml {
    name: String,
    kind: Kind,
    title: Text,
    file: PathBuf,
    #[serde(default)]
    files: Vec<PathBuf>,
    #[serde(default = "one")]
    points: u32,
    hints: Vec<Text>,
    #[serde(default)]
    check: Option<toml::Table>,
    #[serde(default, rename = "question")]
    questions: Vec<Question>,
}

fn load_lesson(dir: &Path) -> Result<Lesson> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
    let (number, slug) = name
        .split_once('-')
        .and_then(|(n, s)| Some((n.parse::<u32>().ok()?, s.to_string())))
        .with_context(|| format!("{}: lesson folders are named NN-slug", dir.display()))?;
    let path = dir.join("lesson.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw: LessonToml =
        toml::from_str(&text).with_context(|| format!("{}: invalid lesson file", path.display()))?;
    let at = |what: String| format!("{}: {what}", path.display());
    ensure!(
        raw.format_version == FORMAT_VERSION,
        at(format!(
            "`format_version` is {}, this tunelings reads {FORMAT_VERSION}",
            raw.format_version
        ))
    );
    ensure!(
        raw.title.tr.is_some(),
        at("`title` needs both `en` and `tr`".into())
    );
    let mut exercises = Vec::new();
    for ex in raw.exercises {
        let name = ex.name.clone();
        let parsed = parse_exercise(ex, number).with_context(|| at(format!("exercise `{name}`")))?;
        exercises.push(parsed);
    }
    Ok(Lesson {
        number,
        slug,
        dir: dir.to_path_buf(),
        title: raw.title,
        chapter: raw.chapter,
        exercises,
    })
}

fn parse_exercise(ex: ExerciseToml, lesson: u32) -> Result<Exercise> {
    ensure!(
        !ex.name.is_empty() && ex.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "`name` must be letters, digits and underscores"
    );
    ensure!(
        ex.file.components().all(|c| matches!(c, Component::Normal(_))),
        "`file` must be a relative path inside the exercises folder, got {}",
        ex.file.display()
    );
    for f in &ex.files {
        ensure!(
            f.components().all(|c| matches!(c, Component::Normal(_))),
            "`files` must be relative paths inside the exercises folder, got {}",
            f.display()
        );
    }
    ensure!(!ex.hints.is_empty(), "`hints` needs at least one hint");
    let check_table = || -> Result<toml::Table> {
        ex.check
            .clone()
            .with_context(|| format!("a {:?} exercise needs a [exercise.check] table", ex.kind))
    };
    let check = match ex.kind {
        Kind::Code => {
            ensure!(
                ex.file.extension().is_some_and(|e| e == "rs"),
                "a code exercise's `file` is a .rs file"
            );
            let c: CodeCheck = check_table()?.try_into().context("in [exercise.check]")?;
            ensure!(c.rtol >= 0.0 && c.atol >= 0.0, "`rtol` and `atol` must be ≥ 0");
            ensure!(
                c.input_std > 0.0 && c.input_std.is_finite(),
                "`input_std` must be positive"
            );
            if let Some((name, _)) = c.ints.iter().find(|(_, i)| i.low > i.high) {
                bail!("`ints.{name}`: `low` must not exceed `high`");
            }
            Check::Code(c)
        }
        Kind::Train => {
            let c: TrainCheck = check_table()?.try_into().context("in [exercise.check]")?;
            ensure!(c.margin >= 0.0, "`margin` must be ≥ 0");
            if let Some(key) = c
                .require
                .keys()
                .find(|k| !crate::train::config::KEYS.contains(&k.as_str()))
            {
                bail!("`require` names `{key}`, which is not a training config key");
            }
            if let Some(sw) = &c.sweep {
                ensure!(
                    crate::train::config::KEYS.contains(&sw.key.as_str()),
                    "`sweep.key` `{}` is not a training config key",
                    sw.key
                );
                ensure!(
                    sw.min_values >= 2 && sw.min_span >= 1.0 && sw.agreement > 0.0,
                    "`sweep` needs min_values ≥ 2, min_span ≥ 1 and agreement > 0"
                );
                sw.reference_axis().context("in [exercise.check.sweep]")?;
            }
            Check::Train(c)
        }
        Kind::Export => {
            ensure!(
                ex.file.extension().is_some_and(|e| e == "toml"),
                "an export exercise's `file` is a .toml file"
            );
            let c: ExportCheck = check_table()?.try_into().context("in [exercise.check]")?;
            ensure!(
                (0.0..=1.0).contains(&c.min_agreement),
                "`min_agreement` is a share between 0 and 1"
            );
            Check::Export(c)
        }
        Kind::Judge => {
            ensure!(
                ex.file.extension().is_some_and(|e| e == "toml"),
                "a judge exercise's `file` is a constitution .toml file"
            );
            Check::Judge(check_table()?.try_into().context("in [exercise.check]")?)
        }
        Kind::Vision => {
            ensure!(
                ex.file.extension().is_some_and(|e| e == "toml"),
                "a vision exercise's `file` is a `tunelings llava` .toml config"
            );
            let c: VisionCheck = check_table()?.try_into().context("in [exercise.check]")?;
            ensure!(
                (0.0..=1.0).contains(&c.min_accuracy),
                "`min_accuracy` is a share between 0 and 1"
            );
            Check::Vision(c)
        }
        Kind::Quiz => {
            ensure!(
                !ex.questions.is_empty(),
                "a quiz needs [[exercise.question]] entries"
            );
            for q in &ex.questions {
                ensure!(
                    q.id != crate::course::quiz_file::ORDER_KEY,
                    "a question may not be called `{}`: the quiz file keeps its choice order there",
                    q.id
                );
                let letters: Vec<String> = (0..q.choices.len())
                    .map(crate::course::quiz_file::shown_letter)
                    .collect();
                ensure!(
                    q.choices.keys().eq(letters.iter()),
                    "question `{}`: the choices must be lettered {} in order, found {:?}",
                    q.id,
                    letters.join(", "),
                    q.choices.keys().collect::<Vec<_>>()
                );
                ensure!(
                    q.choices.contains_key(&q.answer),
                    "question `{}`: `answer` {:?} is not one of the choices {:?}",
                    q.id,
                    q.answer,
                    q.choices.keys().collect::<Vec<_>>()
                );
                for choice in q.choices.keys() {
                    ensure!(
                        q.explain.contains_key(choice),
                        "question `{}`: `explain` has no entry for choice `{choice}`",
                        q.id
                    );
                }
            }
            Check::Quiz(ex.questions)
        }
        Kind::Capstone => {
            let c: CapstoneCheck = check_table()?.try_into().context("in [exercise.check]")?;
            ensure!(
                c.min_train > 0 && c.min_heldout > 0 && (0.0..1.0).contains(&c.min_gain),
                "a capstone needs min_train and min_heldout above 0 and min_gain in [0, 1)"
            );
            Check::Capstone(c)
        }
    };
    Ok(Exercise {
        name: ex.name,
        lesson,
        title: ex.title,
        file: ex.file,
        files: ex.files,
        points: ex.points,
        hints: ex.hints,
        check,
    })
}

fn one() -> u32 {
    1
}
fn default_input_std() -> f64 {
    1.0
}
fn default_tol() -> f64 {
    1e-5
}
fn default_code_time() -> f64 {
    20.0
}
fn default_train_time() -> f64 {
    600.0
}
fn default_output_kib() -> usize {
    64
}
