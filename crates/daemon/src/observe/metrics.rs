//! Prometheus metrics, built with prometheus-client from the children's status (see the
//! README beside this file for every family).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::protocol::{ChildKind, ChildStatus};

/// The states a VRRP instance is reported in (one series each, 1 for the current one).
pub const VRRP_STATES: [&str; 5] = ["INIT", "BACKUP", "MASTER", "FAULT", "STOP"];

/// What only the parent knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentStats {
    /// Restarts of each child seen since the parent started.
    pub restarts: BTreeMap<ChildKind, u64>,
}

type Labels = Vec<(String, String)>;
type IntGauge = Family<Labels, Gauge>;
type FloatGauge = Family<Labels, Gauge<f64, AtomicU64>>;
type Count = Family<Labels, Counter>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn gauge(reg: &mut Registry, name: &str, help: &str) -> IntGauge {
    let f = IntGauge::default();
    reg.register(name, help, f.clone());
    f
}

fn float_gauge(reg: &mut Registry, name: &str, help: &str) -> FloatGauge {
    let f = FloatGauge::default();
    reg.register(name, help, f.clone());
    f
}

/// A counter family; prometheus-client appends `_total` to `name`.
fn counter(reg: &mut Registry, name: &str, help: &str) -> Count {
    let f = Count::default();
    reg.register(name, help, f.clone());
    f
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Renders the metrics of `children` (each expected child, `None` when it did not answer:
/// `rkeepalived_up` 0 and no other series of it) and, when rendered by the parent, its own
/// counters.
pub fn render(
    children: &[(ChildKind, Option<&ChildStatus>)],
    parent: Option<&ParentStats>,
) -> String {
    let mut reg = Registry::default();
    let up = gauge(
        &mut reg,
        "rkeepalived_up",
        "Whether the child answered on its control socket",
    );
    let restarts = counter(
        &mut reg,
        "rkeepalived_child_restarts",
        "Child processes restarted by the parent",
    );
    let reloads = counter(
        &mut reg,
        "rkeepalived_reloads",
        "Reloads by result (failed: the new configuration was refused, the old one kept)",
    );
    let last_reload = float_gauge(
        &mut reg,
        "rkeepalived_last_reload_timestamp_seconds",
        "When the child last reloaded, seconds since the Unix epoch",
    );
    let started = float_gauge(
        &mut reg,
        "rkeepalived_child_start_timestamp_seconds",
        "When the child started, seconds since the Unix epoch",
    );
    let smtp = counter(
        &mut reg,
        "rkeepalived_smtp_alerts",
        "smtp_alert mails by result (sent, failed, dropped: queue full) since the child started",
    );
    let vrrp = VrrpFamilies::new(&mut reg);
    let lvs = CheckerFamilies::new(&mut reg);
    if let Some(p) = parent {
        for (kind, _) in children {
            let n = p.restarts.get(kind).copied().unwrap_or(0);
            restarts
                .get_or_create(&labels(&[("child", kind.name())]))
                .inc_by(n);
        }
    }
    for (kind, status) in children {
        let child = kind.name();
        up.get_or_create(&labels(&[("child", child)]))
            .set(i64::from(status.is_some()));
        let Some(st) = status else {
            continue;
        };
        for (result, n) in [("ok", st.reloads.ok), ("failed", st.reloads.failed)] {
            reloads
                .get_or_create(&labels(&[("child", child), ("result", result)]))
                .inc_by(n);
        }
        if let Some(t) = st.reloads.last_unix {
            last_reload
                .get_or_create(&labels(&[("child", child)]))
                .set(t);
        }
        started
            .get_or_create(&labels(&[("child", child)]))
            .set(st.started_unix);
        let mail = &st.smtp;
        for (result, n) in [
            ("sent", mail.sent),
            ("failed", mail.failed),
            ("dropped", mail.dropped),
        ] {
            smtp.get_or_create(&labels(&[("child", child), ("result", result)]))
                .inc_by(n);
        }
        if let Some(v) = &st.vrrp {
            vrrp.fill(&mut reg, v);
        }
        if let Some(c) = &st.checker {
            lvs.fill(&mut reg, c);
        }
    }
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &reg) {
        tracing::error!("cannot encode the metrics: {e}");
    }
    out
}

struct VrrpFamilies {
    state: IntGauge,
    priority: IntGauge,
    effective: IntGauge,
    transitions: Count,
    became_master: Count,
    released_master: Count,
    sent: Count,
    received: Count,
    pz_sent: Count,
    pz_received: Count,
    errors: Count,
    holds: IntGauge,
    group_state: IntGauge,
}

impl VrrpFamilies {
    fn new(reg: &mut Registry) -> Self {
        VrrpFamilies {
            state: gauge(
                reg,
                "rkeepalived_vrrp_state",
                "VRRP instance state: 1 for the current state, 0 for the others",
            ),
            priority: gauge(
                reg,
                "rkeepalived_vrrp_priority",
                "Configured priority of the VRRP instance",
            ),
            effective: gauge(
                reg,
                "rkeepalived_vrrp_effective_priority",
                "Priority of the VRRP instance after trackers",
            ),
            transitions: counter(
                reg,
                "rkeepalived_vrrp_transitions",
                "State transitions into and out of MASTER",
            ),
            became_master: counter(
                reg,
                "rkeepalived_vrrp_became_master",
                "Transitions into MASTER",
            ),
            released_master: counter(
                reg,
                "rkeepalived_vrrp_released_master",
                "Transitions out of MASTER",
            ),
            sent: counter(reg, "rkeepalived_vrrp_adverts_sent", "Adverts sent"),
            received: counter(reg, "rkeepalived_vrrp_adverts_received", "Adverts accepted"),
            pz_sent: counter(
                reg,
                "rkeepalived_vrrp_priority_zero_sent",
                "Adverts with priority 0 sent",
            ),
            pz_received: counter(
                reg,
                "rkeepalived_vrrp_priority_zero_received",
                "Adverts with priority 0 accepted",
            ),
            errors: counter(
                reg,
                "rkeepalived_vrrp_errors",
                "Adverts dropped, by kind of error",
            ),
            holds: gauge(
                reg,
                "rkeepalived_vrrp_holds_vips",
                "Whether the instance's virtual addresses are installed",
            ),
            group_state: gauge(
                reg,
                "rkeepalived_vrrp_sync_group_state",
                "Sync group state: 1 for the current state (MIXED while members differ)",
            ),
        }
    }

    fn fill(&self, reg: &mut Registry, v: &super::protocol::VrrpStatus) {
        for i in &v.instances {
            let l = labels(&[("instance", &i.name)]);
            for s in VRRP_STATES {
                self.state
                    .get_or_create(&labels(&[("instance", &i.name), ("state", s)]))
                    .set(i64::from(i.state == s));
            }
            self.priority.get_or_create(&l).set(i64::from(i.priority));
            self.effective
                .get_or_create(&l)
                .set(i64::from(i.effective_priority));
            self.transitions.get_or_create(&l).inc_by(i.transitions);
            self.became_master.get_or_create(&l).inc_by(i.became_master);
            self.released_master
                .get_or_create(&l)
                .inc_by(i.released_master);
            self.sent.get_or_create(&l).inc_by(i.adverts_sent);
            self.received.get_or_create(&l).inc_by(i.adverts_received);
            self.pz_sent.get_or_create(&l).inc_by(i.priority_zero_sent);
            self.pz_received
                .get_or_create(&l)
                .inc_by(i.priority_zero_received);
            self.holds.get_or_create(&l).set(i64::from(i.holds_vips));
            for (kind, n) in &i.errors {
                self.errors
                    .get_or_create(&labels(&[("instance", &i.name), ("kind", kind)]))
                    .inc_by(*n);
            }
        }
        let foreign = Counter::<u64>::default();
        foreign.inc_by(v.foreign_drops);
        reg.register(
            "rkeepalived_vrrp_foreign_datagrams",
            "Datagrams that reached no instance",
            foreign,
        );
        for g in &v.sync_groups {
            let mut states: Vec<&str> = VRRP_STATES.to_vec();
            states.push("MIXED");
            for s in states {
                self.group_state
                    .get_or_create(&labels(&[("group", &g.name), ("state", s)]))
                    .set(i64::from(g.state == s));
            }
        }
    }
}

struct CheckerFamilies {
    quorum: IntGauge,
    live_weight: IntGauge,
    rs_up: IntGauge,
    rs_weight: IntGauge,
    rs_in_table: IntGauge,
    rs_drained: IntGauge,
    check_up: IntGauge,
    check_failures: Count,
    check_latency: FloatGauge,
}

impl CheckerFamilies {
    fn new(reg: &mut Registry) -> Self {
        CheckerFamilies {
            quorum: gauge(
                reg,
                "rkeepalived_virtual_server_quorum_up",
                "Whether the virtual server has quorum",
            ),
            live_weight: gauge(
                reg,
                "rkeepalived_virtual_server_live_weight",
                "Sum of the weights of the live real servers",
            ),
            rs_up: gauge(
                reg,
                "rkeepalived_real_server_up",
                "Whether every checker of the real server passes",
            ),
            rs_weight: gauge(
                reg,
                "rkeepalived_real_server_weight",
                "Weight of the real server in IPVS (0 while drained)",
            ),
            rs_in_table: gauge(
                reg,
                "rkeepalived_real_server_in_table",
                "Whether the real server is in the IPVS table",
            ),
            rs_drained: gauge(
                reg,
                "rkeepalived_real_server_drained",
                "Whether an operator drained the real server",
            ),
            check_up: gauge(reg, "rkeepalived_check_up", "Whether the checker passes"),
            check_failures: counter(
                reg,
                "rkeepalived_check_failures",
                "Failed probes of the checker (retries included)",
            ),
            check_latency: float_gauge(
                reg,
                "rkeepalived_check_latency_seconds",
                "Duration of the checker's last probe",
            ),
        }
    }

    fn fill(&self, reg: &mut Registry, c: &super::protocol::CheckerStatus) {
        for vs in &c.virtual_servers {
            let l = labels(&[("virtual_server", &vs.name)]);
            self.quorum.get_or_create(&l).set(i64::from(vs.quorum_up));
            self.live_weight
                .get_or_create(&l)
                .set(to_i64(vs.live_weight));
            for rs in &vs.real_servers {
                let l = labels(&[("virtual_server", &vs.name), ("real_server", &rs.address)]);
                self.rs_up.get_or_create(&l).set(i64::from(rs.up));
                self.rs_weight
                    .get_or_create(&l)
                    .set(i64::from(rs.weight.unwrap_or(0)));
                self.rs_in_table
                    .get_or_create(&l)
                    .set(i64::from(rs.weight.is_some()));
                self.rs_drained.get_or_create(&l).set(i64::from(rs.drained));
                for (i, ch) in rs.checks.iter().enumerate() {
                    let index = i.to_string();
                    let l = labels(&[
                        ("virtual_server", &vs.name),
                        ("real_server", &rs.address),
                        ("check", &ch.name),
                        ("index", &index),
                    ]);
                    self.check_up.get_or_create(&l).set(i64::from(ch.up));
                    self.check_failures.get_or_create(&l).inc_by(ch.failures);
                    if let Some(s) = ch.latency_seconds {
                        self.check_latency.get_or_create(&l).set(s);
                    }
                }
            }
        }
        let ops = Counter::<u64>::default();
        ops.inc_by(c.ipvs.operations);
        reg.register(
            "rkeepalived_ipvs_operations",
            "IPVS operations the kernel accepted",
            ops,
        );
        let batches = Counter::<u64>::default();
        batches.inc_by(c.ipvs.batches);
        reg.register(
            "rkeepalived_ipvs_batches",
            "Batches of IPVS operations sent",
            batches,
        );
        let owned = Gauge::<i64>::default();
        owned.set(to_i64(c.ipvs.owned_services));
        reg.register(
            "rkeepalived_ipvs_owned_services",
            "IPVS services owned",
            owned,
        );
        let failing = Gauge::<i64>::default();
        failing.set(to_i64(c.ipvs.failing.len() as u64));
        reg.register(
            "rkeepalived_ipvs_failing_virtual_servers",
            "Virtual servers whose IPVS programming currently fails",
            failing,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::protocol::*;

    fn vrrp_child() -> ChildStatus {
        let mut errors = BTreeMap::new();
        errors.insert("bad_ttl".to_string(), 3);
        ChildStatus {
            child: ChildKind::Vrrp,
            pid: 10,
            started_unix: 1000.5,
            reloads: ReloadStats {
                ok: 4,
                failed: 1,
                last_unix: Some(2000.25),
                last_ok: Some(true),
            },
            vrrp: Some(VrrpStatus {
                instances: vec![InstanceStatus {
                    name: "VI_1".into(),
                    state: "MASTER".into(),
                    priority: 100,
                    effective_priority: 90,
                    vrid: 51,
                    interface: "eth0".into(),
                    transitions: 3,
                    became_master: 2,
                    released_master: 1,
                    adverts_sent: 42,
                    adverts_received: 7,
                    errors,
                    ..InstanceStatus::default()
                }],
                sync_groups: vec![SyncGroupStatus {
                    name: "G".into(),
                    state: "MASTER".into(),
                    members: vec!["VI_1".into()],
                }],
                foreign_drops: 5,
            }),
            checker: None,
            smtp: SmtpStatus {
                sent: 3,
                failed: 1,
                dropped: 0,
            },
        }
    }

    fn checker_child() -> ChildStatus {
        ChildStatus {
            child: ChildKind::Checker,
            pid: 11,
            started_unix: 1000.0,
            reloads: ReloadStats::default(),
            vrrp: None,
            checker: Some(CheckerStatus {
                virtual_servers: vec![VirtualServerStatus {
                    name: "[10.0.0.1]:tcp:80".into(),
                    quorum_up: true,
                    live_weight: 3,
                    real_servers: vec![RealServerStatus {
                        name: "[10.0.0.2]:tcp:80".into(),
                        address: "10.0.0.2:80".into(),
                        up: true,
                        weight: Some(0),
                        drained: true,
                        checks: vec![CheckStatus {
                            name: "TCP_CHECK 10.0.0.2:80".into(),
                            up: true,
                            failures: 2,
                            latency_seconds: Some(0.004),
                            reason: None,
                        }],
                    }],
                }],
                ipvs: IpvsStatus {
                    operations: 9,
                    batches: 2,
                    owned_services: 1,
                    failing: BTreeMap::new(),
                },
            }),
            smtp: SmtpStatus::default(),
        }
    }

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing '{line}' in:\n{text}"
        );
    }

    #[test]
    fn every_family_is_rendered_with_its_values() {
        let v = vrrp_child();
        let c = checker_child();
        let mut parent = ParentStats::default();
        parent.restarts.insert(ChildKind::Checker, 2);
        let text = render(
            &[(ChildKind::Vrrp, Some(&v)), (ChildKind::Checker, Some(&c))],
            Some(&parent),
        );
        has(&text, "rkeepalived_up{child=\"vrrp\"} 1");
        has(
            &text,
            "rkeepalived_smtp_alerts_total{child=\"vrrp\",result=\"sent\"} 3",
        );
        has(
            &text,
            "rkeepalived_smtp_alerts_total{child=\"vrrp\",result=\"failed\"} 1",
        );
        has(
            &text,
            "rkeepalived_smtp_alerts_total{child=\"checker\",result=\"dropped\"} 0",
        );
        has(&text, "rkeepalived_up{child=\"checker\"} 1");
        has(
            &text,
            "rkeepalived_child_restarts_total{child=\"checker\"} 2",
        );
        has(&text, "rkeepalived_child_restarts_total{child=\"vrrp\"} 0");
        has(
            &text,
            "rkeepalived_reloads_total{child=\"vrrp\",result=\"ok\"} 4",
        );
        has(
            &text,
            "rkeepalived_reloads_total{child=\"vrrp\",result=\"failed\"} 1",
        );
        has(
            &text,
            "rkeepalived_last_reload_timestamp_seconds{child=\"vrrp\"} 2000.25",
        );
        has(
            &text,
            "rkeepalived_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1",
        );
        has(
            &text,
            "rkeepalived_vrrp_state{instance=\"VI_1\",state=\"BACKUP\"} 0",
        );
        has(&text, "rkeepalived_vrrp_priority{instance=\"VI_1\"} 100");
        has(
            &text,
            "rkeepalived_vrrp_effective_priority{instance=\"VI_1\"} 90",
        );
        has(
            &text,
            "rkeepalived_vrrp_transitions_total{instance=\"VI_1\"} 3",
        );
        has(
            &text,
            "rkeepalived_vrrp_adverts_sent_total{instance=\"VI_1\"} 42",
        );
        has(
            &text,
            "rkeepalived_vrrp_adverts_received_total{instance=\"VI_1\"} 7",
        );
        has(
            &text,
            "rkeepalived_vrrp_errors_total{instance=\"VI_1\",kind=\"bad_ttl\"} 3",
        );
        has(&text, "rkeepalived_vrrp_foreign_datagrams_total 5");
        has(
            &text,
            "rkeepalived_vrrp_sync_group_state{group=\"G\",state=\"MASTER\"} 1",
        );
        let rs = "virtual_server=\"[10.0.0.1]:tcp:80\",real_server=\"10.0.0.2:80\"";
        has(&text, &format!("rkeepalived_real_server_up{{{rs}}} 1"));
        has(&text, &format!("rkeepalived_real_server_weight{{{rs}}} 0"));
        has(&text, &format!("rkeepalived_real_server_drained{{{rs}}} 1"));
        has(
            &text,
            &format!("rkeepalived_real_server_in_table{{{rs}}} 1"),
        );
        let ck = format!("{rs},check=\"TCP_CHECK 10.0.0.2:80\",index=\"0\"");
        has(
            &text,
            &format!("rkeepalived_check_failures_total{{{ck}}} 2"),
        );
        has(
            &text,
            &format!("rkeepalived_check_latency_seconds{{{ck}}} 0.004"),
        );
        has(&text, "rkeepalived_ipvs_operations_total 9");
        has(
            &text,
            "rkeepalived_virtual_server_quorum_up{virtual_server=\"[10.0.0.1]:tcp:80\"} 1",
        );
        assert!(text.contains("# TYPE rkeepalived_vrrp_adverts_sent counter"));
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn a_silent_child_is_down_and_has_no_other_series() {
        let v = vrrp_child();
        let text = render(
            &[(ChildKind::Vrrp, Some(&v)), (ChildKind::Checker, None)],
            None,
        );
        has(&text, "rkeepalived_up{child=\"checker\"} 0");
        has(&text, "rkeepalived_up{child=\"vrrp\"} 1");
        assert!(!text.contains("rkeepalived_real_server_up{"));
        assert!(!text.contains("reloads_total{child=\"checker\""));
        assert!(
            !text.contains("rkeepalived_child_restarts_total{"),
            "only the parent knows"
        );
    }
}
