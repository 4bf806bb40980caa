//! `switchboard card render`: the expansion the bot would send, printed as JSON.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::catalog::CardCatalog;
use super::template::Template;

fn read_json(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("the {what} file {} is not valid JSON", path.display()))
}

/// Expands `template` (a file, or a card name in `catalog`) and returns pretty JSON.
pub fn render(
    catalog: &CardCatalog,
    template: &str,
    data: Option<&Path>,
    host: Option<&Path>,
) -> anyhow::Result<String> {
    let host = host.map(|h| read_json(h, "host data")).transpose()?;
    let path = Path::new(template);
    let (parsed, sample) = if path.is_file() {
        let json = read_json(path, "template")?;
        (
            Template::parse(&json).with_context(|| format!("in {}", path.display()))?,
            Value::Object(Default::default()),
        )
    } else if let Some(card) = catalog.get(template) {
        (card.template.clone(), card.sample.clone())
    } else {
        let names: Vec<&str> = catalog.cards().map(|c| c.name).collect();
        anyhow::bail!(
            "{template} is neither a file nor a card name (cards: {})",
            names.join(", ")
        );
    };
    let data = match data {
        Some(d) => read_json(d, "data")?,
        None => sample,
    };
    let expanded = parsed.expand(&data, host.as_ref())?.unwrap_or(Value::Null);
    Ok(serde_json::to_string_pretty(&expanded)?)
}
