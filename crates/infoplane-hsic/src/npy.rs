//! A reader (and writer) for NumPy `.npy` files of f32 or f64, so activations exported from
//! PyTorch or JAX can be measured. Versions 1.0–3.0, little- or big-endian, C or Fortran order.

use std::path::Path;

use crate::error::{HsicError, Result};
use crate::kernel::Samples;

/// An n-dimensional array read from a `.npy` file, in C order, as f64.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// Values in C (row-major) order.
    pub values: Vec<f64>,
}

impl NpyArray {
    /// The array as samples: the first axis indexes samples, the rest is flattened.
    pub fn into_samples(self) -> Samples {
        let n = self.shape.first().copied().unwrap_or(1);
        let d = self.shape.iter().skip(1).product::<usize>();
        Samples::new(n, d, self.values)
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> HsicError {
    HsicError::Npy {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Value of `'key':` in the header dictionary, as raw text up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat_a = format!("'{key}'");
    let pat_b = format!("\"{key}\"");
    let start = header
        .find(&pat_a)
        .map(|p| p + pat_a.len())
        .or_else(|| header.find(&pat_b).map(|p| p + pat_b.len()))?;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

/// Parses `.npy` bytes; `path` only names the file in errors.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(
            path,
            "not a .npy file (missing the \\x93NUMPY magic); save arrays with numpy.save",
        ));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(path, format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| bad(path, "truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(path, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad(path, "header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (size, big, float64) = match descr {
        "<f4" | "=f4" | "f4" => (4, false, false),
        ">f4" => (4, true, false),
        "<f8" | "=f8" | "f8" => (8, false, true),
        ">f8" => (8, true, true),
        other => {
            return Err(bad(
                path,
                format!(
                    "unsupported dtype '{other}': only float32 and float64 arrays are read; convert with array.astype(numpy.float32)"
                ),
            ));
        }
    };
    let fortran = match dict_value(header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(bad(path, "header has no valid 'fortran_order'")),
    };
    let shape_txt =
        dict_value(header, "shape").ok_or_else(|| bad(path, "header has no 'shape'"))?;
    let shape = shape_txt
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(path, format!("bad shape {shape_txt}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // The header is untrusted: its shape is multiplied with checked arithmetic and compared
    // with the bytes actually present before anything is allocated.
    let needed = shape
        .iter()
        .try_fold(size, |acc: usize, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            bad(
                path,
                format!("shape {shape:?} holds more values than can be addressed: a damaged or hostile header"),
            )
        })?;
    let count = needed / size;
    let data = &bytes[hstart + hlen..];
    if data.len() < needed {
        return Err(bad(
            path,
            format!(
                "truncated: shape {shape:?} needs {needed} data bytes, the file has {}",
                data.len()
            ),
        ));
    }
    let mut values: Vec<f64> = data[..count * size]
        .chunks_exact(size)
        .map(|c| match (float64, big) {
            (false, false) => f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
            (false, true) => f32::from_be_bytes(c.try_into().expect("4 bytes")) as f64,
            (true, false) => f64::from_le_bytes(c.try_into().expect("8 bytes")),
            (true, true) => f64::from_be_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    if fortran && shape.len() > 1 {
        values = fortran_to_c(&values, &shape);
    }
    Ok(NpyArray { shape, values })
}

fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    let mut idx = vec![0usize; shape.len()];
    for o in out.iter_mut() {
        // Fortran offset of the C-order multi-index `idx`.
        let (mut off, mut stride) = (0, 1);
        for (k, &i) in idx.iter().enumerate() {
            off += i * stride;
            stride *= shape[k];
        }
        *o = values[off];
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| HsicError::Io {
        path: path.into(),
        source: e,
    })?;
    parse_npy(path, &bytes)
}

/// Encodes an f64 array (C order, version 1.0) — for tests and exports.
pub fn encode_npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let shape_txt = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fortran_order() {
        let v: Vec<f64> = (0..6).map(|i| i as f64 * 0.5).collect();
        let a = parse_npy(Path::new("a.npy"), &encode_npy_f64(&[2, 3], &v)).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.values, v);
        // The same 2x3 array [[0,1,2],[3,4,5]] stored in Fortran order: 0,3,1,4,2,5.
        let f = fortran_to_c(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0], &[2, 3]);
        assert_eq!(f, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn errors_name_the_problem() {
        let mut b = encode_npy_f64(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let mut ints = b.clone();
        let at = ints.windows(3).position(|w| w == b"<f8").unwrap();
        ints[at + 1] = b'i';
        let e = parse_npy(Path::new("i.npy"), &ints)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unsupported dtype '<i8'") && e.contains("i.npy"),
            "{e}"
        );
        b.truncate(b.len() - 3);
        assert!(
            parse_npy(Path::new("t.npy"), &b)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(parse_npy(Path::new("x.npy"), b"hello world").is_err());
    }

    /// A header whose shape multiplies past the address space is refused while reading the
    /// header, naming the file, before anything is allocated.
    #[test]
    fn shapes_that_overflow_are_refused_from_the_header() {
        for shape in [
            vec![1usize << 32, 1 << 29],
            vec![30, 1 << 61],
            vec![usize::MAX, 2],
        ] {
            let mut b = encode_npy_f64(&[1, 1], &[0.5]);
            let txt = format!("({}, {})", shape[0], shape[1]);
            let at = b.windows(6).position(|w| w == b"(1, 1)").unwrap();
            b.splice(at..at + 6, txt.bytes());
            // Keep the header length field consistent with the longer text.
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize + txt.len() - 6;
            b[8..10].copy_from_slice(&(hlen as u16).to_le_bytes());
            let e = parse_npy(Path::new("huge.npy"), &b)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("huge.npy: "), "{e}");
            assert!(
                e.contains("more values than can be addressed") || e.contains("truncated"),
                "{shape:?}: {e}"
            );
        }
    }
}
