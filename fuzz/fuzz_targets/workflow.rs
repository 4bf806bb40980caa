//! An IM workflow document, checked for every channel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::workflow::{Channel, check};

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for channel in [None, Channel::parse("interact"), Channel::parse("whatsapp")] {
        let _ = check(&document, channel);
    }
});
