//! Calendar arithmetic on ms since the epoch: days, hours, civil dates.

/// One day, in ms.
pub const DAY_MS: i64 = 86_400_000;
/// One hour, in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// Hours in a day (UTC: no day has more or fewer).
pub const DAY_HOURS: i64 = 24;

/// Reads an optional time in ms since the epoch: absent or `null` is
/// `None`; anything else that is not an integer is refused in words that
/// name a `Date`'s `getTime()` (a `Date` reaches the engine as its ISO
/// text).
pub fn optional_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(not_ms(&v))),
    }
}

/// Why `v`, given for a time, is not one: in words that name a `Date`'s
/// `getTime()`.
pub fn not_ms(v: &serde_json::Value) -> String {
    format!("must be an integer number of ms since the epoch (a Date's getTime()), not {v}")
}

/// The civil date (year, month 1-12, day 1-31) of a day number since the
/// epoch (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number since the epoch of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_675), (2023, 11, 14));
        assert_eq!(civil(-1), (1969, 12, 31));
        for d in [-800_000, -1, 0, 59, 60, 11_016, 19_782, 2_932_896] {
            let (y, m, dd) = civil(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
