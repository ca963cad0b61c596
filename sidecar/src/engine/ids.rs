//! Run identifiers: sortable by start time, unique enough to never collide in one workspace.

use odw_protocol::RunId;

/// A new id like `r-20261128-042501-7f3a`.
pub fn new_run_id() -> RunId {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let suffix: u16 = rand::random();
    RunId::from(format!(
        "r-{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{suffix:04x}",
        t / 3600,
        (t / 60) % 60,
        t % 60
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_785), (2026, 11, 28));
        let id = super::new_run_id();
        assert!(id.0.starts_with("r-20"), "{id}");
        assert_eq!(id.0.len(), "r-20261128-042501-7f3a".len());
    }
}
