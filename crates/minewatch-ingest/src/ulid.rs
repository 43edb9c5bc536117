//! Alert ids: ULIDs (48-bit millisecond time, 80 bits that are unique here), sortable by time.

use std::sync::OnceLock;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A per-process salt so ids of two instances sharing a store do not collide.
fn salt() -> u16 {
    static SALT: OnceLock<u16> = OnceLock::new();
    *SALT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        (nanos ^ std::process::id().rotate_left(16)) as u16
    })
}

/// The ULID of time `ms` and a unique `seq`.
pub fn ulid(ms: i64, seq: u64) -> String {
    let value: u128 =
        ((ms.max(0) as u128 & ((1 << 48) - 1)) << 80) | ((seq as u128) << 16) | salt() as u128;
    let mut out = [0u8; 26];
    for (i, c) in out.iter_mut().enumerate() {
        let shift = 125 - i * 5;
        *c = ALPHABET[((value >> shift) & 0x1f) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_chars_and_sort_by_time_then_seq() {
        let a = ulid(1_795_392_000_000, 1);
        let b = ulid(1_795_392_000_000, 2);
        let c = ulid(1_795_392_000_001, 0);
        assert_eq!(a.len(), 26);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("01M82V7M"), "{a}");
    }
}
