//! The randomness behind the core's seed (uuid v7s and retry jitter).
//! Identity (the anonymous id, `identify`, sessions) lives in `js/`.

use crate::js;

/// 16 random bytes from `crypto.getRandomValues`, or, where that is
/// missing, from the clocks (only uniqueness matters here, not secrecy).
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if js::get_random_values(&mut bytes).is_err() || bytes == [0u8; 16] {
        let mix = (js::wall_ms() * 1000.0) as u64 ^ (js::monotonic_ms() * 1.0e6) as u64;
        let mut x = mix | 1;
        for b in bytes.iter_mut() {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    bytes
}

/// A seed for the core's uuid v7s and retry jitter.
pub fn random_u64() -> u64 {
    let b = random_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}
