//! Sizes computed before anything is allocated: checked arithmetic on sizes that come from a
//! config or a file header, and a check against the machine's memory, so that an impossible
//! size is refused with its name instead of aborting the process (or, on a host that
//! overcommits memory, filling it first).

/// Bytes of physical memory of this machine (`MemTotal` of `/proc/meminfo`), or `None` where
/// it cannot be read (then only overflow is refused).
pub fn physical_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

fn parse_mem_total(meminfo: &str) -> Option<u128> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let value: u128 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// The product of `factors`, or `None` when it overflows `u128`.
pub fn product(factors: &[usize]) -> Option<u128> {
    factors
        .iter()
        .try_fold(1u128, |acc, &f| acc.checked_mul(f as u128))
}

/// Why a size was refused: it overflows, or it exceeds the machine's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    /// The bytes needed (`None`: the computation overflowed).
    pub needed: Option<u128>,
    /// The machine's memory in bytes (`None`: unknown).
    pub available: Option<u128>,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.needed, self.available) {
            (None, _) => write!(f, "the size overflows 128-bit arithmetic"),
            (Some(n), Some(a)) => write!(
                f,
                "needs {} but this machine has {} of memory",
                human_bytes(n),
                human_bytes(a)
            ),
            (Some(n), None) => write!(f, "needs {}", human_bytes(n)),
        }
    }
}

/// Refuses `bytes` (`None`: an overflowed computation) when it overflows or exceeds the
/// machine's physical memory.
pub fn check_fits(bytes: Option<u128>) -> Result<u128, TooLarge> {
    check_fits_in(bytes, physical_bytes())
}

/// [`check_fits`] against a given memory size (`None`: unknown, only overflow is refused).
pub fn check_fits_in(bytes: Option<u128>, available: Option<u128>) -> Result<u128, TooLarge> {
    match (bytes, available) {
        (Some(b), Some(a)) if b <= a => Ok(b),
        (Some(b), None) if b <= usize::MAX as u128 => Ok(b),
        (needed, available) => Err(TooLarge { needed, available }),
    }
}

/// Bytes in words: "512 B", "3.2 MiB", "1.5 TiB", "2.1e6 EiB".
pub fn human_bytes(b: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{b} B"),
        _ if v >= 1e4 => format!("{v:.1e} {}", UNITS[u]),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_mem_total(text), Some(24_576_000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 3 kB\n"), None);
    }

    #[test]
    fn products_overflow_to_none_and_sizes_beyond_memory_are_refused() {
        assert_eq!(product(&[2, 3, 4]), Some(24));
        assert_eq!(product(&[usize::MAX, usize::MAX, 2]), None);
        let gib = 1u128 << 30;
        assert_eq!(check_fits_in(Some(gib), Some(2 * gib)), Ok(gib));
        let e = check_fits_in(Some(3 * gib), Some(2 * gib)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "needs 3.0 GiB but this machine has 2.0 GiB of memory"
        );
        assert!(check_fits_in(None, Some(gib)).is_err());
        assert!(check_fits_in(Some(u128::MAX), None).is_err());
        assert_eq!(human_bytes(512), "512 B");
    }
}
