//! The dump is a fixed point: for any configuration that loads without a fatal error,
//! `dump(load_str(dump(load(x)))) == dump(load(x))`.
//!
//! Checked on every case of the conformance corpus (`tests/conformance/configs/`), on every
//! sample Debian ships in `/usr/share/doc/keepalived/samples/` (read there, when present), and
//! on random but structurally valid configurations built from a table of known keywords.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rka_config::{load, load_str, LoadOptions};

const SAMPLES_DIR: &str = "/usr/share/doc/keepalived/samples";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/configs")
}

/// Every corpus case (`*.conf`, fragments are `*.inc`), sorted.
fn corpus_cases() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "conf") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus_dir(), &mut out);
    out.sort();
    out
}

/// The options a case asks for in its `# conformance: args=...` header (only `-i` matters to
/// the parser). Host checks are skipped: the fixed point is about text, not this machine.
fn options_for(text: &str) -> LoadOptions {
    let mut opts = LoadOptions {
        skip_host_checks: true,
        ..LoadOptions::default()
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(args) = line
            .trim_start_matches('#')
            .trim()
            .strip_prefix("conformance:")
            .and_then(|d| d.trim().strip_prefix("args="))
        {
            let words: Vec<&str> = args.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0] == "-i" {
                    opts.config_id = Some(pair[1].to_string());
                }
            }
        }
    }
    opts
}

/// Loads `path`; when that is not fatal, checks the dump is a fixed point. Returns a problem
/// description, or `None` when all is well (or the file is fatal and so out of scope).
fn check_file(path: &Path) -> Option<String> {
    let text = String::from_utf8_lossy(&fs::read(path).ok()?).into_owned();
    let opts = options_for(&text);
    let first = load(path, &opts);
    if first.diagnostics.is_fatal() {
        return None;
    }
    let dump1 = first.config.dump();
    check_text_fixed_point(&path.display().to_string(), &dump1, &opts).err()
}

/// Given a first dump, loads it again and requires the same dump.
fn check_text_fixed_point(name: &str, dump1: &str, opts: &LoadOptions) -> Result<(), String> {
    let again = load_str("dump.conf", dump1, opts);
    if again.diagnostics.is_fatal() {
        return Err(format!(
            "{name}: its dump does not load: {:?}",
            again.diagnostics.items()
        ));
    }
    let dump2 = again.config.dump();
    if dump1 == dump2 {
        Ok(())
    } else {
        Err(format!(
            "{name}: dump is not a fixed point\n{}",
            first_difference(dump1, &dump2)
        ))
    }
}

/// The first line where two dumps differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => break,
            (x, y) if x == y => continue,
            (x, y) => {
                return format!(
                    "  line {n}: first dump {:?}\n  line {n}: second dump {:?}",
                    x.unwrap_or("<end>"),
                    y.unwrap_or("<end>")
                )
            }
        }
    }
    "  (identical line by line; they differ in the final newline)".to_string()
}

#[test]
fn corpus_dumps_are_fixed_points() {
    let cases = corpus_cases();
    assert!(
        !cases.is_empty(),
        "no corpus under {}",
        corpus_dir().display()
    );
    let problems: Vec<String> = cases.iter().filter_map(|p| check_file(p)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} corpus cases break the dump fixed point:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn debian_samples_dumps_are_fixed_points() {
    let Ok(rd) = fs::read_dir(SAMPLES_DIR) else {
        eprintln!("{SAMPLES_DIR} is missing; samples not checked");
        return;
    };
    let mut samples: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf."))
        })
        .collect();
    samples.sort();
    let problems: Vec<String> = samples.iter().filter_map(|p| check_file(p)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} samples break the dump fixed point:\n{}",
        problems.len(),
        samples.len(),
        problems.join("\n")
    );
}

// ---- random configurations ----------------------------------------------------------------

/// A value generator for one keyword.
#[derive(Clone, Copy, Debug)]
enum V {
    /// No argument (a flag).
    Flag,
    /// An integer in the range.
    Int(i64, i64),
    /// A timer in seconds, with up to three decimals.
    Timer,
    /// An IPv4 address from the documentation ranges.
    Ip4,
    /// An IPv4 address with a prefix length.
    Ip4Net,
    /// An IPv6 address from the documentation range.
    Ip6,
    /// A short name.
    Name,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A script command, quoted.
    Script,
}

/// Keywords allowed directly in `global_defs`.
const GLOBAL: &[(&str, V)] = &[
    ("router_id", V::Name),
    ("notification_email_from", V::Name),
    ("smtp_server", V::Ip4),
    ("smtp_connect_timeout", V::Int(1, 300)),
    ("vrrp_mcast_group4", V::OneOf(&["224.0.0.18", "224.0.0.19"])),
    ("vrrp_mcast_group6", V::OneOf(&["ff02::12", "ff02::13"])),
    ("vrrp_garp_master_delay", V::Int(0, 4294)),
    ("vrrp_garp_master_repeat", V::Int(1, 100)),
    ("vrrp_garp_master_refresh", V::Int(0, 3600)),
    ("vrrp_version", V::Int(2, 3)),
    ("vrrp_check_unicast_src", V::Flag),
    ("vrrp_skip_check_adv_addr", V::Flag),
    ("vrrp_strict", V::Flag),
    ("vrrp_priority", V::Int(-20, 19)),
    ("checker_priority", V::Int(-20, 19)),
    ("enable_script_security", V::Flag),
    ("script_user", V::OneOf(&["root", "nobody"])),
    ("dynamic_interfaces", V::Flag),
    ("max_auto_priority", V::Int(0, 99)),
    ("vrrp_startup_delay", V::Timer),
    ("log_unknown_vrids", V::Flag),
];

