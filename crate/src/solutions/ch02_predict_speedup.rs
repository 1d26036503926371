fn predict_speedup(t1: f64, tk: f64, k: usize, n: usize) -> Result<f64, String> {
    if k < 2 {
        return Err(format!("timings on {k} worker(s) cannot separate serial from parallel work: need 2 or more"));
    }
    if n == 0 {
        return Err("there is no speedup on 0 workers".into());
    }
    if !(t1.is_finite() && tk.is_finite() && t1 > 0.0 && tk > 0.0) {
        return Err(format!("times must be positive numbers of seconds, got {t1} and {tk}"));
    }
    // T(k) = T(1)·(B + (1 − B)/k)  ⇒  B = (k·T(k)/T(1) − 1) / (k − 1)
    let k = k as f64;
    let b = (k * tk / t1 - 1.0) / (k - 1.0);
    if b > 1.0 {
        return Err(format!("{k} workers were slower than one (B = {b:.3} > 1): overheads the law leaves out"));
    }
    if b < 0.0 {
        return Err(format!("{k} workers were more than {k}x faster (B = {b:.3} < 0): the law cannot explain that"));
    }
    Ok(1.0 / (b + (1.0 - b) / n as f64))
}
