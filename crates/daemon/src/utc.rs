//! Calendar fields of a UTC instant, for the timestamps the daemon writes in keepalived's formats
//! (console and syslog lines, dump files, smtp_alert `Date:` headers). rkeepalived writes UTC
//! where keepalived writes local time (docs/COMPATIBILITY.md).

/// Abbreviated weekday names, Sunday first.
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// Abbreviated month names.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A second of UTC time split into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
    /// 0 (Sunday) to 6.
    weekday: usize,
}

impl Utc {
    /// The calendar fields of `secs` seconds since the Unix epoch (negative: before it).
    pub fn from_unix(secs: i64) -> Utc {
        let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
        let field = |v: i64| u32::try_from(v).unwrap_or(0);
        Utc {
            year,
            month,
            day,
            hour: field(day_secs / 3600),
            minute: field(day_secs / 60 % 60),
            second: field(day_secs % 60),
            weekday,
        }
    }

    /// Now, to the second.
    pub fn now() -> Utc {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Utc::from_unix(secs)
    }

    /// `Sun`, `Mon`, ...
    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS[self.weekday % 7]
    }

    /// `Jan`, `Feb`, ...
    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month as usize).saturating_sub(1) % 12]
    }

    /// keepalived's time of day, `Sun Nov 22 05:53:45 2026`, with `.micros` after the seconds
    /// when given (`Sun Nov 22 05:53:45.123456 2026`).
    pub fn ctime(&self, micros: Option<i64>) -> String {
        let frac = micros.map_or(String::new(), |m| format!(".{m:06}"));
        format!(
            "{} {} {:2} {:02}:{:02}:{:02}{frac} {}",
            self.weekday_name(),
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn fields_and_names() {
        let t = Utc::from_unix(1_795_336_263);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2026, 11, 22, 8, 31, 3)
        );
        assert_eq!((t.weekday_name(), t.month_name()), ("Sun", "Nov"));
        assert_eq!(Utc::from_unix(0).weekday_name(), "Thu");
        assert_eq!(Utc::from_unix(-1).weekday_name(), "Wed");
    }
}
