use concurrency_lab::reduction::Flaw;

fn find_flaw(op: &dyn Fn(f64, f64) -> f64, samples: &[f64]) -> Option<Flaw> {
    // Every triple, repeats and every order included: a counterexample may need one value twice.
    for &a in samples {
        for &b in samples {
            for &c in samples {
                // Exact comparison: for a reduction, a difference in the last bit is a difference.
                if op(op(a, b), c) != op(a, op(b, c)) {
                    return Some(Flaw::NotAssociative(a, b, c));
                }
            }
        }
    }
    // Only an associative operator gets this far.
    for &a in samples {
        for &b in samples {
            if op(a, b) != op(b, a) {
                return Some(Flaw::NotCommutative(a, b));
            }
        }
    }
    None
}
