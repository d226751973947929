//! The instance configuration this crate needs, independent of keepalived.conf parsing: the
//! daemon maps its configuration model into these types.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::Authentication;
use crate::error::ConfigError;
use crate::packet::V3ChecksumMode;
use crate::wire::vrrp::{Family, Version, MAX_V3_INTERVAL_CS, VRRP_TTL};

/// The `state` keyword: where an instance would like to start.
///
/// keepalived starts every non-owner instance in BACKUP and lets the master-down timer elect;
/// the initial state only decides whether `nopreempt` and `preempt_delay` are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialState {
    /// `state BACKUP` (the default).
    #[default]
    Backup,
    /// `state MASTER`.
    Master,
}

/// Gratuitous ARP / unsolicited NA schedule (`garp_*` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpConfig {
    /// Delay of the second burst after becoming MASTER (`garp_master_delay`, default 5 s; zero:
    /// no second burst).
    pub master_delay: Duration,
    /// Messages per address in each burst after becoming MASTER (`garp_master_repeat`, 5).
    pub master_repeat: u32,
    /// Delay of the second burst after a lower-priority advert (`garp_lower_prio_delay`).
    pub lower_prio_delay: Duration,
    /// Messages per address after a lower-priority advert (`garp_lower_prio_repeat`).
    pub lower_prio_repeat: u32,
    /// Period of refreshes while MASTER (`garp_master_refresh`, none by default).
    pub master_refresh: Option<Duration>,
    /// Messages per address in each refresh (`garp_master_refresh_repeat`, 1).
    pub master_refresh_repeat: u32,
}

impl Default for GarpConfig {
    fn default() -> GarpConfig {
        GarpConfig {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
        }
    }
}

/// `garp_extra_if`: while MASTER, one gratuitous ARP / unsolicited NA every `interval` for
/// each of `addresses` (the instance's addresses that live on another interface than its
/// own), to keep switches' MAC tables fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpExtra {
    /// Period (non-zero).
    pub interval: Duration,
    /// Addresses announced.
    pub addresses: Vec<IpAddr>,
}

/// One tracked object (interface, script, file, process, BFD...) as the instance sees it: a
/// name, a weight and an up/down status reported through `Instance::track_update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Name used in `track_update`.
    pub name: String,
    /// Weight: positive adds while up, negative adds while down, zero means "down = FAULT".
    pub weight: i32,
    /// `reverse`: the weight applies to the opposite status.
    pub reverse: bool,
    /// Status before the first report.
    pub initially_up: bool,
    /// The status is unknown until the first report (a `vrrp_script` without `init_fail`,
    /// as keepalived 2.2.7 runs it, observed): the instance stays in INIT until every such
    /// tracker has reported, then starts in the state the reports give (straight to FAULT
    /// on a failure, never BACKUP first).
    pub pending: bool,
}

