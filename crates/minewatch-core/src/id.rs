//! Identifiers: mines, points, tags, cameras, meters and areas share one rule (contract §1).

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Whether `s` is a valid id: 1–64 characters of `A-Z a-z 0-9 _ - .`.
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_allow_the_contract_alphabet_and_length_only() {
        assert!(is_valid("140100001"));
        assert!(is_valid("P-01_a.b"));
        assert!(is_valid(&"x".repeat(64)));
        assert!(!is_valid(""));
        assert!(!is_valid(&"x".repeat(65)));
        assert!(!is_valid("P 01"));
        assert!(!is_valid("P/01"));
        assert!(!is_valid("点"));
    }
}
