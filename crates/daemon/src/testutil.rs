//! Helpers shared by the unit tests of the daemon's modules.

/// The configuration `text` as the daemon would read it, without host checks (the tests name
/// interfaces and addresses this host does not have).
pub(crate) fn config(text: &str) -> rka_config::Config {
    let opts = rka_config::LoadOptions {
        skip_host_checks: true,
        ..Default::default()
    };
    rka_config::load_str("t.conf", text, &opts).config
}
