//! An Adaptive Card template (an admin's card or a workflow's), parsed and expanded against
//! the invitation card's sample data and against itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SAMPLE: &str = include_str!("../../cards/samples/im-invitation.json");

fuzz_target!(|data: &[u8]| {
    let Ok(template) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(parsed) = switchboard::cards::Template::parse(&template) else {
        return;
    };
    let sample: Value = serde_json::from_str(SAMPLE).unwrap_or(Value::Null);
    let _ = parsed.expand(&sample, Some(&sample));
    let _ = parsed.expand(&template, None);
});
