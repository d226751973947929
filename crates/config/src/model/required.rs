//! The keywords keepalived 2.2.7 cannot read without a value, per block.
//!
//! Written alone (`priority` with nothing after it), each of these makes keepalived print
//! "missing a parameter after keyword ... at word position 2" and stop with exit code 2. The
//! lists were found by running `keepalived -t` on every keyword our parsers (and the man page)
//! know, with no value, in every block; other keywords written alone get ordinary warnings.
//! Every list is sorted, for a binary search.

/// Top-level keywords that need a value.
pub const TOP: &[&str] = &[
    "child_wait_time",
    "track_file",
    "virtual_server",
    "virtual_server_group",
    "vrrp_script",
    "vrrp_track_file",
    "vrrp_track_process",
];

/// Keywords of `global_defs` that need a value.
pub const GLOBAL_DEFS: &[&str] = &[
    "bfd_process_name",
    "bfd_rlimit_rttime",
    "checker_process_name",
    "checker_rlimit_rttime",
    "config_save_dir",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_priority",
    "process_name",
    "random_seed",
    "smtp_connect_timeout",
    "smtp_server",
    "umask",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vrrp_down_timer_adverts",
    "vrrp_garp_interval",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_master_repeat",
    "vrrp_gna_interval",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_process_name",
    "vrrp_rlimit_rttime",
    "vrrp_startup_delay",
    "vrrp_version",
];

/// Keywords of `vrrp_instance` that need a value.
pub const VRRP_INSTANCE: &[&str] = &[
    "advert_int",
    "debug",
    "down_timer_adverts",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_delay",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_master_repeat",
    "interface",
    "lvs_sync_daemon_interface",
    "mcast_dst_ip",
    "mcast_src_ip",
    "notify",
    "notify_backup",
    "notify_fault",
    "notify_master",
    "notify_master_rx_lower_pri",
    "notify_stop",
    "preempt_delay",
    "priority",
    "state",
    "unicast_src_ip",
    "unicast_ttl",
    "version",
    "virtual_router_id",
    "vrf",
];

/// Keywords of `authentication` that need a value.
pub const AUTHENTICATION: &[&str] = &["auth_pass", "auth_type"];

/// Keywords of `vrrp_script` that need a value.
pub const VRRP_SCRIPT: &[&str] = &["fall", "interval", "rise", "timeout", "user", "weight"];

/// Keywords of `vrrp_sync_group` that need a value.
pub const VRRP_SYNC_GROUP: &[&str] = &[
    "notify",
    "notify_backup",
    "notify_fault",
    "notify_master",
    "notify_stop",
];

/// Keywords of `vrrp_track_process` that need a value.
pub const VRRP_TRACK_PROCESS: &[&str] = &[
    "delay",
    "fork_delay",
    "process",
    "quorum",
    "quorum_max",
    "terminate_delay",
];

/// Keywords of `garp_group` that need a value.
pub const GARP_GROUP: &[&str] = &["garp_interval", "gna_interval", "interface"];

/// Keywords of `bfd_instance` that need a value.
pub const BFD_INSTANCE: &[&str] = &[
    "hoplimit",
    "idle_tx",
    "max_hops",
    "min_rx",
    "min_tx",
    "multiplier",
    "source_ip",
    "ttl",
    "weight",
];

/// Keywords of `virtual_server` that need a value.
pub const VIRTUAL_SERVER: &[&str] = &[
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "hysteresis",
    "ip_family",
    "lb_algo",
    "lb_kind",
    "lvs_method",
    "lvs_sched",
    "persistence_engine",
    "persistence_granularity",
    "protocol",
    "quorum",
    "quorum_down",
    "quorum_up",
    "real_server",
    "retry",
    "sorry_server",
    "warmup",
    "weight",
];

/// Keywords of `real_server` that need a value.
pub const REAL_SERVER: &[&str] = &[
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "lthreshold",
    "lvs_method",
    "notify_down",
    "notify_up",
    "retry",
    "uthreshold",
    "warmup",
    "weight",
];

/// Keywords of `virtual_server_group` that need a value.
pub const VIRTUAL_SERVER_GROUP: &[&str] = &["fwmark"];

/// Keywords of `url` that need a value.
pub const URL: &[&str] = &["digest", "path"];

/// Keywords of `SMTP_CHECK { host { ... } }` that need a value.
pub const SMTP_HOST: &[&str] = &[
    "bind_if",
    "bind_port",
    "bindto",
    "connect_ip",
    "connect_port",
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "fwmark",
    "retry",
    "warmup",
];

/// Keywords of `TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `SMTP_CHECK` and `PING_CHECK` that need a value.
pub const CONNECTED_CHECKER: &[&str] = &[
    "bind_if",
    "bind_port",
    "bindto",
    "connect_ip",
    "connect_port",
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "fwmark",
    "retry",
    "warmup",
];