/// Keywords allowed directly in `vrrp_instance`.
const INSTANCE: &[(&str, V)] = &[
    ("state", V::OneOf(&["MASTER", "BACKUP"])),
    ("interface", V::OneOf(&["eth0", "eth1", "eth2"])),
    ("virtual_router_id", V::Int(1, 255)),
    ("priority", V::Int(1, 255)),
    ("advert_int", V::Int(1, 255)),
    ("version", V::Int(2, 3)),
    ("nopreempt", V::Flag),
    ("preempt_delay", V::Int(0, 1000)),
    ("garp_master_delay", V::Int(0, 100)),
    ("garp_master_repeat", V::Int(1, 100)),
    ("mcast_src_ip", V::Ip4),
    ("unicast_src_ip", V::Ip4),
    ("use_vmac", V::Flag),
    ("accept", V::Flag),
    ("dont_track_primary", V::Flag),
    ("notify_master", V::Script),
    ("notify_backup", V::Script),
    ("notify", V::Script),
    ("smtp_alert", V::Flag),
];

/// Keywords allowed directly in `virtual_server`.
const VIRTUAL_SERVER: &[(&str, V)] = &[
    ("delay_loop", V::Int(1, 600)),
    (
        "lb_algo",
        V::OneOf(&["rr", "wrr", "lc", "wlc", "sh", "dh", "lblc"]),
    ),
    ("lb_kind", V::OneOf(&["NAT", "DR", "TUN"])),
    ("protocol", V::OneOf(&["TCP", "UDP", "SCTP"])),
    ("persistence_timeout", V::Int(1, 3600)),
    ("quorum", V::Int(1, 10)),
    ("hysteresis", V::Int(0, 5)),
    ("alpha", V::Flag),
    ("omega", V::Flag),
    ("virtualhost", V::Name),
    ("sorry_server_inhibit", V::Flag),
];

/// Keywords allowed directly in `real_server`.
const REAL_SERVER: &[(&str, V)] = &[
    ("weight", V::Int(0, 100)),
    ("inhibit_on_failure", V::Flag),
    ("uthreshold", V::Int(0, 1000)),
    ("lthreshold", V::Int(0, 1000)),
    ("notify_up", V::Script),
    ("notify_down", V::Script),
];

/// Keywords allowed in a `TCP_CHECK`.
const TCP_CHECK: &[(&str, V)] = &[
    ("connect_timeout", V::Timer),
    ("connect_port", V::Int(1, 65535)),
    ("retry", V::Int(0, 10)),
    ("delay_before_retry", V::Timer),
    ("warmup", V::Int(0, 60)),
];

/// Keywords allowed in a `vrrp_script`.
const VRRP_SCRIPT: &[(&str, V)] = &[
    ("script", V::Script),
    ("interval", V::Int(1, 60)),
    ("timeout", V::Int(1, 60)),
    ("weight", V::Int(-253, 253)),
    ("rise", V::Int(1, 10)),
    ("fall", V::Int(1, 10)),
    ("init_fail", V::Flag),
];

fn value(v: V) -> BoxedStrategy<String> {
    match v {
        V::Flag => Just(String::new()).boxed(),
        V::Int(lo, hi) => (lo..=hi).prop_map(|n| n.to_string()).boxed(),
        V::Timer => (0u32..100_000)
            .prop_map(|ms| {
                if ms % 1000 == 0 {
                    (ms / 1000).to_string()
                } else {
                    format!("{}.{:03}", ms / 1000, ms % 1000)
                }
            })
            .boxed(),
        V::Ip4 => (1u8..255).prop_map(|n| format!("192.0.2.{n}")).boxed(),
        V::Ip4Net => (1u8..255, 8u8..=32)
            .prop_map(|(n, p)| format!("198.51.100.{n}/{p}"))
            .boxed(),
        V::Ip6 => (1u16..0xffff)
            .prop_map(|n| format!("2001:db8::{n:x}"))
            .boxed(),
        V::Name => "[a-z][a-z0-9_.-]{0,15}".boxed(),
        V::OneOf(words) => proptest::sample::select(words)
            .prop_map(str::to_string)
            .boxed(),
        V::Script => proptest::sample::select(&["/bin/true", "/bin/false", "/usr/bin/env"][..])
            .prop_flat_map(|cmd| "[a-z0-9]{0,8}".prop_map(move |arg| format!("\"{cmd} {arg}\"")))
            .boxed(),
    }
}

