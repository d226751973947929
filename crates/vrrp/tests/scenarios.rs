//! Election scenarios on a virtual clock.

mod common;

use std::time::Duration;

use common::{cfg, v2_down, Net};
use rka_vrrp::{Action, InitialState, State, TrackerConfig, Version};

const S: Duration = Duration::from_secs(1);

#[test]
fn election_by_priority() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 100));
    let b = net.add(cfg(1, 2, 150));
    let c = net.add(cfg(1, 3, 50));
    net.run_until(20 * S);
    assert_eq!(net.masters(), vec![b]);
    // The highest priority has the shortest master-down timer and wins it.
    assert_eq!(net.entered(b, 1, State::Master), vec![v2_down(150)]);
    assert!(net.entered(a, 1, State::Master).is_empty());
    assert!(net.entered(c, 1, State::Master).is_empty());
    assert_eq!(net.state(a), State::Backup);
    assert_eq!(net.state(c), State::Backup);
    // Becoming master: advert first, then addresses, then GARPs, then state and notify.
    let first: Vec<&Action> = net
        .events
        .iter()
        .filter(|e| e.router == b && e.at == v2_down(150))
        .map(|e| &e.action)
        .collect();
    assert!(matches!(first[0], Action::SendAdvert { priority: 150, .. }));
    assert_eq!(first[1], &Action::AddVips);
    assert!(matches!(first[2], Action::SendGratuitous { count: 5, .. }));
    assert!(matches!(
        first[3],
        Action::StateChanged {
            from: State::Backup,
            to: State::Master,
            ..
        }
    ));
    assert_eq!(
        first[4],
        &Action::Notify {
            state: State::Master,
            priority: 150
        }
    );
}

#[test]
fn equal_priority_decided_by_address() {
    let mut net = Net::new();
    let low = net.add(cfg(1, 1, 100));
    let high = net.add(cfg(1, 2, 100));
    net.run_until(20 * S);
    // Both time out together and become master; the lower address yields on hearing the other.
    assert_eq!(net.entered(low, 1, State::Master), vec![v2_down(100)]);
    assert_eq!(net.entered(high, 1, State::Master), vec![v2_down(100)]);
    assert_eq!(net.entered(low, 1, State::Backup).len(), 2);
    assert_eq!(net.masters(), vec![high]);
}

#[test]
fn preemption_by_a_higher_priority_newcomer() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 100));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    let b = net.add(cfg(1, 2, 200));
    let joined = net.elapsed();
    net.run_for(20 * S);
    // b ignores the lower-priority adverts, so its timer runs out one down interval after start.
    assert_eq!(
        net.entered(b, 1, State::Master),
        vec![joined + v2_down(200)]
    );
    assert_eq!(
        net.entered(a, 1, State::Backup).last(),
        Some(&(joined + v2_down(200)))
    );
    assert_eq!(net.masters(), vec![b]);
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 100));
    net.run_until(10 * S);
    let mut c = cfg(1, 2, 200);
    c.nopreempt = true;
    let b = net.add(c);
    net.run_for(60 * S);
    assert_eq!(net.masters(), vec![a]);
    assert_eq!(net.state(b), State::Backup);
    // nopreempt is ignored when the initial state is MASTER (as keepalived does).
    let mut c = cfg(1, 3, 220);
    c.nopreempt = true;
    c.initial_state = InitialState::Master;
    let d = net.add(c);
    net.run_for(20 * S);
    assert_eq!(net.masters(), vec![d]);
}

#[test]
fn preempt_delay_postpones_takeover() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 100));
    net.run_until(10 * S);
    let mut c = cfg(1, 2, 200);
    c.preempt_delay = 5 * S;
    let b = net.add(c);
    let joined = net.elapsed();
    net.run_for(30 * S);
    let took = net.entered(b, 1, State::Master)[0];
    // Lower adverts are honoured for 5 s after the first one, then the down timer runs out.
    let first_seen = net
        .deliveries
        .iter()
        .find(|d| d.0 >= joined && d.1 == a && d.2 == b)
        .expect("advert")
        .0;
    let last_honoured = net
        .deliveries
        .iter()
        .rev()
        .find(|d| d.1 == a && d.2 == b && d.0 < first_seen + 5 * S)
        .map(|d| d.0)
        .expect("advert");
    assert_eq!(took, last_honoured + v2_down(200));
    assert!(took > joined + 5 * S + v2_down(200) - S);
    assert_eq!(net.masters(), vec![b]);
}

