//! The card catalog: the built-in templates of `cards/` (embedded in the binary) and, when
//! `cards.dir` is configured, an admin's restyled copies from that folder. Every template is
//! parsed and checked against Teams' limits with its sample data when the catalog loads, so a
//! broken template stops the service at start, not when a customer is waiting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::check::{Finding, teams_findings};
use super::template::{ExpandError, ParseError, Template};

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name,
            include_str!(concat!("../../cards/", $name, ".json")),
            include_str!(concat!("../../cards/samples/", $name, ".json")))),*]
    };
}

/// `(name, template, sample data)` of every card Switchboard sends.
const BUILTIN: &[(&str, &str, &str)] = builtin!(
    "im-invitation",
    "im-invitation-accepted",
    "im-invitation-declined",
    "im-invitation-missed",
    "im-invitation-taken",
    "im-invitation-withdrawn",
    "im-session-started",
    "im-session-ended",
    "im-acw",
    "im-whatsapp-templates",
    "registration-welcome",
    "agent-status",
    "bot-help",
);

/// Names of every card in the catalog.
pub fn card_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _, _)| *name)
}

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

/// One loaded card.
#[derive(Debug, Clone)]
pub struct Card {
    pub name: &'static str,
    pub origin: Origin,
    pub template: Template,
    pub sample: Value,
    /// Whether the template may read the time (`utcNow`): then its output is not kept
    /// ([`CardCatalog::render_data_memo`]).
    pub reads_clock: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("card template {name} ({origin}) is not valid JSON: {message}")]
    Json {
        name: String,
        origin: String,
        message: String,
    },
    #[error("card template {name} ({origin}): {source}")]
    Parse {
        name: String,
        origin: String,
        #[source]
        source: ParseError,
    },
    #[error("card template {name} ({origin}) fails with its sample data: {source}")]
    Sample {
        name: String,
        origin: String,
        #[source]
        source: ExpandError,
    },
    #[error(
        "card template {name} ({origin}) breaks Teams limits: {}",
        describe(findings)
    )]
    Limits {
        name: String,
        origin: String,
        findings: Vec<Finding>,
    },
    #[error("cannot read the cards folder {path}: {message}")]
    Folder { path: String, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no card named {0}")]
    UnknownCard(String),
    #[error(transparent)]
    Expand(#[from] ExpandError),
    #[error("card {0} expanded to nothing (its root $when is false)")]
    Empty(String),
}

fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} at {} ({})",
                f.code,
                if f.path.is_empty() { "/" } else { &f.path },
                f.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The loaded, validated cards.
#[derive(Debug, Clone)]
pub struct CardCatalog {
    cards: BTreeMap<&'static str, Card>,
    /// Cards rendered from their data alone, by name and data ([`CardCatalog::render_data_memo`]).
    pub(super) memo: moka::sync::Cache<(&'static str, String), Value>,
}

/// A fixed time for checking samples, so checks are deterministic.
fn check_time() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

impl CardCatalog {
    /// The built-in cards only.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::load(None)
    }

    /// Built-in cards, each replaced by `{dir}/{name}.json` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, CatalogError> {
        if let Some(dir) = dir {
            std::fs::read_dir(dir).map_err(|e| CatalogError::Folder {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let mut cards = BTreeMap::new();
        for (name, builtin_template, sample) in BUILTIN {
            let file = dir
                .map(|d| d.join(format!("{name}.json")))
                .filter(|p| p.is_file());
            let (source, origin) = match &file {
                Some(path) => (
                    std::fs::read_to_string(path).map_err(|e| CatalogError::Folder {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?,
                    Origin::File(path.clone()),
                ),
                None => ((*builtin_template).to_owned(), Origin::BuiltIn),
            };
            let sample: Value = serde_json::from_str(sample).map_err(|e| CatalogError::Json {
                name: format!("{name} (sample data)"),
                origin: "built-in".into(),
                message: e.to_string(),
            })?;
            cards.insert(*name, load_card(name, &source, origin, sample)?);
        }
        Ok(CardCatalog {
            cards,
            memo: moka::sync::Cache::new(64),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Card> {
        self.cards.get(name)
    }

    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.cards.values()
    }

    /// Expands card `name` with `data`.
    pub fn render(&self, name: &str, data: &Value) -> Result<Value, RenderError> {
        self.render_in(name, data, None)
    }

    /// Expands card `name` with `data` for a reader in `locale` (the agent's Teams locale):
    /// see [`Template::expand_in`].
    pub fn render_in(
        &self,
        name: &str,
        data: &Value,
        locale: Option<&str>,
    ) -> Result<Value, RenderError> {
        let card = self
            .get(name)
            .ok_or_else(|| RenderError::UnknownCard(name.to_owned()))?;
        card.template
            .expand_in(data, locale)?
            .ok_or_else(|| RenderError::Empty(name.to_owned()))
    }
}

fn origin_text(origin: &Origin) -> String {
    match origin {
        Origin::BuiltIn => "built-in".into(),
        Origin::File(p) => p.display().to_string(),
    }
}

/// Parses a template and checks it against Teams' limits with the sample data.
pub fn load_card(
    name: &'static str,
    source: &str,
    origin: Origin,
    sample: Value,
) -> Result<Card, CatalogError> {
    let origin_name = origin_text(&origin);
    let json: Value = serde_json::from_str(source).map_err(|e| CatalogError::Json {
        name: name.into(),
        origin: origin_name.clone(),
        message: e.to_string(),
    })?;
    let template = Template::parse(&json).map_err(|source| CatalogError::Parse {
        name: name.into(),
        origin: origin_name.clone(),
        source,
    })?;
    let expanded = template
        .expand_at(&sample, None, check_time())
        .map_err(|source| CatalogError::Sample {
            name: name.into(),
            origin: origin_name.clone(),
            source,
        })?
        .unwrap_or(Value::Null);
    let findings = teams_findings(&expanded);
    if !findings.is_empty() {
        return Err(CatalogError::Limits {
            name: name.into(),
            origin: origin_name,
            findings,
        });
    }
    Ok(Card {
        name,
        origin,
        template,
        sample,
        reads_clock: source.contains("utcNow"),
    })
}
