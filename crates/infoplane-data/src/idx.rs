//! Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! IDX: a big-endian header — magic `0x0000_08NN` (unsigned bytes, NN = number of dimensions),
//! one u32 per dimension — then the data bytes. Images are `0x0803` (n, rows, cols), labels
//! `0x0801` (n). A gzipped file is recognised by its `1f 8b` signature, whatever its name.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

/// Magic number of an IDX file of unsigned-byte images (three dimensions).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (one dimension).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Images read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// Row-major pixel bytes, `count * rows * cols` of them.
    pub pixels: Vec<u8>,
}

/// Reads a whole file, transparently gunzipping it when it starts with the gzip signature.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::io(
                    path,
                    std::io::Error::new(
                        e.kind(),
                        format!("corrupt or truncated gzip stream ({e}); get the file again"),
                    ),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn header(
    path: &Path,
    bytes: &[u8],
    what: &'static str,
    magic: u32,
    dims: usize,
) -> Result<Vec<usize>> {
    let need = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: need as u64,
            found: bytes.len() as u64,
        });
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.into(),
            what,
            expected: magic,
            found,
        });
    }
    if bytes.len() < need {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: need as u64,
            found: bytes.len() as u64,
        });
    }
    Ok((0..dims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect())
}

/// Parses IDX image bytes (already decompressed); `path` is only used in errors.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<IdxImages> {
    let d = header(path, bytes, "images", IDX_IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (d[0], d[1], d[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            path: path.into(),
            what: "IDX image",
            reason: format!("images of {rows}x{cols} pixels"),
        });
    }
    let body = &bytes[16..];
    // Checked: three u32 sizes can exceed u64 together.
    let expected = (count as u64)
        .checked_mul(rows as u64)
        .and_then(|v| v.checked_mul(cols as u64))
        .ok_or_else(|| DataError::BadHeader {
            path: path.into(),
            what: "IDX image",
            reason: format!("{count} images of {rows}x{cols} pixels overflow"),
        })?;
    if (body.len() as u64) < expected {
        return Err(DataError::Truncated {
            path: path.into(),
            expected,
            found: body.len() as u64,
        });
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: body[..expected as usize].to_vec(),
    })
}

/// Parses IDX label bytes (already decompressed); `path` is only used in errors.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let d = header(path, bytes, "labels", IDX_LABELS_MAGIC, 1)?;
    let body = &bytes[8..];
    if body.len() < d[0] {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: d[0] as u64,
            found: body.len() as u64,
        });
    }
    Ok(body[..d[0]].to_vec())
}

/// Reads an IDX image file (raw or gzipped).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(path, &read_maybe_gz(path)?)
}

/// Reads an IDX label file (raw or gzipped).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(path, &read_maybe_gz(path)?)
}

/// Encodes images in the IDX format (used by tests and to export subsets).
pub fn encode_images(count: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IDX_IMAGES_MAGIC, count as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels in the IDX format.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let px: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let img = parse_images(Path::new("x"), &encode_images(2, 3, 4, &px)).unwrap();
        assert_eq!((img.count, img.rows, img.cols), (2, 3, 4));
        assert_eq!(img.pixels, px);
        let lab = parse_labels(Path::new("y"), &encode_labels(&[3, 1, 4])).unwrap();
        assert_eq!(lab, vec![3, 1, 4]);
    }

    #[test]
    fn wrong_magic_and_truncation() {
        let bytes = encode_labels(&[1, 2]);
        let err = parse_images(Path::new("lab.idx"), &bytes).unwrap_err();
        assert!(
            matches!(err, DataError::BadMagic { found: 0x801, .. }),
            "{err}"
        );
        let mut img = encode_images(2, 2, 2, &[0; 8]);
        img.truncate(20);
        let err = parse_images(Path::new("img.idx"), &img).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 8,
                    found: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("img.idx"));
        let err = parse_labels(Path::new("l"), &[0, 0]).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }));
    }
}
