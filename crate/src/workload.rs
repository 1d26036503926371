//! Workloads shared by several chapters: a seeded random number generator
//! (so a failing round of a judge can be named and replayed by its seed),
//! random pauses that shake up thread interleavings, and a CPU burner whose
//! amount of work is known.

use std::time::Duration;

/// A tiny deterministic random number generator (xorshift), so that a
/// failing round can be named by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A random pause: usually nothing, sometimes a yield, sometimes a short
/// sleep. Sprinkled between queue operations, it shakes up the interleaving.
pub fn jitter(rng: &mut Rng) {
    match rng.below(10) {
        0..=5 => {}
        6..=8 => std::thread::yield_now(),
        _ => std::thread::sleep(Duration::from_micros(rng.below(300))),
    }
}

/// Burns CPU for `units` units of work (about the same time each), with no
/// memory traffic: the stand-in for "work" in the serial-fraction simulation.
pub fn busy(units: u64) -> u64 {
    // Integer divisions, like the trial division of chapters 1 and 2.
    let n = std::hint::black_box(10_000_000_000_037u64);
    let mut acc = 0u64;
    for d in 3..3 + units * 2_000 {
        acc = acc.wrapping_add(n % d);
    }
    std::hint::black_box(acc)
}

/// How many [`busy`] units take about `target` on one core of this machine
/// (measured now, so experiments last the same time on fast and slow machines).
pub fn units_for(target: std::time::Duration) -> u64 {
    let probe = 20;
    let one = crate::measure::measure(1, 3, || busy(probe)).median / probe as f64;
    ((target.as_secs_f64() / one.max(1e-9)).round() as u64).max(1)
}
