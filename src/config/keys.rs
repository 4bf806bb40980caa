//! Settings a user cannot have meant: an unknown key (in the file or as a `SWITCHBOARD_`
//! variable) is refused with the closest known one named, and a `SWITCHBOARD_` variable that
//! looks like a setting written with one underscore between section and key is refused with
//! its right spelling. Variables of the prefix that do not look like settings (test knobs
//! such as `SWITCHBOARD_FUZZ_CASES`) are left alone.

use std::collections::HashMap;

/// The sections of the settings (the top-level tables).
pub(super) const SECTIONS: &[&str] = &[
    "server",
    "metrics",
    "store",
    "bot",
    "graph",
    "outbox",
    "log",
    "cards",
    "interact",
    "preferences",
    "reporting",
    "whatsapp",
];

/// A `SWITCHBOARD_SECTION_KEY` variable (one underscore where two belong) is a mistake.
pub(super) fn check_variables(env: &HashMap<String, String>) -> anyhow::Result<()> {
    let mut names: Vec<&String> = env.keys().collect();
    names.sort();
    for name in names {
        let Some(rest) = name.strip_prefix("SWITCHBOARD_") else {
            continue;
        };
        if rest.contains("__") {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        if let Some(section) = SECTIONS
            .iter()
            .find(|s| lower.starts_with(&format!("{s}_")))
        {
            let key = &rest[section.len() + 1..];
            anyhow::bail!(
                "{name} is not a setting: a section and its key are separated by two \
                 underscores ({}); did you mean SWITCHBOARD_{}__{key}?",
                "SWITCHBOARD_SECTION__KEY",
                section.to_ascii_uppercase()
            );
        }
    }
    Ok(())
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a message that names
/// the closest known key; other errors pass unchanged.
pub(super) fn explain(error: &str) -> Option<String> {
    let start = error.find("unknown field `")? + "unknown field `".len();
    let leaf = &error[start..start + error[start..].find('`')?];
    // The configuration reader adds " for key `section`" after serde's list.
    let (list, section) = match error[start..].split_once(" for key `") {
        Some((list, rest)) => (list, rest.split('`').next().filter(|s| !s.is_empty())),
        None => (&error[start..], None),
    };
    let prefix = section.map(|s| format!("{s}.")).unwrap_or_default();
    let unknown = format!("{prefix}{leaf}");
    let expected: Vec<String> = list
        .split('`')
        .skip(2)
        .step_by(2)
        .map(|k| format!("{prefix}{k}"))
        .collect();
    let closest = expected
        .iter()
        .map(|k| {
            let known = k.rsplit('.').next().unwrap_or(k);
            (distance(leaf, known), k.as_str(), known.len())
        })
        .min()
        .filter(|(d, _, len)| *d <= (*len).max(3) / 2)
        .map(|(_, k, _)| k);
    let hint = match closest {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("the known ones here are {}", expected.join(", ")),
    };
    Some(format!(
        "unknown setting `{unknown}` (as a key in the file or a SWITCHBOARD_ variable): {hint}"
    ))
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// An enum setting read as text, its allowed values named when it is none of them.
pub(super) fn choice<T: Copy>(key: &str, value: &str, allowed: &[(&str, T)]) -> anyhow::Result<T> {
    allowed
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            anyhow::anyhow!("{key} must be one of {}, not {value:?}", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_key_is_named() {
        let said = explain("unknown field `bnd`, expected one of `bind`, `public_url`")
            .expect("explained");
        assert!(
            said.contains("`bnd`") && said.contains("did you mean `bind`?"),
            "{said}"
        );
        let far = explain("unknown field `port`, expected `bind` or `public_url` for key `server`")
            .expect("x");
        assert!(
            far.contains("`server.port`")
                && far.contains("the known ones here are server.bind, server.public_url"),
            "{far}"
        );
        assert_eq!(explain("invalid type: string"), None);
        assert_eq!(distance("sever", "server"), 1);
    }

    #[test]
    fn one_underscore_between_section_and_key_is_refused() {
        let env = |k: &str| HashMap::from([(k.to_owned(), "x".to_owned())]);
        let error = check_variables(&env("SWITCHBOARD_SERVER_BIND")).expect_err("refused");
        assert!(
            error.to_string().contains("SWITCHBOARD_SERVER__BIND"),
            "{error}"
        );
        check_variables(&env("SWITCHBOARD_FUZZ_CASES")).expect("a test knob is no setting");
        check_variables(&env("SWITCHBOARD_SERVER__BIND")).expect("well formed");
    }
}