#[test]
fn crash_takeover_after_down_interval() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    net.crash(a);
    let last = net.last_delivery(a, b).expect("adverts were delivered");
    net.run_for(10 * S);
    // RFC 3768 section 6.4.2: 3 x Advertisement_Interval + (256 - 100) / 256 s.
    assert_eq!(
        net.entered(b, 1, State::Master),
        vec![last + 3 * S + Duration::from_micros(609_375)]
    );
}

#[test]
fn clean_stop_hands_over_after_skew() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(Duration::from_millis(10_500));
    net.shutdown(a);
    let stopped = net.elapsed();
    let zero = net
        .events
        .iter()
        .filter(|e| e.router == a)
        .filter(|e| matches!(e.action, Action::SendAdvert { priority: 0, .. }))
        .count();
    assert_eq!(zero, 1);
    assert!(net
        .events
        .iter()
        .any(|e| e.router == a && e.action == Action::RemoveVips));
    assert!(net.events.iter().any(|e| e.router == a
        && e.action
            == Action::Notify {
                state: State::Stop,
                priority: 150
            }));
    net.run_for(5 * S);
    // Priority 0 sets the master-down timer to Skew_Time = 156/256 s.
    assert_eq!(
        net.entered(b, 1, State::Master),
        vec![stopped + Duration::from_micros(609_375)]
    );
}

#[test]
fn v3_backup_learns_the_master_interval() {
    let mut net = Net::new();
    let mut ca = cfg(1, 1, 200);
    ca.version = Version::V3;
    ca.advert_interval = Duration::from_millis(500);
    let mut cb = cfg(1, 2, 100);
    cb.version = Version::V3;
    cb.advert_interval = 2 * S;
    let a = net.add(ca);
    let b = net.add(cb);
    net.run_until(20 * S);
    assert_eq!(net.masters(), vec![a]);
    assert_eq!(
        net.instance(b).master_adver_interval(),
        Duration::from_millis(500)
    );
    net.crash(a);
    let last = net.last_delivery(a, b).expect("adverts");
    net.run_for(10 * S);
    // 3 x 0.5 s + (256 - 100) x 0.5 s / 256.
    let expected = last + Duration::from_millis(1500) + Duration::from_millis(500) * 156 / 256;
    assert_eq!(net.entered(b, 1, State::Master), vec![expected]);
    // As master it advertises its own interval again.
    assert_eq!(net.instance(b).master_adver_interval(), 2 * S);
}

#[test]
fn owner_goes_master_at_once() {
    let mut net = Net::new();
    let b = net.add(cfg(1, 2, 254));
    let a = net.add(cfg(1, 1, 255));
    net.run_until(10 * S);
    assert_eq!(net.entered(a, 1, State::Master), vec![Duration::ZERO]);
    assert!(net.entered(b, 1, State::Master).is_empty());
    assert_eq!(net.masters(), vec![a]);
}

#[test]
fn three_routers_fail_over_in_order() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 100));
    let b = net.add(cfg(1, 2, 110));
    let c = net.add(cfg(1, 3, 120));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![c]);
    net.crash(c);
    let last = net.last_delivery(c, b).expect("adverts");
    net.run_for(10 * S);
    assert_eq!(net.entered(b, 1, State::Master), vec![last + v2_down(110)]);
    assert_eq!(net.masters(), vec![b]);
    assert!(net.entered(a, 1, State::Master).is_empty());
}

#[test]
fn split_brain_heals_to_one_master() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    net.routers[b].segment = 1;
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![a, b]);
    net.routers[b].segment = 0;
    let healed = net.elapsed();
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![a]);
    // The winner heard a lower-priority master: extra advert and a GARP burst.
    assert!(net.events.iter().any(|e| e.router == a
        && e.at >= healed
        && matches!(e.action, Action::SendGratuitous { count: 5, .. })));
    // ... and reported it (notify_master_rx_lower_pri).
    assert!(net.events.iter().any(|e| e.router == a
        && e.at >= healed
        && matches!(e.action, Action::LowerPriorityAdvert { priority: 100, .. })));
    assert_eq!(net.entered(b, 1, State::Backup).len(), 2);
}

