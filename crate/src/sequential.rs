//! An inherently sequential computation: every step needs the previous
//! step's result, so no number of threads can make it faster.
//!
//! The book's example is f(x) = x² − x + 1 applied 20 times starting from 3.
//! The numbers double in length at every step and end with hundreds of thousands of
//! decimal digits (about 427,000), so they need big integers ([`num_bigint::BigUint`]).

use num_bigint::BigUint;

/// One step: x² − x + 1.
pub fn step(x: &BigUint) -> BigUint {
    x * x - x + 1u32
}

/// Applies [`step`] `steps` times to `start`.
pub fn iterate(start: u32, steps: usize) -> BigUint {
    let mut x = BigUint::from(start);
    for _ in 0..steps {
        x = step(&x);
    }
    x
}

/// The last `k` decimal digits of `x`, as a zero-padded string.
pub fn last_digits(x: &BigUint, k: u32) -> String {
    let modulus = BigUint::from(10u32).pow(k);
    format!("{:0>width$}", (x % modulus).to_string(), width = k as usize)
}

/// The number of decimal digits of `x`, from its bit length (exact to within
/// one digit; printing all of them would take far longer than the
/// computation itself).
pub fn approx_digits(x: &BigUint) -> u64 {
    (x.bits() as f64 * std::f64::consts::LOG10_2).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_steps_by_hand() {
        // 3 -> 7 -> 43 -> 1807
        assert_eq!(iterate(3, 3), BigUint::from(1807u32));
    }

    #[test]
    fn twenty_steps_end_in_35443() {
        let x = iterate(3, 20);
        assert_eq!(last_digits(&x, 5), "35443");
        let digits = approx_digits(&x);
        assert!((426_000..428_000).contains(&digits), "{digits}");
    }
}
