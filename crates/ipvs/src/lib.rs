//! IPVS over generic netlink: codecs, client and the desired-state reconciler.
