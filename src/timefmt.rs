//! ISO-8601 formatting and parsing for the timestamps `auth.json` holds.
//!
//! The reference writes `2026-11-22T23:23:26.093632+00:00` (`updated_at`, `obtained_at`) and
//! `2026-11-22T23:23:26.093Z` (`last_refresh`). We format and parse those shapes; a timestamp
//! without an offset is read as UTC.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split(epoch: f64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let mut secs = epoch.floor() as i64;
    let mut micros = ((epoch - epoch.floor()) * 1e6).round() as i64;
    if micros >= 1_000_000 {
        secs += 1;
        micros -= 1_000_000;
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60, micros)
}

/// `2026-11-22T23:23:26.093632+00:00` (Python's `datetime.isoformat()` for an aware UTC time).
pub fn iso_utc_micros(epoch: f64) -> String {
    let (y, mo, d, h, mi, s, us) = split(epoch);
    if us == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}+00:00")
    }
}

/// `2026-11-22T23:23:26Z`, the `...Z` shape used by `last_refresh`.
pub fn iso_utc_z(epoch: f64) -> String {
    let (y, mo, d, h, mi, s, _) = split(epoch);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM]` (or a bare date) to epoch seconds.
pub fn parse_iso(input: &str) -> Option<f64> {
    let s = input.trim();
    if s.len() < 10 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) as f64 * 86_400.0;
    if rest.is_empty() {
        return Some(secs);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // Split off the offset.
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 {
            return None;
        }
        let oh = num(&digits[..2])?;
        let om = num(&digits[2..])?;
        (t, sign * (oh * 3600 + om * 60))
    } else {
        (rest, 0)
    };
    let mut tp = time.split(':');
    let h = num(tp.next()?)?;
    let mi = num(tp.next()?)?;
    let sec_part = tp.next().unwrap_or("0");
    if tp.next().is_some() || h > 23 || mi > 59 {
        return None;
    }
    let (whole, frac) = match sec_part.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (sec_part, ""),
    };
    let whole = num(whole)?;
    let frac: f64 = if frac.is_empty() {
        0.0
    } else {
        num(frac)?;
        format!("0.{frac}").parse().ok()?
    };
    secs += (h * 3600 + mi * 60 + whole) as f64 + frac;
    Some(secs - offset as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(iso_utc_micros(0.0), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            iso_utc_micros(1_795_393_784.184727),
            "2026-11-23T00:29:44.184727+00:00"
        );
        assert_eq!(iso_utc_z(1_795_393_784.9), "2026-11-23T00:29:44Z");
    }

    #[test]
    fn parses_the_shapes_the_reference_writes() {
        assert_eq!(
            parse_iso("2036-11-20T00:29:44+00:00"),
            Some(2_110_753_784.0)
        );
        assert_eq!(parse_iso("2036-11-20T00:29:44Z"), Some(2_110_753_784.0));
        assert_eq!(
            parse_iso("2036-11-20T02:29:44+02:00"),
            Some(2_110_753_784.0)
        );
        let v = parse_iso("2026-11-23T00:29:44.184727+00:00").unwrap();
        assert!((v - 1_795_393_784.184727).abs() < 1e-5);
        assert_eq!(parse_iso("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_iso("garbage"), None);
        assert_eq!(parse_iso(""), None);
        assert_eq!(parse_iso("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn round_trips() {
        for t in [0.0, 1_700_000_000.5, 4_102_444_800.0] {
            let back = parse_iso(&iso_utc_micros(t)).unwrap();
            assert!((back - t).abs() < 1e-5, "{t} -> {back}");
        }
    }
}