/// Up to `max` statements picked from `table`, one per line, indented by `indent`.
fn statements(
    table: &'static [(&'static str, V)],
    max: usize,
    indent: usize,
) -> BoxedStrategy<String> {
    proptest::collection::vec(proptest::sample::select(table), 0..=max)
        .prop_flat_map(move |picked| {
            let parts: Vec<BoxedStrategy<String>> = picked
                .into_iter()
                .map(|(kw, v)| {
                    value(v)
                        .prop_map(move |val| {
                            let pad = " ".repeat(indent);
                            if val.is_empty() {
                                format!("{pad}{kw}\n")
                            } else {
                                format!("{pad}{kw} {val}\n")
                            }
                        })
                        .boxed()
                })
                .collect();
            parts.prop_map(|lines| lines.concat())
        })
        .boxed()
}

fn global_defs() -> impl Strategy<Value = String> {
    statements(GLOBAL, 6, 4).prop_map(|body| format!("global_defs {{\n{body}}}\n"))
}

fn vrrp_script() -> impl Strategy<Value = String> {
    (0u8..4, statements(VRRP_SCRIPT, 5, 4))
        .prop_map(|(n, body)| format!("vrrp_script chk_{n} {{\n    script /bin/true\n{body}}}\n"))
}

fn vrrp_instance() -> impl Strategy<Value = String> {
    (
        0u8..4,
        1u8..=255,
        statements(INSTANCE, 6, 4),
        proptest::collection::vec(prop_oneof![value(V::Ip4Net), value(V::Ip4)], 0..4),
        proptest::option::of(0u8..4),
        proptest::option::of(value(V::Ip6)),
    )
        .prop_map(|(n, vrid, body, vips, track, excluded)| {
            let mut s = format!(
                "vrrp_instance VI_{n} {{\n    interface eth0\n    virtual_router_id {vrid}\n{body}"
            );
            if !vips.is_empty() {
                s.push_str("    virtual_ipaddress {\n");
                for v in vips {
                    s.push_str(&format!("        {v}\n"));
                }
                s.push_str("    }\n");
            }
            if let Some(x) = excluded {
                s.push_str(&format!(
                    "    virtual_ipaddress_excluded {{\n        {x}\n    }}\n"
                ));
            }
            if let Some(t) = track {
                s.push_str(&format!("    track_script {{\n        chk_{t}\n    }}\n"));
            }
            s.push_str("}\n");
            s
        })
}

fn virtual_server() -> impl Strategy<Value = String> {
    (
        1u8..255,
        1u16..=65535,
        statements(VIRTUAL_SERVER, 5, 4),
        proptest::collection::vec(
            (
                1u8..255,
                statements(REAL_SERVER, 3, 8),
                proptest::option::of(statements(TCP_CHECK, 4, 12)),
            ),
            0..4,
        ),
    )
        .prop_map(|(host, port, body, reals)| {
            let mut s = format!("virtual_server 192.0.2.{host} {port} {{\n{body}");
            for (rhost, rbody, check) in reals {
                s.push_str(&format!(
                    "    real_server 198.51.100.{rhost} {port} {{\n{rbody}"
                ));
                if let Some(c) = check {
                    s.push_str(&format!("        TCP_CHECK {{\n{c}        }}\n"));
                }
                s.push_str("    }\n");
            }
            s.push_str("}\n");
            s
        })
}

/// A whole configuration: any mix of the top-level blocks above, in any order.
fn config_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            global_defs().boxed(),
            vrrp_script().boxed(),
            vrrp_instance().boxed(),
            virtual_server().boxed(),
        ],
        0..6,
    )
    .prop_map(|blocks| blocks.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Integration tests have no lib.rs for proptest to store regressions beside.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random valid-shaped configurations never panic, and their dump is a fixed point.
    #[test]
    fn random_configs_dump_to_a_fixed_point(text in config_text()) {
        let opts = LoadOptions { skip_host_checks: true, ..LoadOptions::default() };
        let loaded = load_str("random.conf", &text, &opts);
        prop_assume!(!loaded.diagnostics.is_fatal());
        let dump1 = loaded.config.dump();
        if let Err(e) = check_text_fixed_point("random.conf", &dump1, &opts) {
            return Err(TestCaseError::fail(format!("{e}\n--- input ---\n{text}")));
        }
    }

    /// Arbitrary bytes never panic the loader.
    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let opts = LoadOptions { skip_host_checks: true, ..LoadOptions::default() };
        let loaded = load_str("noise.conf", &text, &opts);
        let _ = loaded.config.dump();
    }
}

#[test]
fn header_args_select_the_config_id() {
    let o = options_for("# conformance: args=-i node1\n# desc\nglobal_defs {\n");
    assert_eq!(o.config_id.as_deref(), Some("node1"));
    assert!(o.skip_host_checks);
    assert_eq!(options_for("global_defs {\n").config_id, None);
}

#[test]
fn differences_are_located() {
    assert!(first_difference("a\nb\n", "a\nc\n").contains("line 2"));
    assert!(first_difference("a\n", "a\nb\n").contains("<end>"));
}