/// Keywords of `DNS_CHECK` that need a value.
pub const DNS_CHECK: &[&str] = &[
    "bind_if",
    "bind_port",
    "bindto",
    "connect_ip",
    "connect_port",
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "fwmark",
    "name",
    "retry",
    "type",
    "warmup",
];

/// Keywords of `UDP_CHECK` that need a value.
pub const UDP_CHECK: &[&str] = &[
    "bind_if",
    "bind_port",
    "bindto",
    "connect_ip",
    "connect_port",
    "connect_timeout",
    "delay_before_retry",
    "delay_loop",
    "fwmark",
    "max_reply_length",
    "min_reply_length",
    "retry",
    "warmup",
];

/// Keywords of `MISC_CHECK` that need a value.
pub const MISC_CHECK: &[&str] = &[
    "delay_before_retry",
    "delay_loop",
    "misc_timeout",
    "retry",
    "warmup",
];

/// Keywords of `FILE_CHECK` that need a value.
pub const FILE_CHECK: &[&str] = &["track_file"];

#[cfg(test)]
mod tests {
    use crate::{load_str, LoadOptions};

    fn exit_code(text: &str) -> i32 {
        let opts = LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        load_str("t.conf", text, &opts).diagnostics.exit_code()
    }

    const VS: &str = "virtual_server 192.0.2.100 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 192.0.2.11 80 {\n%s\n }\n}\n";

    #[test]
    fn a_keyword_alone_stops_with_exit_code_2_in_every_block() {
        // Each case as probed on keepalived 2.2.7 -t (exit 2, "missing a parameter").
        let vs = |inner: &str| VS.replace("%s", inner);
        let cases = [
            "vrrp_script\n".to_string(),
            "global_defs {\n vrrp_version\n}\n".to_string(),
            "vrrp_instance VI_1 {\n interface eth0\n priority\n}\n".to_string(),
            "vrrp_instance VI_1 {\n authentication {\n  auth_pass\n }\n}\n".to_string(),
            "vrrp_script chk {\n script /bin/true\n interval\n}\n".to_string(),
            "vrrp_sync_group G {\n group {\n  VI_1\n }\n notify_master\n}\n".to_string(),
            "vrrp_track_process p {\n process x\n quorum\n}\n".to_string(),
            "garp_group {\n garp_interval\n}\n".to_string(),
            "virtual_server 192.0.2.100 80 {\n delay_loop\n}\n".to_string(),
            "virtual_server_group g {\n fwmark\n}\n".to_string(),
            vs("  weight"),
            vs("  TCP_CHECK {\n   connect_port\n  }"),
            vs("  HTTP_GET {\n   url {\n    path\n   }\n  }"),
            vs("  SMTP_CHECK {\n   host {\n    connect_ip\n   }\n  }"),
            vs("  DNS_CHECK {\n   type\n  }"),
            vs("  UDP_CHECK {\n   min_reply_length\n  }"),
            vs("  MISC_CHECK {\n   misc_path /bin/true\n   misc_timeout\n  }"),
            vs("  FILE_CHECK {\n   track_file\n  }"),
        ];
        for text in &cases {
            assert_eq!(exit_code(text), 2, "{text}");
        }
    }

    #[test]
    fn other_keywords_alone_are_ordinary_problems() {
        // keepalived 2.2.7 -t: 5 (warnings), not 2.
        for text in [
            "global_defs {\n router_id\n}\n",
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n nopreempt\n track_script\n}\n",
            "vrrp_script chk {\n script /bin/true\n init_fail\n fall 2\n}\n",
        ] {
            let code = exit_code(text);
            assert!(code == 0 || code == 5, "{text}: {code}");
        }
        // A block is not a parameter: `priority {` is missing one too (keepalived: 2).
        assert_eq!(
            exit_code("vrrp_instance VI_1 {\n interface eth0\n priority {\n }\n}\n"),
            2
        );
    }

    #[test]
    fn lists_are_sorted_and_distinct() {
        for list in [
            super::TOP,
            super::GLOBAL_DEFS,
            super::VRRP_INSTANCE,
            super::AUTHENTICATION,
            super::VRRP_SCRIPT,
            super::VRRP_SYNC_GROUP,
            super::VRRP_TRACK_PROCESS,
            super::GARP_GROUP,
            super::BFD_INSTANCE,
            super::VIRTUAL_SERVER,
            super::REAL_SERVER,
            super::VIRTUAL_SERVER_GROUP,
            super::URL,
            super::SMTP_HOST,
            super::CONNECTED_CHECKER,
            super::DNS_CHECK,
            super::UDP_CHECK,
            super::MISC_CHECK,
            super::FILE_CHECK,
        ] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }
}
