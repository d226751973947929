//! Driver-reported faults (no socket, no source address), the current master's address and
//! the time of the last transition, on a virtual clock.

mod common;

use std::time::Duration;

use common::{cfg, v2_down, v4, Net, Node};
use rka_vrrp::{Action, State};

const S: Duration = Duration::from_secs(1);

fn set_io_fault(net: &mut Net, r: usize, fault: bool) {
    let now = net.now;
    match &mut net.routers[r].node {
        Node::Single(i) => i.set_io_fault(now, fault),
        Node::Group(g) => g.set_io_fault(now, 0, fault),
    }
    net.flush();
}

#[test]
fn an_instance_that_cannot_advertise_never_becomes_master() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    // Reported before the start (socket refused at start-up): FAULT from the first step.
    set_io_fault(&mut net, a, true);
    net.run_until(20 * S);
    assert_eq!(net.state(a), State::Fault);
    assert!(net.entered(a, 1, State::Master).is_empty());
    assert!(!net
        .events
        .iter()
        .any(|e| matches!(e.action, Action::AddVips | Action::SendAdvert { .. })));
    assert!(net.instance(a).io_fault());
    // The socket opens: BACKUP, then MASTER after the down interval, as after a tracker.
    let cleared = net.elapsed();
    set_io_fault(&mut net, a, false);
    net.run_for(10 * S);
    assert_eq!(
        net.entered(a, 1, State::Master),
        vec![cleared + v2_down(150)]
    );
}

#[test]
fn losing_the_socket_as_master_releases_the_addresses() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    set_io_fault(&mut net, a, true);
    assert_eq!(net.state(a), State::Fault);
    assert!(net
        .events
        .iter()
        .any(|e| e.router == a && e.action == Action::RemoveVips));
    net.run_for(10 * S);
    assert_eq!(net.masters(), vec![b]);
}

#[test]
fn a_sync_group_member_without_socket_faults_the_group() {
    let mut net = Net::new();
    let g = net.add_group("G", vec![cfg(1, 1, 150), cfg(2, 1, 150)]);
    set_io_fault(&mut net, g, true);
    net.run_until(10 * S);
    assert!(net
        .group(g)
        .members()
        .iter()
        .all(|m| m.state() == State::Fault));
    set_io_fault(&mut net, g, false);
    net.run_for(10 * S);
    assert!(net
        .group(g)
        .members()
        .iter()
        .all(|m| m.state() == State::Master));
}

#[test]
fn the_backup_knows_the_master_address_and_when_it_changed_state() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    assert_eq!(net.instance(a).last_transition(), None);
    assert_eq!(net.instance(b).master_address(), None);
    net.run_until(10 * S);
    assert_eq!(net.instance(a).master_address(), Some(v4(1)));
    assert_eq!(net.instance(b).master_address(), Some(v4(1)));
    assert_eq!(net.instance(b).master_priority(), Some(150));
    assert_eq!(net.instance(a).master_priority(), Some(150));
    assert_eq!(
        net.instance(a).last_transition(),
        Some(net.start + v2_down(150))
    );
    // b entered BACKUP at start.
    assert_eq!(net.instance(b).last_transition(), Some(net.start));
    // a stops: b takes over and is its own master.
    net.shutdown(a);
    let stopped = net.elapsed();
    net.run_for(5 * S);
    assert_eq!(net.instance(b).master_address(), Some(v4(2)));
    let t = net.instance(b).last_transition().expect("b changed state");
    assert!(t > net.start + stopped);
}

#[test]
fn a_new_source_address_is_used_for_the_next_adverts() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    net.run_until(5 * S);
    match &mut net.routers[a].node {
        Node::Single(i) => i.set_source(v4(9)),
        Node::Group(_) => unreachable!(),
    }
    assert_eq!(net.instance(a).config().source, v4(9));
    assert_eq!(net.instance(a).master_address(), Some(v4(9)));
}

fn address_lost(net: &mut Net, r: usize, index: usize) {
    let now = net.now;
    match &mut net.routers[r].node {
        Node::Single(i) => i.address_lost(now),
        Node::Group(g) => g.address_lost(now, index),
    }
    net.flush();
}

/// keepalived 2.2.7 (observed in a namespace): a VIP deleted by hand from the MASTER makes it
/// send priority 0, remove its addresses and enter BACKUP with only Skew_Time to wait, so the
/// higher-priority router is MASTER again one skew later (before the peer's own, longer
/// skew) and puts its addresses back.
#[test]
fn a_master_whose_address_is_removed_gives_up_and_wins_again_after_its_skew() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![a]);
    let lost = net.elapsed();
    address_lost(&mut net, a, 0);
    assert_eq!(net.state(a), State::Backup);
    let since: Vec<&Action> = net
        .events
        .iter()
        .filter(|e| e.router == a && e.at == lost)
        .map(|e| &e.action)
        .collect();
    let zero = since
        .iter()
        .position(|a| matches!(a, Action::SendAdvert { priority: 0, .. }))
        .expect("priority 0 sent");
    let removed = since
        .iter()
        .position(|a| **a == Action::RemoveVips)
        .expect("addresses removed");
    assert!(zero < removed, "{since:?}");
    net.run_for(5 * S);
    // v2 skew of priority 150: (256 - 150) / 256 s.
    let skew = S * (256 - 150) / 256;
    assert_eq!(
        net.entered(a, 1, State::Master).last(),
        Some(&(lost + skew))
    );
    assert!(net.entered(b, 1, State::Master).is_empty());
    assert_eq!(net.masters(), vec![a]);
}

#[test]
fn an_address_lost_outside_master_changes_nothing() {
    let mut net = Net::new();
    let a = net.add(cfg(1, 1, 150));
    let b = net.add(cfg(1, 2, 100));
    net.run_until(10 * S);
    let before = net.events.len();
    address_lost(&mut net, b, 0);
    assert_eq!(net.events.len(), before);
    assert_eq!(net.state(b), State::Backup);
    assert_eq!(net.masters(), vec![a]);
}

#[test]
fn a_sync_group_member_losing_an_address_takes_the_group_out_of_master() {
    let mut net = Net::new();
    let g = net.add_group("G", vec![cfg(1, 1, 150), cfg(2, 1, 150)]);
    net.run_until(10 * S);
    assert_eq!(net.masters(), vec![g]);
    let lost = net.elapsed();
    address_lost(&mut net, g, 1);
    for m in net.group(g).members() {
        assert_eq!(m.state(), State::Backup, "{}", m.name());
    }
    net.run_for(10 * S);
    // Alone on the network, the group is MASTER again.
    assert!(net
        .group(g)
        .members()
        .iter()
        .all(|m| m.state() == State::Master));
    assert!(net.entered(g, 2, State::Master).last() > Some(&lost));
}
