//! rtnetlink operations inside a scratch network namespace, checked against `ip`'s view.

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use rka_netif::{
    AddressEvent, AddressSpec, Error, InterfaceEvent, LinkEvent, Netif, RouteSpec, RuleSpec, Scope,
};
use rka_sys::netns::{enter_named, privileged_tests_available, ScratchNs};

/// Runs an async test body on a thread inside namespace `ns`.
fn in_ns<F, Fut>(ns: &ScratchNs, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let name = ns.name().to_string();
    std::thread::spawn(move || {
        enter_named(&name).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    })
    .join()
    .expect("test thread");
}

fn ip_out(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lab(tag: &str) -> ScratchNs {
    let ns = ScratchNs::create(&format!("rka-netif-{tag}-{}", std::process::id())).expect("netns");
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ])
    .expect("veth");
    ns.ip(&["link", "set", "eth0", "up"]).expect("up");
    ns.ip(&["link", "set", "eth0p", "up"]).expect("up");
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"])
        .expect("addr");
    ns
}

#[test]
fn addresses_with_options_round_trip() {
    if !privileged_tests_available("rka-netif") {
        return;
    }
    let ns = lab("addr");
    let name = ns.name().to_string();
    in_ns(&ns, || async {
        let nl = Netif::connect().expect("connect");
        let eth0 = nl.link_by_name("eth0").await.expect("links").expect("eth0");
        let mut vip = AddressSpec::new(eth0.index, "192.0.2.100".parse().expect("ip"), 32);
        vip.label = Some("eth0:vip".into());
        vip.broadcast = Some("192.0.2.255".parse().expect("brd"));
        nl.add_address(&vip).await.expect("add vip");
        assert!(matches!(nl.add_address(&vip).await, Err(Error::Exists)));
        let mut v6 = AddressSpec::new(eth0.index, "fd00::100".parse().expect("ip"), 128);
        v6.nodad = true;
        v6.noprefixroute = true;
        nl.add_address(&v6).await.expect("add v6");
        let mut host = AddressSpec::new(eth0.index, "192.0.2.101".parse().expect("ip"), 32);
        host.scope = Scope::Host;
        nl.add_address(&host).await.expect("add host scoped");

        let listed = nl.addresses(Some(eth0.index)).await.expect("list");
        let got = listed
            .iter()
            .find(|a| a.addr == vip.addr)
            .expect("vip listed");
        assert_eq!(got.label.as_deref(), Some("eth0:vip"));
        assert_eq!(got.broadcast, vip.broadcast);
        let got6 = listed
            .iter()
            .find(|a| a.addr == v6.addr)
            .expect("v6 listed");
        assert!(got6.nodad && got6.noprefixroute);
        let goth = listed
            .iter()
            .find(|a| a.addr == host.addr)
            .expect("host listed");
        assert_eq!(goth.scope, Scope::Host);

        nl.del_address(&host).await.expect("del");
        assert!(matches!(nl.del_address(&host).await, Err(Error::NotFound)));
    });
    let shown = ip_out(&name, &["addr", "show", "dev", "eth0"]);
    assert!(shown.contains("192.0.2.100/32"), "{shown}");
    assert!(shown.contains("eth0:vip"), "{shown}");
    assert!(shown.contains("fd00::100/128"), "{shown}");
    assert!(!shown.contains("192.0.2.101"), "{shown}");
}

