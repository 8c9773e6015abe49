//! Samples and the staleness marker.

/// The bit pattern of Prometheus's staleness marker: a NaN that no
/// arithmetic produces (upstream `model/value/value.go`). Stored samples
/// with exactly these bits mark the end of a series.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One value at one millisecond timestamp.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; compare with [`Sample::bit_eq`] when NaNs matter.
    pub v: f64,
}

impl Sample {
    /// A sample at `t` with value `v`.
    pub fn new(t: i64, v: f64) -> Self {
        Sample { t, v }
    }

    /// Whether both timestamp and value bits are identical (NaN-safe).
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN)
}

/// Whether `v` is the staleness marker (not merely any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_a_distinct_nan() {
        assert!(stale_nan().is_nan());
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(Sample::new(1, f64::NAN).bit_eq(&Sample::new(1, f64::NAN)));
        assert!(!Sample::new(1, f64::NAN).bit_eq(&Sample::new(1, stale_nan())));
    }
}
