//! Hand-written JSON: the payloads have a fixed shape, every id is from the safe id alphabet
//! (contract §1, no escaping needed), and numbers have a fixed number of decimals, so writing
//! straight into a `String` is both simple and several times faster than building values.

/// Appends `v` rounded to `decimals` places (at most 6), without exponent or `-0`.
pub(crate) fn push_fixed(out: &mut String, v: f64, decimals: u32) {
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals);
    let scaled = (v * scale as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 9.0e15 {
        out.push('0');
        return;
    }
    let n = scaled as i64;
    if n < 0 {
        out.push('-');
    }
    let n = n.unsigned_abs();
    push_uint(out, n / scale, 1);
    if decimals > 0 {
        out.push('.');
        push_uint(out, n % scale, decimals as usize);
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (`core::fmt` is several times
/// slower for this, and a batch has hundreds of numbers).
pub(crate) fn push_uint(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n > 0 || digits.len() - i < width.max(1) {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends `"key":"value"` for an id-like value (no escaping needed).
pub(crate) fn push_str_field(out: &mut String, key: &str, value: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":\"");
    out.push_str(value);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: f64, d: u32) -> String {
        let mut s = String::new();
        push_fixed(&mut s, v, d);
        s
    }

    #[test]
    fn numbers_are_rounded_to_their_decimals_without_negative_zero() {
        assert_eq!(fixed(0.424, 2), "0.42");
        assert_eq!(fixed(0.425_1, 2), "0.43");
        assert_eq!(fixed(20.9, 2), "20.90");
        assert_eq!(fixed(2212.6, 0), "2213");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-1.25, 1), "-1.3");
        assert_eq!(fixed(f64::NAN, 2), "0");
        assert_eq!(fixed(7.0, 1), "7.0");
        assert_eq!(fixed(0.05, 2), "0.05");
        assert_eq!(fixed(1234.0, 0), "1234");
        let mut s = String::new();
        push_uint(&mut s, 0, 1);
        push_uint(&mut s, u64::MAX, 1);
        push_uint(&mut s, 7, 3);
        assert_eq!(s, format!("0{}007", u64::MAX));
    }
}
