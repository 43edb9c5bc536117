//! A point's status bitmask (domain.md, "Point status"; the national networking files' bits) in
//! words: what `GET /api/mines/{id}` gives as `status_words` beside `status`, and what the
//! dashboard shows instead of "status 3".

/// Each bit of a point's status and its word, lowest bit first.
pub const STATUS_BITS: [(u32, &str); 8] = [
    (1, "alarm"),
    (2, "power-off"),
    (4, "calibration"),
    (8, "over range"),
    (16, "substation fault"),
    (32, "not polled"),
    (64, "paused"),
    (128, "sensor fault"),
];

/// The words of a status: `["normal"]` for 0, else one word per set bit (lowest first), and
/// `"unknown bit N"` for a bit the files do not define.
pub fn status_words(status: u32) -> Vec<String> {
    if status == 0 {
        return vec!["normal".to_string()];
    }
    (0..32)
        .map(|i| 1u32 << i)
        .filter(|bit| status & bit != 0)
        .map(|bit| match STATUS_BITS.iter().find(|(b, _)| *b == bit) {
            Some((_, word)) => (*word).to_string(),
            None => format!("unknown bit {bit}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_the_words_of_its_bits() {
        assert_eq!(status_words(0), ["normal"]);
        assert_eq!(status_words(3), ["alarm", "power-off"]);
        assert_eq!(status_words(4), ["calibration"]);
        assert_eq!(
            status_words(8 | 16 | 32 | 128),
            [
                "over range",
                "substation fault",
                "not polled",
                "sensor fault"
            ]
        );
        assert_eq!(status_words(64 | 256), ["paused", "unknown bit 256"]);
    }
}
