fn serial_fraction(t1: f64, tn: f64, n: usize) -> Option<f64> {
    if n < 2 || t1 <= 0.0 || tn <= 0.0 {
        return None;
    }
    // T(N) = T(1)·(B + (1 − B)/N)  ⇒  B = (N·T(N)/T(1) − 1) / (N − 1)
    let n = n as f64;
    Some((n * tn / t1 - 1.0) / (n - 1.0))
}
