//! Numbers read and written by hand, without `str::parse` or `core::fmt`:
//! their code is kilobytes of a firmware or of the browser package, and
//! nanosp only needs decimal and hex integers. One copy, shared by the
//! core's messages and option parsing and by the runtime crates (not a
//! stable API).

use alloc::string::String;

/// The decimal digits of `n`, most significant first, each handed to `out`
/// as a one-character string.
pub fn decimal(n: u64, out: &mut dyn FnMut(&str)) {
    let mut d = [0u8; 20];
    let mut at = d.len();
    // In 32 bits when it fits: a 64-bit division is a library call on a
    // 32-bit microcontroller (and firmware numbers are small).
    match u32::try_from(n) {
        Ok(mut n) => loop {
            at -= 1;
            d[at] = (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        },
        Err(_) => {
            let mut n = n;
            while n != 0 {
                at -= 1;
                d[at] = (n % 10) as u8;
                n /= 10;
            }
        }
    }
    emit(&d[at..], out);
}

/// `0x` and at least `width` lowercase hex digits of `n`, as `{n:#x}`
/// (width 1) and `{n:#04x}` (width 2) write them.
pub fn hex(n: u64, width: usize, out: &mut dyn FnMut(&str)) {
    out("0x");
    let mut d = [0u8; 16];
    let mut at = d.len();
    let mut n = n;
    while n != 0 || d.len() - at < width {
        at -= 1;
        d[at] = (n & 15) as u8;
        n >>= 4;
    }
    emit(&d[at..], out);
}

/// Appends `n` in decimal.
pub fn push_decimal(s: &mut String, n: u64) {
    decimal(n, &mut |d| s.push_str(d));
}

fn emit(digits: &[u8], out: &mut dyn FnMut(&str)) {
    for &x in digits {
        let mut b = [0u8; 4];
        out(char::from_digit(u32::from(x), 16)
            .unwrap_or('?')
            .encode_utf8(&mut b));
    }
}

/// A decimal integer as `str::parse` reads one: an optional `+` or `-`,
/// then at least one ASCII digit. `(negative, magnitude)`; `None` for
/// anything else or a magnitude past `u64`.
pub(crate) fn read_int(v: &str) -> Option<(bool, u64)> {
    let (neg, digits) = match v.as_bytes().first()? {
        b'-' => (true, &v.as_bytes()[1..]),
        b'+' => (false, &v.as_bytes()[1..]),
        _ => (false, v.as_bytes()),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((neg, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn numbers_are_written_as_core_fmt_writes_them() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            255,
            4096,
            65535,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, format!("{n}"));
            let mut h = String::new();
            hex(n, 1, &mut |p| h.push_str(p));
            assert_eq!(h, format!("{n:#x}"));
            let mut h2 = String::new();
            hex(n, 2, &mut |p| h2.push_str(p));
            assert_eq!(h2, format!("{n:#04x}"));
        }
    }
}
