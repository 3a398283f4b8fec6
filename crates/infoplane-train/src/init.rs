//! Deterministic initialization. burn draws parameters lazily from a process-wide generator;
//! seeding and drawing happen here under one lock, in field order, so a seed gives the same
//! weights whatever else the process is doing — provided that other code drawing from burn's
//! generator in parallel threads also goes through [`seeded`] (every parameter the library
//! creates does).

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

static INIT_LOCK: Mutex<()> = Mutex::new(());

struct Touch;

impl ModuleVisitor for Touch {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Builds a module with `build` after seeding `device` with `seed`, and draws every parameter
/// before releasing the lock.
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce(&Device) -> M) -> M {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    let m = build(device);
    m.visit(&mut Touch);
    m
}
