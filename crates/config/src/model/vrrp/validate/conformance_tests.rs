//! The VRRP checks whose expected results were observed on keepalived 2.2.7 `-t` (exit codes
//! in comments; see tests/conformance/).

use crate::model::vrrp::instance::{AuthType, InitialState};
use crate::{load_str, LoadOptions, Loaded};

fn load_with(text: &str, skip_host_checks: bool) -> Loaded {
    load_str(
        "t.conf",
        text,
        &LoadOptions {
            skip_host_checks,
            ..Default::default()
        },
    )
}

fn load(text: &str) -> Loaded {
    load_with(text, true)
}

/// An instance that keepalived accepts silently, with `extra` added to its block.
fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n{extra}\n}}\n"
    )
}

fn has(l: &Loaded, needle: &str) -> bool {
    l.diagnostics
        .items()
        .iter()
        .any(|d| d.message.contains(needle))
}

#[test]
fn the_base_instance_is_clean() {
    assert_eq!(load(&instance("")).diagnostics.exit_code(), 0);
}

#[test]
fn an_instance_needs_an_interface() {
    // keepalived: 5 "(VI_1) Unknown interface!", with or without unicast peers.
    for extra in [
        "",
        " unicast_src_ip 192.0.2.5\n unicast_peer {\n  192.0.2.2\n }",
    ] {
        let l = load(&format!(
            "vrrp_instance VI_1 {{\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n{extra}\n}}\n"
        ));
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert!(has(&l, "(VI_1) Unknown interface!"));
    }
}

