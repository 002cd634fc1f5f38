//! How durations read in messages.
//!
//! One format for every error and message, short and exact enough to act
//! on: at most three significant digits in the largest unit that keeps the
//! number at 1 or more (`250µs`, `1.5ms`, `101ms`, `1.2s`, `59.9s`), and
//! minutes and hours from one minute on (`1m30s`, `2h`, `1h0m5s`, whole
//! seconds). Digits past the third are cut, not rounded, so a duration never
//! reads longer than it was: `101.9ms` reads `101ms`.

use std::fmt;
use std::time::Duration;

/// A duration that displays in the crate's one human format (see the
/// module's documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs >= 60 {
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            if h > 0 {
                write!(f, "{h}h")?;
                if m == 0 && s == 0 {
                    return Ok(());
                }
            }
            if h > 0 || m > 0 {
                write!(f, "{m}m")?;
            }
            if s > 0 || (h == 0 && m == 0) {
                write!(f, "{s}s")?;
            }
            return Ok(());
        }
        let nanos = d.as_nanos() as u64;
        let (unit, per) = match nanos {
            0 => return f.write_str("0s"),
            n if n >= 1_000_000_000 => ("s", 1_000_000_000),
            n if n >= 1_000_000 => ("ms", 1_000_000),
            n if n >= 1_000 => ("µs", 1_000),
            _ => ("ns", 1),
        };
        let whole = nanos / per;
        write!(f, "{whole}")?;
        // Three significant digits in all: the rest are decimals.
        let decimals = 3usize.saturating_sub(whole.to_string().len());
        if decimals > 0 {
            let scale = 10u64.pow(decimals as u32);
            let frac = (nanos % per) * scale / per;
            if frac > 0 {
                let digits = format!("{frac:0decimals$}");
                write!(f, ".{}", digits.trim_end_matches('0'))?;
            }
        }
        f.write_str(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_same_everywhere() {
        let table = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(250), "250µs"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_micros(1_005), "1ms"),
            (Duration::from_millis(20), "20ms"),
            (Duration::from_nanos(101_145_812), "101ms"),
            (Duration::from_nanos(101_999_999), "101ms"),
            (Duration::from_micros(12_340), "12.3ms"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_millis(999), "999ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_200), "1.2s"),
            (Duration::from_millis(1_234), "1.23s"),
            (Duration::from_millis(5_000), "5s"),
            (Duration::from_millis(59_950), "59.9s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_millis(90_500), "1m30s"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(3_605), "1h0m5s"),
            (Duration::from_secs(7_260), "2h1m"),
            (Duration::from_secs(100 * 3_600), "100h"),
        ];
        for (duration, expected) in table {
            assert_eq!(Human(duration).to_string(), expected, "{duration:?}");
        }
    }
}
