//! The Teams app package: `manifest/manifest.json` filled in for one deployment, validated
//! against the official manifest schema (vendored in `manifest/schema/`), and zipped with the
//! two icons. Nothing is written unless the manifest is valid; problems name their JSON path.

use std::io::Write;

use jsonschema::Validator;
use serde_json::Value;

const TEMPLATE: &str = include_str!("../manifest/manifest.json");
const SCHEMA: &str = include_str!("../manifest/schema/MicrosoftTeams.v1.22.schema.json");
const COLOR_ICON: &[u8] = include_bytes!("../manifest/color.png");
const OUTLINE_ICON: &[u8] = include_bytes!("../manifest/outline.png");

/// What a deployment puts into its manifest.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The bot's Microsoft App ID (Entra application id).
    pub app_id: String,
    /// The service's public host name (`chat.example.com`).
    pub domain: String,
    /// The Teams app's own id; the app id unless given.
    pub manifest_id: Option<String>,
    pub version: String,
    pub short_name: String,
    pub developer_name: String,
    pub website_url: Option<String>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
}

/// Why no package was written: every problem, each with its JSON path.
#[derive(Debug, thiserror::Error)]
#[error("the manifest is not valid:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct Invalid(pub Vec<String>);

/// The host name of `domain`, which may be given as a URL.
fn host(domain: &str) -> Result<String, Invalid> {
    let domain = domain.trim();
    let host = if domain.contains("://") {
        url::Url::parse(domain)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    } else {
        Some(domain.trim_end_matches('/').to_owned())
    };
    match host {
        Some(h)
            if !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(Invalid(vec![format!(
            "--domain: {domain:?} is not a host name like chat.example.com"
        )])),
    }
}

/// The template with `inputs` filled in (not yet validated).
pub fn fill(inputs: &Inputs) -> Result<Value, Invalid> {
    let domain = host(&inputs.domain)?;
    let website = inputs
        .website_url
        .clone()
        .unwrap_or_else(|| format!("https://{domain}/preferences"));
    let values = [
        ("appId", inputs.app_id.trim().to_ascii_lowercase()),
        (
            "manifestId",
            inputs
                .manifest_id
                .as_deref()
                .unwrap_or(&inputs.app_id)
                .trim()
                .to_ascii_lowercase(),
        ),
        ("domain", domain),
        ("version", inputs.version.clone()),
        ("shortName", inputs.short_name.clone()),
        ("developerName", inputs.developer_name.clone()),
        (
            "privacyUrl",
            inputs
                .privacy_url
                .clone()
                .unwrap_or_else(|| website.clone()),
        ),
        (
            "termsUrl",
            inputs.terms_url.clone().unwrap_or_else(|| website.clone()),
        ),
        ("websiteUrl", website),
    ];
    let mut manifest: Value = serde_json::from_str(TEMPLATE)
        .map_err(|e| Invalid(vec![format!("manifest/manifest.json: {e}")]))?;
    substitute(&mut manifest, &values);
    Ok(manifest)
}

fn substitute(value: &mut Value, values: &[(&str, String)]) {
    match value {
        Value::String(s) if s.contains("{{") => {
            for (name, v) in values {
                *s = s.replace(&format!("{{{{{name}}}}}"), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, values)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, values)),
        _ => {}
    }
}

fn validator() -> Result<Validator, Invalid> {
    let schema: Value = serde_json::from_str(SCHEMA)
        .map_err(|e| Invalid(vec![format!("the vendored schema: {e}")]))?;
    jsonschema::draft4::new(&schema).map_err(|e| Invalid(vec![format!("the vendored schema: {e}")]))
}

/// Every way `manifest` breaks the schema (or is left unfilled), as `path: message`.
pub fn problems(manifest: &Value) -> Vec<String> {
    let validator = match validator() {
        Ok(v) => v,
        Err(Invalid(p)) => return p,
    };
    let mut found: Vec<String> = validator
        .iter_errors(manifest)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("{}: {e}", if path.is_empty() { "/" } else { path.as_str() })
        })
        .collect();
    let text = manifest.to_string();
    if text.contains("{{") {
        found.push("/: a {{placeholder}} was left unfilled".to_owned());
    }
    found
}

/// The app package (zip: `manifest.json`, `color.png`, `outline.png`), or every problem.
pub fn package(inputs: &Inputs) -> Result<Vec<u8>, Invalid> {
    let manifest = fill(inputs)?;
    let found = problems(&manifest);
    if !found.is_empty() {
        return Err(Invalid(found));
    }
    zip(&manifest).map_err(|e| Invalid(vec![format!("writing the zip: {e}")]))
}

fn zip(manifest: &Value) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    out.start_file("manifest.json", options)?;
    out.write_all(serde_json::to_string_pretty(manifest)?.as_bytes())?;
    out.start_file("color.png", options)?;
    out.write_all(COLOR_ICON)?;
    out.start_file("outline.png", options)?;
    out.write_all(OUTLINE_ICON)?;
    Ok(out.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            app_id: "11111111-2222-3333-4444-555555555555".into(),
            domain: "chat.example.com".into(),
            manifest_id: None,
            version: "1.0.0".into(),
            short_name: "Switchboard".into(),
            developer_name: "Contoso".into(),
            website_url: None,
            privacy_url: None,
            terms_url: None,
        }
    }

    #[test]
    fn the_filled_template_is_valid_and_a_bad_app_id_is_named_by_path() {
        let manifest = fill(&inputs()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(problems(&manifest), Vec::<String>::new());
        assert_eq!(manifest["validDomains"][0], "chat.example.com");
        let mut bad = inputs();
        bad.app_id = "not-a-guid".into();
        let Err(Invalid(found)) = package(&bad) else {
            panic!("invalid app id accepted");
        };
        assert!(
            found.iter().any(|p| p.starts_with("/bots/0/botId: ")),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.starts_with("/id: ")), "{found:?}");
    }

    #[test]
    fn urls_are_reduced_to_their_host_and_junk_is_refused() {
        assert_eq!(
            host("https://Chat.Example.com/x").ok().as_deref(),
            Some("chat.example.com")
        );
        assert!(host("chat example").is_err());
        assert!(host("").is_err());
    }
}
