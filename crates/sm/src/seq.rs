//! Stanza counters: `u32` values that wrap at 2^32 and compare as serial numbers.
//!
//! XEP-0198 §4: "the value of 'h' ... MUST be reset to zero ... when it reaches 2^32"; comparing
//! two counters therefore uses RFC 1982 serial number arithmetic with `SERIAL_BITS = 32`: `a`
//! is before `b` when `b - a (mod 2^32)` lies in `1..2^31`.

/// How far `to` is ahead of `from`, modulo 2^32.
#[inline]
#[must_use]
pub(crate) const fn distance(from: u32, to: u32) -> u32 {
    to.wrapping_sub(from)
}

/// Whether `a` is strictly before `b` as a serial number (RFC 1982 §3.2).
#[inline]
#[must_use]
pub(crate) const fn is_before(a: u32, b: u32) -> bool {
    let d = distance(a, b);
    d != 0 && d < (1 << 31)
}

/// Where an acknowledgement `h` falls relative to what we have seen acked (`acked`) and what we
/// have transmitted (`sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckPosition {
    /// `acked <= h <= sent`: acknowledges `n` new stanzas (possibly zero).
    New(u32),
    /// `h` is before `acked`: the peer's counter went backwards.
    Backwards,
    /// `h` is after `sent`: the peer acknowledged stanzas we never sent.
    TooHigh,
}

/// Classifies an incoming `h` (XEP-0198 §4, §5: handled-count-too-high).
#[must_use]
pub(crate) const fn classify_ack(acked: u32, sent: u32, h: u32) -> AckPosition {
    let new = distance(acked, h);
    if new <= distance(acked, sent) {
        AckPosition::New(new)
    } else if is_before(h, acked) {
        AckPosition::Backwards
    } else {
        AckPosition::TooHigh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps() {
        assert!(is_before(u32::MAX, 0));
        assert!(is_before(u32::MAX - 5, 3));
        assert!(!is_before(3, u32::MAX - 5));
        assert!(!is_before(7, 7));
        assert_eq!(distance(u32::MAX - 1, 2), 4);
    }

    #[test]
    fn classify_across_wrap() {
        let acked = u32::MAX - 2;
        let sent = 4; // seven stanzas in flight across the wrap
        assert_eq!(classify_ack(acked, sent, acked), AckPosition::New(0));
        assert_eq!(classify_ack(acked, sent, 0), AckPosition::New(3));
        assert_eq!(classify_ack(acked, sent, 4), AckPosition::New(7));
        assert_eq!(classify_ack(acked, sent, 5), AckPosition::TooHigh);
        assert_eq!(
            classify_ack(acked, sent, u32::MAX - 10),
            AckPosition::Backwards
        );
    }

    proptest! {
        #[test]
        fn classification_is_total_and_consistent(acked: u32, inflight in 0u32..1_000_000, h: u32) {
            let sent = acked.wrapping_add(inflight);
            match classify_ack(acked, sent, h) {
                AckPosition::New(n) => {
                    prop_assert!(n <= inflight);
                    prop_assert_eq!(acked.wrapping_add(n), h);
                }
                AckPosition::Backwards => prop_assert!(is_before(h, acked)),
                AckPosition::TooHigh => prop_assert!(distance(acked, h) > inflight),
            }
        }
    }
}