/// Everything an [`crate::Instance`] needs.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// Instance name (`vrrp_instance NAME`), for notifications and logs.
    pub name: String,
    /// `virtual_router_id`, 1..=255.
    pub vrid: u8,
    /// Protocol version (`version`, `vrrp_version`).
    pub version: Version,
    /// Address family of the adverts.
    pub family: Family,
    /// Configured priority, 1..=255 (255 = address owner).
    pub priority: u8,
    /// `advert_int`: whole seconds for v2, centiseconds up to 40.95 s for v3.
    pub advert_interval: Duration,
    /// `state`.
    pub initial_state: InitialState,
    /// `nopreempt` (honoured only with initial state BACKUP).
    pub nopreempt: bool,
    /// `preempt_delay` (honoured only with initial state BACKUP).
    pub preempt_delay: Duration,
    /// `down_timer_adverts`, 1..=100 (default 3).
    pub down_timer_adverts: u32,
    /// `authentication` (v2 over IPv4 only).
    pub auth: Authentication,
    /// The addresses carried in adverts (virtual_ipaddress of this family, in order).
    pub virtual_addresses: Vec<IpAddr>,
    /// Our source address (`unicast_src_ip` or the interface's primary address).
    pub source: IpAddr,
    /// `unicast_peer` list; empty means multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// The multicast group (`mcast_dst_ip`, `vrrp_mcast_group4/6`); `None`: 224.0.0.18 /
    /// ff02::12.
    pub multicast_group: Option<IpAddr>,
    /// `unicast_ttl` (255 by default; multicast always uses 255).
    pub unicast_ttl: u8,
    /// VRRPv3-over-IPv4 checksum mode.
    pub v3_checksum: V3ChecksumMode,
    /// With unicast peers and [`V3ChecksumMode::PseudoHeader`], also accept adverts carrying
    /// the old unicast checksum ([`V3ChecksumMode::OldUnicast`]) and log it once, as keepalived
    /// 2.2.7 does unless `old_unicast_checksum never`. Our own adverts keep the configured mode.
    pub detect_old_checksum: bool,
    /// `strict_mode` / `vrrp_strict`: also check TTL on unicast.
    pub strict: bool,
    /// `skip_check_adv_addr`: do not compare the address list of received adverts.
    pub skip_check_adv_addr: bool,
    /// `lower_prio_no_advert`: as MASTER, do not answer a lower-priority advert.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: as MASTER, send one advert before yielding to a higher one.
    pub higher_prio_send_advert: bool,
    /// Gratuitous ARP / NA schedule.
    pub garp: GarpConfig,
    /// `garp_extra_if` (none by default).
    pub garp_extra: Option<GarpExtra>,
    /// `vrrp_startup_delay`: time in INIT before the instance starts.
    pub startup_delay: Duration,
    /// Tracked objects.
    pub trackers: Vec<TrackerConfig>,
    /// A configuration fault that keeps the instance in FAULT for its whole life (keepalived's
    /// "config faults", e.g. `unicast_fault_no_peer` with no peer): it never advertises.
    pub config_fault: bool,
}

impl InstanceConfig {
    /// A configuration with keepalived's defaults: VRRPv2 for IPv4 and v3 for IPv6, priority
    /// 100, one second interval, no authentication, multicast.
    pub fn new(
        name: &str,
        vrid: u8,
        source: IpAddr,
        virtual_addresses: Vec<IpAddr>,
    ) -> InstanceConfig {
        let family = Family::of(&source);
        InstanceConfig {
            name: name.to_owned(),
            vrid,
            version: if family == Family::Ipv4 {
                Version::V2
            } else {
                Version::V3
            },
            family,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            initial_state: InitialState::Backup,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            auth: Authentication::None,
            virtual_addresses,
            source,
            unicast_peers: Vec::new(),
            multicast_group: None,
            unicast_ttl: VRRP_TTL,
            v3_checksum: V3ChecksumMode::PseudoHeader,
            detect_old_checksum: true,
            strict: false,
            skip_check_adv_addr: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            garp: GarpConfig::default(),
            garp_extra: None,
            startup_delay: Duration::ZERO,
            trackers: Vec::new(),
            config_fault: false,
        }
    }