#[test]
fn routes_and_rules() {
    if !privileged_tests_available("rka-netif") {
        return;
    }
    let ns = lab("route");
    let name = ns.name().to_string();
    in_ns(&ns, || async {
        let nl = Netif::connect().expect("connect");
        let eth0 = nl.link_by_name("eth0").await.expect("links").expect("eth0");
        let mut r = RouteSpec::new("198.51.100.0".parse().expect("ip"), 24);
        r.gateway = Some("192.0.2.254".parse().expect("gw"));
        r.ifindex = Some(eth0.index);
        r.table = Some(100);
        r.metric = Some(7);
        nl.add_route(&r).await.expect("add route");
        let mut bh = RouteSpec::new("203.0.113.0".parse().expect("ip"), 24);
        bh.kind = rka_netif::RouteKind::Blackhole;
        nl.add_route(&bh).await.expect("blackhole");
        let rule = RuleSpec {
            ipv6: false,
            from: Some(("192.0.2.100".parse::<IpAddr>().expect("ip"), 32)),
            to: None,
            table: Some(100),
            priority: Some(1000),
            fwmark: Some((5, Some(0xff))),
            iif: None,
            oif: None,
            action: Default::default(),
        };
        nl.add_rule(&rule).await.expect("rule");
    });
    let routes = ip_out(&name, &["route", "show", "table", "100"]);
    let line = routes
        .lines()
        .find(|l| l.starts_with("198.51.100.0/24"))
        .unwrap_or_default();
    assert!(line.contains("via 192.0.2.254 dev eth0"), "{routes}");
    assert!(line.contains("metric 7"), "{routes}");
    let main = ip_out(&name, &["route", "show"]);
    assert!(main.contains("blackhole 203.0.113.0/24"), "{main}");
    let rules = ip_out(&name, &["rule", "show"]);
    assert!(
        rules.contains("1000:\tfrom 192.0.2.100 fwmark 0x5/0xff lookup 100"),
        "{rules}"
    );
    in_ns(&ns, || async {
        let nl = Netif::connect().expect("connect");
        let eth0 = nl.link_by_name("eth0").await.expect("links").expect("eth0");
        let mut r = RouteSpec::new("198.51.100.0".parse().expect("ip"), 24);
        r.gateway = Some("192.0.2.254".parse().expect("gw"));
        r.ifindex = Some(eth0.index);
        r.table = Some(100);
        r.metric = Some(7);
        nl.del_route(&r).await.expect("del route");
        assert!(matches!(nl.del_route(&r).await, Err(Error::NotFound)));
    });
    assert!(!ip_out(&name, &["route", "show", "table", "100"]).contains("198.51.100.0"));
}

#[test]
fn vmac_and_link_events() {
    if !privileged_tests_available("rka-netif") {
        return;
    }
    let ns = lab("vmac");
    let name = ns.name().to_string();
    in_ns(&ns, || async {
        let nl = Netif::connect().expect("connect");
        let mut events = Netif::interface_events().expect("events");
        let eth0 = nl.link_by_name("eth0").await.expect("links").expect("eth0");
        assert!(eth0.oper_up);
        let mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
        let idx = nl
            .add_macvlan("vrrp.51", eth0.index, mac)
            .await
            .expect("macvlan");
        nl.set_link_up(idx, true).await.expect("up");
        let v = nl
            .link_by_name("vrrp.51")
            .await
            .expect("get")
            .expect("vmac exists");
        assert_eq!(v.mac.as_deref(), Some(&mac[..]));
        assert_eq!(v.kind.as_deref(), Some("macvlan"));
        assert_eq!(v.parent, Some(eth0.index));

        nl.set_link_up(eth0.index, false).await.expect("down");
        let down = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ev) = events.recv().await {
                if let InterfaceEvent::Link(LinkEvent::Changed(l)) = ev {
                    if l.name == "eth0" && !l.admin_up {
                        return l;
                    }
                }
            }
            panic!("event stream ended");
        })
        .await
        .expect("eth0 down event");
        assert!(!down.oper_up);
        nl.del_link(idx).await.expect("del vmac");
        assert!(nl.link_by_name("vrrp.51").await.expect("get").is_none());
    });
    assert!(!ip_out(&name, &["link"]).contains("vrrp.51"));
}

/// Address events: an address added and removed by `ip` is announced with its interface,
/// prefix and options, in order.
#[test]
fn address_events() {
    if !privileged_tests_available("rka-netif") {
        return;
    }
    let ns = lab("addrev");
    in_ns(&ns, || async {
        let nl = Netif::connect().expect("connect");
        let mut events = Netif::interface_events().expect("events");
        let eth0 = nl.link_by_name("eth0").await.expect("links").expect("eth0");
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["addr", "add", "198.51.100.7/28", "dev", "eth0"]);
        ip(&["addr", "del", "198.51.100.7/28", "dev", "eth0"]);
        ip(&["addr", "add", "2001:db8:7::7/64", "dev", "eth0", "nodad"]);
        let want: [(bool, IpAddr, u8); 3] = [
            (true, "198.51.100.7".parse().expect("ip"), 28),
            (false, "198.51.100.7".parse().expect("ip"), 28),
            (true, "2001:db8:7::7".parse().expect("ip"), 64),
        ];
        for (added, addr, prefix) in want {
            let ev = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(ev) = events.recv().await {
                    if let InterfaceEvent::Address(a) = ev {
                        if a.spec().addr == addr {
                            return a;
                        }
                    }
                }
                panic!("event stream ended");
            })
            .await
            .expect("address event");
            assert_eq!(matches!(ev, AddressEvent::Added(_)), added, "{ev:?}");
            assert_eq!(ev.spec().ifindex, eth0.index);
            assert_eq!(ev.spec().prefix_len, prefix);
        }
    });
}
