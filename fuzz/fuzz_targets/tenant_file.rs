//! A tenant file, as `switchboard admin import` and `PUT /api/admin/v1/tenant` read it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = switchboard::tenant_file::Bundle::parse(text);
    }
});