    /// Checks the configuration against the protocol's limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::BadVrid(self.vrid));
        }
        if self.priority == 0 {
            return Err(ConfigError::BadPriority(self.priority));
        }
        if self
            .garp_extra
            .as_ref()
            .is_some_and(|e| e.interval.is_zero())
        {
            return Err(ConfigError::ZeroGarpExtraInterval);
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::BadDownTimerAdverts(self.down_timer_adverts));
        }
        let cs = self.advert_interval.as_millis() / 10;
        let whole_cs = self.advert_interval.as_nanos() % 10_000_000 == 0;
        match self.version {
            Version::V2 => {
                if self.family != Family::Ipv4 {
                    return Err(ConfigError::FamilyMismatch(self.source));
                }
                if !whole_cs || cs % 100 != 0 || !(100..=25_500).contains(&cs) {
                    return Err(ConfigError::BadInterval);
                }
            }
            Version::V3 => {
                if !whole_cs || cs == 0 || cs > u128::from(MAX_V3_INTERVAL_CS) {
                    return Err(ConfigError::BadInterval);
                }
                if !matches!(self.auth, Authentication::None) {
                    return Err(ConfigError::AuthNotAllowed);
                }
            }
        }
        if let Some(g) = &self.multicast_group {
            if !g.is_multicast() {
                return Err(ConfigError::NotMulticast(*g));
            }
        }
        let all = std::iter::once(&self.source)
            .chain(&self.multicast_group)
            .chain(&self.virtual_addresses)
            .chain(&self.unicast_peers);
        for addr in all {
            if Family::of(addr) != self.family {
                return Err(ConfigError::FamilyMismatch(*addr));
            }
        }
        if self.virtual_addresses.len() > 255 {
            return Err(ConfigError::TooManyAddresses(self.virtual_addresses.len()));
        }
        Ok(())
    }

    /// The multicast group adverts go to when there are no unicast peers.
    pub fn multicast_group(&self) -> IpAddr {
        self.multicast_group.unwrap_or(match self.family {
            Family::Ipv4 => IpAddr::V4(crate::wire::vrrp::MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(crate::wire::vrrp::MULTICAST_V6),
        })
    }

    /// The advert interval in centiseconds (valid after [`InstanceConfig::validate`]).
    pub fn interval_cs(&self) -> u16 {
        u16::try_from(self.advert_interval.as_millis() / 10).unwrap_or(MAX_V3_INTERVAL_CS)
    }

    /// Whether `nopreempt` is in force.
    pub fn nopreempt_effective(&self) -> bool {
        self.nopreempt && self.initial_state == InitialState::Backup
    }

    /// The `preempt_delay` in force.
    pub fn preempt_delay_effective(&self) -> Duration {
        if self.initial_state == InitialState::Backup {
            self.preempt_delay
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn base() -> InstanceConfig {
        InstanceConfig::new(
            "VI_1",
            51,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        )
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(base().validate(), Ok(()));
        assert_eq!(base().interval_cs(), 100);
    }

    #[test]
    fn rejects_out_of_range() {
        let mut c = base();
        c.vrid = 0;
        assert_eq!(c.validate(), Err(ConfigError::BadVrid(0)));
        let mut c = base();
        c.advert_interval = Duration::from_millis(1500);
        assert_eq!(c.validate(), Err(ConfigError::BadInterval));
        c.version = Version::V3;
        assert_eq!(c.validate(), Ok(()));
        c.advert_interval = Duration::from_secs(41);
        assert_eq!(c.validate(), Err(ConfigError::BadInterval));
        let mut c = base();
        c.version = Version::V3;
        c.auth = Authentication::pass(b"x");
        assert_eq!(c.validate(), Err(ConfigError::AuthNotAllowed));
        let mut c = base();
        c.unicast_peers.push("fe80::1".parse().expect("addr"));
        assert!(matches!(c.validate(), Err(ConfigError::FamilyMismatch(_))));
        let mut c = base();
        c.multicast_group = Some("10.0.0.9".parse().expect("addr"));
        assert!(matches!(c.validate(), Err(ConfigError::NotMulticast(_))));
        c.multicast_group = Some("ff02::12".parse().expect("addr"));
        assert!(matches!(c.validate(), Err(ConfigError::FamilyMismatch(_))));
        c.multicast_group = Some("224.0.0.19".parse().expect("addr"));
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            c.multicast_group(),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 19))
        );
        let mut c = base();
        c.down_timer_adverts = 0;
        assert_eq!(c.validate(), Err(ConfigError::BadDownTimerAdverts(0)));
    }

    #[test]
    fn preempt_options_need_backup_start() {
        let mut c = base();
        c.nopreempt = true;
        c.preempt_delay = Duration::from_secs(2);
        assert!(c.nopreempt_effective());
        c.initial_state = InitialState::Master;
        assert!(!c.nopreempt_effective());
        assert_eq!(c.preempt_delay_effective(), Duration::ZERO);
    }
}
