//! Every event worth logging, with the logging policy in one place.

use std::net::IpAddr;

use crate::action::{Reason, State};
use crate::error::WireError;
use crate::stats::DropReason;

/// A loggable event.
#[derive(Debug)]
pub enum Debug<'a> {
    /// An instance changed state.
    StateChange {
        /// Instance name.
        instance: &'a str,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A received advert failed a check.
    AdvertDropped {
        /// Instance name.
        instance: &'a str,
        /// Sender.
        src: IpAddr,
        /// Which check.
        reason: DropReason,
    },
    /// A unicast advert carried the pre-1.3.6 VRRPv3 checksum and was accepted (logged the
    /// first time only).
    OldUnicastChecksum {
        /// Instance name.
        instance: &'a str,
    },
    /// An advert could not be encoded (a configuration the validator should have refused).
    EncodeFailed {
        /// Instance name.
        instance: &'a str,
        /// The codec's error.
        error: WireError,
    },
}

impl Debug<'_> {
    /// Logs the event through `tracing`.
    pub fn log(&self) {
        match self {
            Debug::StateChange {
                instance,
                from,
                to,
                reason,
            } => {
                if *reason == Reason::Reload {
                    // Not a transition: keepalived logs nothing for the instances a reload
                    // keeps, and log watchers must not see "Entering MASTER STATE".
                    tracing::debug!("({instance}) {to} kept across the reload");
                    return;
                }
                // keepalived's wording, which people grep their logs for; the details at debug.
                // keepalived marks the first BACKUP "(init)" and says nothing of the stop.
                // A start straight into FAULT is worded in lower case.
                match (from, to, reason) {
                    (_, State::Stop, _) => {}
                    (_, State::Backup, Reason::Startup) => {
                        tracing::info!("({instance}) Entering {to} STATE (init)");
                    }
                    (State::Init, State::Fault, _) => {
                        tracing::info!("({instance}) entering FAULT state");
                    }
                    _ => tracing::info!("({instance}) Entering {to} STATE"),
                }
                tracing::debug!("({instance}) {from} -> {to}: {reason:?}");
            }
            Debug::AdvertDropped {
                instance,
                src,
                reason,
            } => {
                tracing::debug!(%instance, %src, ?reason, "({instance}) dropped advert");
            }
            Debug::OldUnicastChecksum { instance } => {
                tracing::info!("({instance}) Setting unicast VRRPv3 checksum to old version");
            }
            Debug::EncodeFailed { instance, error } => {
                tracing::error!(%instance, %error, "({instance}) cannot encode advert");
            }
        }
    }
}
