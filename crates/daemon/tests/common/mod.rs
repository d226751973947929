//! Helpers shared by the daemon's integration suites.
#![allow(dead_code)]

pub mod vm;
