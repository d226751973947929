//! Feeds arbitrary bytes through the whole configuration pipeline (preprocessor, lexer, tree,
//! model) and the dump: nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rka_config::{load_str, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `include` globs the real file system (`include /**/*` would read the whole machine);
    // the include logic has its own tests.
    if text.contains("include") {
        return;
    }
    let opts = LoadOptions {
        config_id: Some("fuzz".into()),
        skip_host_checks: true,
        ..LoadOptions::default()
    };
    let loaded = load_str("fuzz.conf", &text, &opts);
    let _ = loaded.config.dump();
});
