//! The analyses that ship with infoplane, as observers.

pub mod infoplane;
pub mod probes;

pub use infoplane::InfoPlaneObserver;
pub use probes::{ProbeObserver, ProbeResult, read_probes};
