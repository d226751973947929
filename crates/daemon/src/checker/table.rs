//! The IPVS table wanted from the configuration and the director's verdicts.

use std::collections::BTreeMap;

use rka_check::Director;
use rka_ipvs::{Destination, ServiceKey, Table};

use super::mapping::{DestPlan, Plan, ServicePlan};

/// The wanted table, and for every kernel service the label of its virtual server (to name it
/// in errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// The services and their real servers.
    pub table: Table,
    /// Virtual server label by kernel service.
    pub labels: BTreeMap<ServiceKey, String>,
}

fn destination(sp: &ServicePlan, d: &DestPlan, key: &ServiceKey, weight: u32) -> Destination {
    let mut dest = Destination::new(d.addr, d.port_in(key), d.method, weight);
    dest.upper_threshold = sp.upper_threshold(d);
    dest.lower_threshold = sp.lower_threshold(d);
    dest.tunnel = sp.tunnel(d);
    dest
}

/// Builds the wanted table.
pub fn desired(plan: &Plan, director: &Director) -> Desired {
    desired_for(plan, director, 0..plan.services.len())
}

/// Builds the wanted entries of the virtual servers `vss` (director indices) only.
pub fn desired_for(
    plan: &Plan,
    director: &Director,
    vss: impl IntoIterator<Item = usize>,
) -> Desired {
    let mut out = Desired::default();
    for vi in vss {
        let Some(sp) = plan.services.get(vi) else {
            continue;
        };
        for svc in &sp.services {
            let key = svc.key;
            out.table.insert_service(svc);
            out.labels.insert(key, sp.label.clone());
            for (ri, rs) in sp.real_servers.iter().enumerate() {
                if let Some(w) = director.real_server_weight(vi, ri) {
                    out.table.insert_dest(&key, &destination(sp, rs, &key, w));
                }
            }
            if let (Some(sorry), Some(w)) = (&sp.sorry, director.sorry_weight(vi)) {
                let d = destination(sp, sorry, &key, w);
                let taken = out
                    .table
                    .services
                    .get(&key)
                    .is_some_and(|v| v.dests.contains_key(&d.key));
                if !taken {
                    out.table.insert_dest(&key, &d);
                }
            }
        }
    }
    out
}