#[test]
fn an_instance_without_vips_is_warned() {
    // keepalived: 5 "No VIP specified; at least one is sensible".
    let l = load("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "No VIP specified"));
}

#[test]
fn authentication_is_dropped_for_v3_and_without_password() {
    // keepalived: 5 "VRRP version 3 does not support authentication. Ignoring."
    let l = load(&instance(
        " version 3\n authentication {\n  auth_type PASS\n  auth_pass secret\n }",
    ));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(l.config.vrrp.instances[0].authentication.is_none());
    // keepalived: 5 "Authentication specified but no password given. Ignoring".
    let l = load(&instance(" authentication {\n  auth_type PASS\n }"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "no password given"));
    assert!(l.config.vrrp.instances[0].authentication.is_none());
    // A complete PASS block is clean.
    let l = load(&instance(
        " authentication {\n  auth_type PASS\n  auth_pass secret\n }",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn ah_clears_initial_state_master() {
    // keepalived: 5 "Initial state master is incompatible with AH authentication - clearing".
    let l = load(&instance(
        " state MASTER\n priority 100\n authentication {\n  auth_type AH\n  auth_pass secret\n }",
    ));
    assert_eq!(l.diagnostics.exit_code(), 5);
    let i = &l.config.vrrp.instances[0];
    assert_eq!(i.state, InitialState::Backup);
    // Without a priority, state MASTER means priority 255 and AH is fine (keepalived: 0).
    let l = load(&instance(
        " state MASTER\n authentication {\n  auth_type AH\n  auth_pass secret\n }",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0);
    assert_eq!(l.config.vrrp.instances[0].priority, 255);
    assert_eq!(l.config.vrrp.instances[0].state, InitialState::Master);
    assert_eq!(
        i.authentication.as_ref().map(|a| a.kind),
        Some(AuthType::Ah)
    );
}

#[test]
fn nopreempt_is_cleared_for_master_and_owner() {
    // keepalived: 5 "nopreempt will not work with initial state MASTER - clearing".
    let l = load(&instance(" state MASTER\n nopreempt"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(!l.config.vrrp.instances[0].nopreempt);
    // keepalived: 5 "nopreempt is incompatible with priority 255. resetting nopreempt".
    let l = load(&instance(" priority 255\n nopreempt"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "priority 255"));
    // BACKUP with nopreempt is what nopreempt is for.
    assert_eq!(load(&instance(" nopreempt")).diagnostics.exit_code(), 0);
}

#[test]
fn unicast_keywords_need_peers() {
    // keepalived: 5 "A unicast keyword has been specified without any unicast peers...".
    for kw in [" unicast_src_ip 192.0.2.5", " check_unicast_src"] {
        let l = load(&instance(kw));
        assert_eq!(l.diagnostics.exit_code(), 5, "{kw}");
        assert!(has(&l, "without any unicast peers"), "{kw}");
    }
    // keepalived: 0 for a multicast source address and for the global flag.
    assert_eq!(
        load(&instance(" mcast_src_ip 192.0.2.5"))
            .diagnostics
            .exit_code(),
        0
    );
    let l = load(&format!(
        "global_defs {{\n vrrp_check_unicast_src\n}}\n{}",
        instance("")
    ));
    assert_eq!(l.diagnostics.exit_code(), 0);
    // keepalived: 0 with peers.
    let l = load(&instance(
        " unicast_src_ip 192.0.2.5\n unicast_peer {\n  192.0.2.2\n }\n check_unicast_src",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0);
    assert!(l.config.vrrp.instances[0].check_unicast_src);
}

#[test]
fn unicast_fault_no_peer_silences_the_multicast_fallback() {
    // keepalived: 0 for every one of these (the instance goes to FAULT at run time instead).
    for kw in [
        " unicast_fault_no_peer",
        " unicast_peer {\n }\n unicast_fault_no_peer",
        " unicast_src_ip 192.0.2.5\n unicast_fault_no_peer",
        " check_unicast_src\n unicast_fault_no_peer",
    ] {
        let l = load(&instance(kw));
        assert_eq!(l.diagnostics.exit_code(), 0, "{kw}");
        let i = &l.config.vrrp.instances[0];
        assert!(i.faults_without_peers(), "{kw}");
        assert!(!i.is_unicast(), "{kw}");
    }
    // keepalived: 5 for an empty block alone (multicast fallback, deprecated).
    let l = load(&instance(" unicast_peer {\n }"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "without any unicast peers"));
    assert!(!l.config.vrrp.instances[0].faults_without_peers());
    // With a peer the flag changes nothing.
    let l = load(&instance(
        " unicast_peer {\n  192.0.2.2\n }\n unicast_fault_no_peer",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0);
    assert!(!l.config.vrrp.instances[0].faults_without_peers());
}

#[test]
fn addresses_must_share_the_instance_family() {
    // keepalived: 5 "... and unicast peer address[2001:db8::2] MUST be of the same family".
    let l = load(&instance(" unicast_peer {\n  2001:db8::2\n }"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(
        &l,
        "unicast peer address[2001:db8::2] MUST be of the same family"
    ));
    assert!(l.config.vrrp.instances[0].unicast_peers.is_empty());
    // keepalived: 5 "... and src address[2001:db8::1] MUST be of the same family".
    let l = load(&instance(" mcast_src_ip 2001:db8::1"));
    assert!(has(&l, "src address[2001:db8::1]"));
    assert!(l.config.vrrp.instances[0].src_ip.is_none());
    // A peer written first fixes the family: a later IPv4 VIP is refused.
    let l = load(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n unicast_peer {\n  2001:db8::2\n }\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n",
    );
    assert!(has(&l, "address family must match VRRP instance"));
    assert!(l.config.vrrp.instances[0].is_ipv6());
}

#[test]
fn an_empty_sync_group_is_warned() {
    // keepalived: 5 "Warning - sync group G1 has empty group block".
    let l = load("vrrp_sync_group G1 {\n group {\n }\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "sync group G1 has empty group block"));
}

#[test]
fn a_tracked_script_that_cannot_be_found_is_disabled() {
    // keepalived: 5 "Disabling track script chk since not found/accessible", for a missing
    // absolute path and for a relative name that is not in PATH.
    for prog in ["/no/such/program", "rka-no-such-relative-chk.sh"] {
        let text = format!(
            "vrrp_script chk {{\n script \"{prog}\"\n}}\nvrrp_instance VI_1 {{\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n track_script {{\n  chk\n }}\n}}\n"
        );
        let l = load_with(&text, false);
        assert!(
            has(&l, "Disabling track script chk since not found/accessible"),
            "{prog}"
        );
        assert!(l.config.vrrp.scripts.is_empty(), "{prog}");
        assert_eq!(l.diagnostics.exit_code(), 5, "{prog}");
    }
}

#[test]
fn a_group_writable_root_script_is_not_insecure() {
    use std::os::unix::fs::PermissionsExt;
    // keepalived: 0 for a 0775 root:root script with enable_script_security; 0757 is insecure.
    if rka_sys::host::effective_uid() != 0 {
        return; // the file must belong to root
    }
    let dir = std::env::temp_dir().join(format!("rka-insecure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = dir.join("chk.sh");
    std::fs::write(&f, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o775)).expect("chmod");
    let group_writable = super::is_insecure(&f);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o757)).expect("chmod");
    let world_writable = super::is_insecure(&f);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(world_writable);
    assert!(!group_writable);
}

#[test]
fn track_process_quorum_starts_at_one() {
    // keepalived: 5 "number '0' outside range [1, 65535]".
    let l = load("vrrp_track_process p {\n process x\n quorum 0\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    let l = load("vrrp_track_process p {\n process x\n quorum 1\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn authentication_needs_its_block() {
    // keepalived: 5 "Missing '{' at beginning of configuration block".
    let l = load(&instance(" authentication"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "Missing '{'"));
    assert!(l.config.vrrp.instances[0].authentication.is_none());
}

#[test]
fn an_insecure_notify_script_is_not_a_test_failure() {
    use std::os::unix::fs::PermissionsExt;
    // keepalived -t: 0 for a world-writable notify script with enable_script_security.
    let dir = std::env::temp_dir().join(format!("rka-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = dir.join("notify.sh");
    std::fs::write(&f, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o757)).expect("chmod");
    let text = format!(
        "global_defs {{\n enable_script_security\n script_user root\n}}\nvrrp_instance VI_1 {{\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n notify_master {}\n}}\n",
        f.display()
    );
    let l = load_with(&text, false);
    let _ = std::fs::remove_dir_all(&dir);
    // Only the missing interface (this test has none) may count; the script must not.
    assert!(!l
        .diagnostics
        .items()
        .iter()
        .any(|d| d.message.contains("notify") && d.severity > crate::Severity::Info));
}

#[test]
fn instance_options_that_need_another_one() {
    // Each is exit 5 on keepalived 2.2.7 -t, with the message quoted.
    for (extra, needle) in [
        (
            " native_ipv6",
            "Cannot specify native_ipv6 with IPv4 addresses",
        ),
        (
            " vmac_xmit_base",
            "vmac_xmit_base is only valid with a vmac",
        ),
        (" use_ipvlan", "IPv4 ipvlan requires a source ip address"),
        (
            " linkbeat_use_polling",
            "'linkbeat_use_polling' in vrrp instance deprecated",
        ),
        (" old_unicast_checksum", "without any unicast peers"),
        (" unicast_peer {\n }", "without any unicast peers"),
    ] {
        let l = load(&instance(extra));
        assert_eq!(l.diagnostics.exit_code(), 5, "{extra}");
        assert!(has(&l, needle), "{extra}");
    }
    // keepalived: 0 with a vmac.
    let l = load(&instance(" use_vmac\n vmac_xmit_base"));
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn garp_groups_need_interfaces_and_a_delay() {
    // keepalived: 5 "garp group 1 does not have any delay set - removing".
    let l = load("garp_group {\n interfaces {\n  eth0\n }\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(l.config.vrrp.garp_groups.is_empty());
    // keepalived: 5 "Warning - empty garp_group interfaces block".
    let l = load("garp_group {\n garp_interval 1\n interfaces {\n }\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    let l = load("garp_group {\n garp_interval 1\n interfaces {\n  eth0\n }\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn some_keywords_alone_are_silent() {
    // keepalived 2.2.7 -t: 0 for a bare `script` after a real one in a vrrp_script and for a
    // bare smtp_helo_name.
    let l = load(
        "vrrp_script chk {\n script /bin/true\n script\n}\nglobal_defs {\n smtp_helo_name\n}\n",
    );
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
}

#[test]
fn second_pass_of_keepalived_probes() {
    // Exit codes observed on keepalived 2.2.7 -t with an unexpected word after a keyword.
    let cases: &[(&str, i32)] = &[
        // "Block track_script has extra parameters xyz ..."
        (&instance(" track_script xyz {\n }"), 5),
        ("static_ipaddress xyz {\n}\n", 5),
        // A flag ignores a word that is not a boolean.
        ("global_defs {\n vrrp_strict xyz\n}\n", 0),
        // "File already set for track file tf - ignoring xyz"
        ("track_file tf {\n file /tmp/a\n file xyz\n}\n", 5),
        // "Process already set for track process p - ignoring xyz"
        ("vrrp_track_process p {\n process x\n process xyz\n}\n", 5),
        // auth_pass alone: no authentication, nothing said.
        (&instance(" authentication {\n  auth_pass xyz\n }"), 0),
        // "(VI_1) Cannot specify VRF interface and interface - ignoring"
        (&instance(" vrf xyz"), 5),
    ];
    for (text, code) in cases {
        assert_eq!(load(text).diagnostics.exit_code(), *code, "{text}");
    }
}

#[test]
fn a_script_user_that_does_not_exist_is_refused() {
    // keepalived: 5 "Unable to set uid/gid for script '/bin/true'".
    let text = "vrrp_script chk {\n script /bin/true\n user no_such_user_rka\n}\nvrrp_instance VI_1 {\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.1/24\n }\n track_script {\n  chk\n }\n}\n";
    let l = load_with(text, false);
    assert!(has(&l, "Unable to set uid/gid for script '/bin/true'"));
    assert!(l.config.vrrp.scripts.is_empty());
}

#[test]
fn empty_groups_are_removed() {
    // keepalived: 5 "Sync group G has no virtual router(s). removing" and "virtual server
    // group G has no entries - removing".
    let l = load("vrrp_sync_group G {\n group {\n  NOPE\n }\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has(&l, "has no virtual router(s)"));
    let l = load("virtual_server_group G {\n}\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(l.config.lvs.groups.is_empty());
    // keepalived: 5 "Invalid value 'xyz' for global rs_init_notifies specified"; 0 for yes.
    assert_eq!(
        load("global_defs {\n rs_init_notifies xyz\n}\n")
            .diagnostics
            .exit_code(),
        5
    );
    assert_eq!(
        load("global_defs {\n rs_init_notifies yes\n}\n")
            .diagnostics
            .exit_code(),
        0
    );
}

/// Two instances in sync group G1 (`group_extra` in the group), VI_1 with `extra`.
fn synced(extra: &str, group_extra: &str) -> String {
    format!(
        "vrrp_script chk {{\n script /bin/true\n weight -20\n}}\n\
         vrrp_script chk0 {{\n script /bin/true\n}}\n\
         vrrp_track_file tf {{\n file /tmp/tf\n weight 5\n}}\n\
         vrrp_track_file tf0 {{\n file /tmp/tf0\n weight 0\n}}\n\
         vrrp_sync_group G1 {{\n group {{\n  VI_1\n  VI_2\n }}\n{group_extra}\n}}\n\
         {}vrrp_instance VI_2 {{\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {{\n  192.0.2.2/24\n }}\n}}\n",
        instance(extra)
    )
}

#[test]
fn duplicate_track_entries_keep_the_first() {
    // keepalived: 0, "(t.conf: Line N) (VI_1) duplicate track_script chk0 - ignoring" and the
    // same for interfaces, files and processes; the first entry stays.
    let l = load(&synced(
        " track_script {\n  chk0\n  chk0 weight 7\n }\n track_interface {\n  eth1\n  eth1 weight 3\n }\n\
         track_file {\n  tf0\n }\n track_file {\n  tf0 weight 9\n }",
        "",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
    assert!(has(&l, "(VI_1) duplicate track_script chk0 - ignoring"));
    assert!(has(&l, "(VI_1) duplicate track_interface eth1 - ignoring"));
    assert!(has(&l, "(VI_1) duplicate track_file tf0 - ignoring"));
    let v = &l.config.vrrp.instances[0];
    assert_eq!(v.track_script.len(), 1);
    assert_eq!(v.track_script[0].weight, None);
    assert_eq!(v.track_interface.len(), 1);
    assert_eq!(v.track_interface[0].weight, None);
    assert_eq!(v.track_file.len(), 1, "{:?}", l.diagnostics.items());
    assert_eq!(v.track_file[0].weight, None);
}

#[test]
fn the_own_interface_is_not_tracked_twice() {
    // keepalived: 0, "(VI_1) Ignoring track_interface eth0 since own interface".
    let l = load(&instance(
        " track_interface {\n  eth0 weight 10\n  eth1\n }",
    ));
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
    assert!(has(
        &l,
        "(VI_1) Ignoring track_interface eth0 since own interface"
    ));
    let names: Vec<&str> = l.config.vrrp.instances[0]
        .track_interface
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["eth1"]);
}

#[test]
fn a_sync_group_member_tracks_without_weights() {
    // keepalived: 0; a weighted interface keeps tracking with weight 0, weighted scripts and
    // files are dropped, unweighted ones stay (observed in its data dump).
    let extra =
        " track_interface {\n  eth1 weight 10\n  eth2\n }\n track_script {\n  chk\n  chk0\n }\n\
                 track_file {\n  tf\n  tf0\n }";
    let l = load(&synced(extra, ""));
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
    assert!(has(
        &l,
        "(VI_1) ignoring eth1 tracked interface weight due to SYNC group"
    ));
    assert!(has(
        &l,
        "(VI_1) ignoring tracked script chk with weights due to SYNC group"
    ));
    assert!(has(
        &l,
        "(VI_1) ignoring tracked file tf with weight 5 due to SYNC group"
    ));
    let v = &l.config.vrrp.instances[0];
    let weights: Vec<(&str, Option<i32>)> = v
        .track_interface
        .iter()
        .map(|t| (t.name.as_str(), t.weight))
        .collect();
    assert_eq!(weights, [("eth1", Some(0)), ("eth2", None)]);
    assert_eq!(v.track_script.len(), 1);
    assert_eq!(v.track_script[0].name, "chk0");
    assert_eq!(v.track_file.len(), 1);
    assert_eq!(v.track_file[0].name, "tf0");
    // sync_group_tracking_weight (or the deprecated global_tracking) keeps the weights.
    for kw in [" sync_group_tracking_weight", " global_tracking"] {
        let l = load(&synced(extra, kw));
        assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
        let v = &l.config.vrrp.instances[0];
        assert_eq!(v.track_script.len(), 2, "{kw}");
        assert_eq!(v.track_file.len(), 2, "{kw}");
        assert_eq!(v.track_interface[0].weight, Some(10), "{kw}");
    }
    assert!(has(
        &load(&synced(extra, " global_tracking")),
        "(G1) global_tracking is deprecated"
    ));
}

#[test]
fn a_static_address_without_dev_goes_on_the_default_interface() {
    let text = |global: &str| {
        format!("global_defs {{\n{global}\n}}\nstatic_ipaddress {{\n 10.66.0.1/24\n}}\n")
    };
    // keepalived: 4, "(t.conf: Line 5) Static address 10.66.0.1/24 requires either an interface
    // or default interface must exist" and "Non-existent interface specified in configuration";
    // its daemon stops with exit 2.
    let l = load_with(&text(" default_interface nosuch9"), false);
    assert_eq!(l.diagnostics.exit_code(), 4, "{:?}", l.diagnostics.items());
    assert!(has(
        &l,
        "Static address 10.66.0.1/24 requires either an interface or default interface must exist"
    ));
    assert!(has(&l, "Non-existent interface specified in configuration"));
    let l = load_with(&text(" default_interface lo"), false);
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
    assert_eq!(l.config.vrrp.static_ipaddress[0].dev.as_deref(), Some("lo"));
    // Without default_interface: eth0 (not looked up here).
    let l = load(&text(""));
    assert_eq!(
        l.config.vrrp.static_ipaddress[0].dev.as_deref(),
        Some("eth0")
    );
}
