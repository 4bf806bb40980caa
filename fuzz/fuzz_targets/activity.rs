//! A Bot Framework activity body, as `POST /api/messages` reads it after the token check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::botframework::activity::{Activity, InboundActivity};

fuzz_target!(|data: &[u8]| {
    if let Ok(activity) = serde_json::from_slice::<Activity>(data) {
        let _ = InboundActivity::validate(activity);
    }
});
