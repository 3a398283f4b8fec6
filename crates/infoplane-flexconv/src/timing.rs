//! Optional wall-clock totals of this crate's operations, for profiling a training step
//! (`infoplane bench-step --op-times`): off by default, and then a relaxed atomic load per
//! operation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The timed operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Convolution forward pass.
    ConvForward,
    /// Convolution input gradient.
    ConvInputGradient,
    /// Convolution weight gradient.
    ConvWeightGradient,
    /// Convolution bias gradient.
    ConvBiasGradient,
    /// Max pooling forward pass.
    PoolForward,
    /// Max pooling input gradient.
    PoolBackward,
    /// Average pooling forward pass.
    AvgPoolForward,
    /// Average pooling input gradient.
    AvgPoolBackward,
    /// Batch norm forward pass (statistics and normalization).
    BatchNormForward,
    /// Batch norm gradients.
    BatchNormBackward,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 10] = [
        Op::ConvForward,
        Op::ConvInputGradient,
        Op::ConvWeightGradient,
        Op::ConvBiasGradient,
        Op::PoolForward,
        Op::PoolBackward,
        Op::AvgPoolForward,
        Op::AvgPoolBackward,
        Op::BatchNormForward,
        Op::BatchNormBackward,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Op::ConvForward => "conv forward",
            Op::ConvInputGradient => "conv input gradient",
            Op::ConvWeightGradient => "conv weight gradient",
            Op::ConvBiasGradient => "conv bias gradient",
            Op::PoolForward => "max-pool forward",
            Op::PoolBackward => "max-pool backward",
            Op::AvgPoolForward => "avg-pool forward",
            Op::AvgPoolBackward => "avg-pool backward",
            Op::BatchNormForward => "batch norm forward",
            Op::BatchNormBackward => "batch norm backward",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; Op::ALL.len()] = [const { AtomicU64::new(0) }; Op::ALL.len()];
static CALLS: [AtomicU64; Op::ALL.len()] = [const { AtomicU64::new(0) }; Op::ALL.len()];

/// Starts (or stops) recording, from zero.
pub fn enable(on: bool) {
    for i in 0..Op::ALL.len() {
        NANOS[i].store(0, Ordering::Relaxed);
        CALLS[i].store(0, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// Runs `f`, adding its wall time to `op` when recording.
pub fn time<T>(op: Op, f: impl FnOnce() -> T) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let t0 = Instant::now();
    let out = f();
    let i = op as usize;
    NANOS[i].fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
    out
}

/// (operation, calls, total seconds) since [`enable`].
pub fn totals() -> Vec<(Op, u64, f64)> {
    Op::ALL
        .iter()
        .enumerate()
        .map(|(i, &op)| {
            (
                op,
                CALLS[i].load(Ordering::Relaxed),
                NANOS[i].load(Ordering::Relaxed) as f64 * 1e-9,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_when_enabled() {
        enable(false);
        assert_eq!(time(Op::PoolBackward, || 7), 7);
        assert!(totals().iter().all(|(_, calls, _)| *calls == 0));
        enable(true);
        time(Op::PoolBackward, || {
            std::thread::sleep(std::time::Duration::from_millis(2))
        });
        let t = totals();
        let (_, calls, secs) = t.iter().find(|(op, ..)| *op == Op::PoolBackward).unwrap();
        assert_eq!(*calls, 1);
        assert!(*secs >= 0.002);
        enable(false);
    }
}