#[test]
fn sync_group_members_move_together() {
    let mut net = Net::new();
    let mut members = vec![cfg(1, 1, 150), cfg(2, 1, 150)];
    members[0].trackers.push(TrackerConfig {
        name: "eth1".into(),
        weight: 0,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    let r1 = net.add_group("G1", members);
    let r2 = net.add_group("G1", vec![cfg(1, 2, 100), cfg(2, 2, 100)]);
    net.run_until(10 * S);
    assert_eq!(net.group(r1).state(), State::Master);
    assert_eq!(net.group(r2).state(), State::Backup);
    // One member of r1 faults: its peer is dragged to FAULT too and r2 takes both VRIDs.
    net.track(r1, 1, "eth1", false);
    let failed = net.elapsed();
    assert_eq!(net.member(r1, 1).state(), State::Fault);
    assert_eq!(net.member(r1, 2).state(), State::Fault);
    net.run_for(5 * S);
    assert_eq!(net.group(r2).state(), State::Master);
    // Both r1 members sent priority 0, so r2 took over after the skew time.
    let skew = Duration::from_micros(609_375);
    assert_eq!(net.entered(r2, 1, State::Master), vec![failed + skew]);
    assert_eq!(net.entered(r2, 2, State::Master), vec![failed + skew]);
    // Recovery: r1 comes back as BACKUP and preempts both together.
    net.track(r1, 1, "eth1", true);
    net.run_for(10 * S);
    assert_eq!(net.group(r1).state(), State::Master);
    assert_eq!(net.group(r2).state(), State::Backup);
    assert_eq!(
        net.entered(r1, 1, State::Master).last(),
        net.entered(r1, 2, State::Master).last()
    );
}

#[test]
fn sync_group_waits_for_every_member() {
    let mut net = Net::new();
    // r0 is master of VRID 1 only; r1's group {1, 2} must not take VRID 2 alone.
    let r0 = net.add(cfg(1, 3, 200));
    let r1 = net.add_group("G", vec![cfg(1, 1, 100), cfg(2, 1, 100)]);
    net.run_until(30 * S);
    assert_eq!(net.masters(), vec![r0]);
    assert_eq!(net.member(r1, 2).state(), State::Backup);
    assert!(net.entered(r1, 2, State::Master).is_empty());
    // Once r0 is gone, both members go master at the same moment.
    net.crash(r0);
    net.run_for(10 * S);
    assert_eq!(net.group(r1).state(), State::Master);
    assert_eq!(
        net.entered(r1, 1, State::Master),
        net.entered(r1, 2, State::Master)
    );
}

#[test]
fn tracking_weights_move_mastership_and_weight_zero_faults() {
    let mut net = Net::new();
    let mut ca = cfg(1, 1, 150);
    ca.trackers.push(TrackerConfig {
        name: "chk".into(),
        weight: -60,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    ca.trackers.push(TrackerConfig {
        name: "link".into(),
        weight: 0,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    let a = net.add(ca);
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    net.track(a, 1, "chk", false);
    assert_eq!(net.instance(a).priority(), 90);
    assert!(net
        .events
        .iter()
        .any(|e| e.action == Action::PriorityChanged { from: 150, to: 90 }));
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![b]);
    net.track(a, 1, "chk", true);
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![a]);
    // Weight 0: FAULT, priority 0 advert, addresses removed; b takes over after skew.
    net.track(a, 1, "link", false);
    let failed = net.elapsed();
    assert_eq!(net.state(a), State::Fault);
    net.run_for(5 * S);
    assert_eq!(
        net.entered(b, 1, State::Master).last(),
        Some(&(failed + Duration::from_micros(609_375)))
    );
    net.track(a, 1, "link", true);
    assert_eq!(net.state(a), State::Backup);
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![a]);
}

#[test]
fn priority_is_clamped() {
    let mut net = Net::new();
    let mut c = cfg(1, 1, 250);
    c.trackers.push(TrackerConfig {
        name: "up".into(),
        weight: 50,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    c.trackers.push(TrackerConfig {
        name: "down".into(),
        weight: -253,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    let a = net.add(c);
    assert_eq!(net.instance(a).priority(), 254);
    net.track(a, 1, "up", false);
    net.track(a, 1, "down", false);
    assert_eq!(net.instance(a).priority(), 1);
    let mut owner = cfg(2, 2, 255);
    owner.trackers.push(TrackerConfig {
        name: "x".into(),
        weight: -100,
        reverse: false,
        initially_up: false,
        pending: false,
    });
    let o = net.add(owner);
    assert_eq!(net.instance(o).priority(), 255);
}

#[test]
fn ten_percent_loss_with_five_down_adverts_is_stable() {
    let mut net = Net::new();
    net.seed(0x5eed_1234);
    net.loss_percent = 10;
    let mut ca = cfg(1, 1, 150);
    ca.down_timer_adverts = 5;
    let mut cb = cfg(1, 2, 100);
    cb.down_timer_adverts = 5;
    let a = net.add(ca);
    let b = net.add(cb);
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    let settled = net.elapsed();
    net.run_for(Duration::from_secs(600));
    assert_eq!(net.transitions_since(settled), 0);
    assert_eq!(net.state(b), State::Backup);
    // Losses did happen.
    let delivered = net
        .deliveries
        .iter()
        .filter(|d| d.0 > settled && d.1 == a)
        .count();
    assert!(delivered < 600 && delivered > 480, "{delivered}");
}

#[test]
fn startup_delay_holds_the_instance_in_init() {
    let mut net = Net::new();
    let mut c = cfg(1, 1, 255);
    c.startup_delay = Duration::from_millis(5_500);
    let a = net.add(c);
    assert_eq!(
        net.instance(a).poll_timeout(),
        Some(net.start + Duration::from_millis(5_500))
    );
    net.run_until(5 * S);
    assert_eq!(net.state(a), State::Init);
    assert!(net.events.is_empty());
    net.run_until(6 * S);
    assert_eq!(
        net.entered(a, 1, State::Master),
        vec![Duration::from_millis(5_500)]
    );
}

#[test]
fn garp_schedule_after_becoming_master() {
    let mut net = Net::new();
    let mut c = cfg(1, 1, 255);
    c.garp.master_refresh = Some(Duration::from_secs(60));
    c.garp.master_refresh_repeat = 2;
    let a = net.add(c);
    net.run_until(Duration::from_secs(130));
    let garps: Vec<(Duration, u32)> = net
        .events
        .iter()
        .filter(|e| e.router == a)
        .filter_map(|e| match e.action {
            Action::SendGratuitous { count, .. } => Some((e.at, count)),
            _ => None,
        })
        .collect();
    assert_eq!(
        garps,
        vec![(Duration::ZERO, 5), (5 * S, 5), (60 * S, 2), (120 * S, 2)]
    );
}

#[test]
fn config_fault_keeps_the_instance_in_fault_for_good() {
    // keepalived's `unicast_fault_no_peer` with no peer: FAULT from the start, never an advert,
    // whatever the trackers say, even for an address owner.
    let mut net = Net::new();
    let mut ca = cfg(1, 1, 255);
    ca.config_fault = true;
    ca.trackers.push(TrackerConfig {
        name: "link".into(),
        weight: 0,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    let a = net.add(ca);
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    assert_eq!(net.state(a), State::Fault);
    assert_eq!(net.masters(), vec![b]);
    net.track(a, 1, "link", false);
    net.track(a, 1, "link", true);
    net.run_for(10 * S);
    assert_eq!(net.state(a), State::Fault);
    assert!(!net
        .events
        .iter()
        .any(|e| e.router == a && matches!(e.action, Action::SendAdvert { .. })));
    assert!(net.entered(a, 1, State::Master).is_empty());
    assert_eq!(net.masters(), vec![b]);
}

#[test]
fn garp_extra_if_repeats_while_master_only() {
    let mut net = Net::new();
    let mut ca = cfg(1, 1, 150);
    let extra = common::v4(200);
    ca.garp_extra = Some(rka_vrrp::GarpExtra {
        interval: 2 * S,
        addresses: vec![extra],
    });
    ca.trackers.push(TrackerConfig {
        name: "chk".into(),
        weight: -100,
        reverse: false,
        initially_up: true,
        pending: false,
    });
    let a = net.add(ca);
    let b = net.add(cfg(1, 2, 100));
    net.run_until(20 * S);
    assert_eq!(net.masters(), vec![a]);
    let became = net.entered(a, 1, State::Master)[0];
    let extras = |net: &Net| -> Vec<Duration> {
        net.events
            .iter()
            .filter(|e| {
                e.router == a
                    && e.action
                        == Action::SendGratuitous {
                            addresses: vec![extra],
                            count: 1,
                        }
            })
            .map(|e| e.at)
            .collect()
    };
    // One per period from the transition on.
    let seen = extras(&net);
    let want: Vec<Duration> = (1..)
        .map(|k| became + k * 2 * S)
        .take_while(|t| *t <= 20 * S)
        .collect();
    assert_eq!(seen, want);
    // Once BACKUP, none.
    net.track(a, 1, "chk", false);
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![b]);
    let left = net.entered(b, 1, State::Master)[0];
    assert!(extras(&net).iter().all(|t| *t <= left));
    assert_eq!(
        extras(&net).len(),
        seen.len() + extras_between(&seen, 20 * S, left)
    );
}

/// How many periods (2 s from the last one in `seen`) fall in (from, to].
fn extras_between(seen: &[Duration], from: Duration, to: Duration) -> usize {
    let mut n = 0;
    let mut t = seen.last().copied().unwrap_or(from) + 2 * S;
    while t <= to {
        if t > from {
            n += 1;
        }
        t += 2 * S;
    }
    n
}
