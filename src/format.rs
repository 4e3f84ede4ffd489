//! How numbers are shown to people: the one place that decides, for every table, diagnostic and
//! report.

/// Formats a number the way a user would write it.
pub fn number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let abs = value.abs();
    if value.fract() == 0.0 && abs < 1e15 {
        return format!("{value:.0}");
    }
    if (1e-4..1e7).contains(&abs) {
        let s = format!("{value:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{value:e}")
    }
}

/// A count for people: `1.73M`, `950k`, `12`.
pub fn si(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        v if v >= 1e12 => (value / 1e12, "T"),
        v if v >= 1e9 => (value / 1e9, "B"),
        v if v >= 1e6 => (value / 1e6, "M"),
        v if v >= 1e3 => (value / 1e3, "k"),
        _ => return format!("{value:.0}"),
    };
    let digits = format!("{scaled:.3}");
    format!("{}{suffix}", digits.trim_end_matches('0').trim_end_matches('.'))
}

/// Four significant digits, in scientific notation outside [1e-3, 1e6).
pub fn measured(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    }
}

/// Memory for people: `1.4 GiB`, `250 MiB`.
pub fn bytes(n: u64) -> String {
    const TIB: f64 = (1u64 << 40) as f64;
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let n = n as f64;
    if n >= TIB {
        format!("{:.1} TiB", n / TIB)
    } else if n >= GIB {
        format!("{:.1} GiB", n / GIB)
    } else if n >= MIB {
        format!("{:.0} MiB", (n / MIB).ceil())
    } else {
        format!("{:.0} KiB", (n / 1024.0).ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(5 << 40), "5.0 TiB");
        assert_eq!(bytes(250 << 20), "250 MiB");
        // Below a MiB (a toy model's weights), KiB, rounded up as MiB are.
        assert_eq!(bytes(1), "1 KiB");
        assert_eq!(bytes(68_000), "67 KiB");
        assert_eq!(bytes((1 << 20) + 1), "2 MiB");
    }
}
