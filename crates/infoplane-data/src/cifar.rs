//! Readers for the binary versions of CIFAR-10 and CIFAR-100.
//!
//! CIFAR-10 (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): records of 3073 bytes,
//! one label byte then 3072 pixel bytes, channel-major (1024 red, 1024 green, 1024 blue, each
//! row-major 32x32). CIFAR-100 (`train.bin`, `test.bin`): records of 3074 bytes, a coarse label
//! byte (20 superclasses), a fine label byte (100 classes), then the same 3072 pixel bytes.

use std::path::Path;

use crate::error::{DataError, Result};

/// Pixel bytes of one 3x32x32 CIFAR image.
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;
/// Record size of CIFAR-10 binary files.
pub const CIFAR10_RECORD: usize = 1 + CIFAR_PIXELS;
/// Record size of CIFAR-100 binary files.
pub const CIFAR100_RECORD: usize = 2 + CIFAR_PIXELS;

/// Samples read from CIFAR binary files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CifarRecords {
    /// Channel-major pixel bytes, `CIFAR_PIXELS` per image.
    pub pixels: Vec<u8>,
    /// Labels (CIFAR-10 classes, or CIFAR-100 fine classes).
    pub labels: Vec<u8>,
    /// CIFAR-100 coarse labels (empty for CIFAR-10).
    pub coarse_labels: Vec<u8>,
}

impl CifarRecords {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

fn read_records(path: &Path, record: usize, what: &'static str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::RecordSize {
            path: path.into(),
            what,
            record,
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn check_label(path: &Path, index: usize, label: u8, classes: usize) -> Result<()> {
    if label as usize >= classes {
        return Err(DataError::BadLabel {
            path: path.into(),
            index,
            label: label as u32,
            classes,
        });
    }
    Ok(())
}

/// Appends the records of one CIFAR-10 binary file to `out`.
pub fn read_cifar10_file(path: &Path, out: &mut CifarRecords) -> Result<()> {
    let bytes = read_records(path, CIFAR10_RECORD, "CIFAR-10")?;
    for (i, rec) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        check_label(path, i, rec[0], 10)?;
        out.labels.push(rec[0]);
        out.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Appends the records of one CIFAR-100 binary file to `out`.
pub fn read_cifar100_file(path: &Path, out: &mut CifarRecords) -> Result<()> {
    let bytes = read_records(path, CIFAR100_RECORD, "CIFAR-100")?;
    for (i, rec) in bytes.chunks_exact(CIFAR100_RECORD).enumerate() {
        check_label(path, i, rec[0], 20)?;
        check_label(path, i, rec[1], 100)?;
        out.coarse_labels.push(rec[0]);
        out.labels.push(rec[1]);
        out.pixels.extend_from_slice(&rec[2..]);
    }
    Ok(())
}

/// Encodes CIFAR-10 records (tests write official-format files with it).
pub fn encode_cifar10(labels: &[u8], pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * CIFAR10_RECORD);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend_from_slice(&pixels[i * CIFAR_PIXELS..(i + 1) * CIFAR_PIXELS]);
    }
    out
}

/// Encodes CIFAR-100 records: coarse label, fine label, pixels.
pub fn encode_cifar100(coarse: &[u8], fine: &[u8], pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fine.len() * CIFAR100_RECORD);
    for i in 0..fine.len() {
        out.push(coarse[i]);
        out.push(fine[i]);
        out.extend_from_slice(&pixels[i * CIFAR_PIXELS..(i + 1) * CIFAR_PIXELS]);
    }
    out
}
