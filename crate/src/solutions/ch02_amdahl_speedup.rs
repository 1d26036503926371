fn amdahl_speedup(b: f64, n: f64) -> f64 {
    1.0 / (b + (1.0 - b) / n)
}
