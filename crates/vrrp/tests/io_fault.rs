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
