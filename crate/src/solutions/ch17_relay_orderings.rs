fn relay_orderings() -> concurrency_lab::atomics::Relay {
    use std::sync::atomic::Ordering::{Acquire, Release};
    // Each flag is a hand-over: a Release store read by an Acquire load.
    // T1 must acquire `ready` too, although it never reads `data`: its
    // Release store of `go` passes on only what T1 itself has seen.
    concurrency_lab::atomics::Relay { raise_ready: Release, see_ready: Acquire, raise_go: Release, see_go: Acquire }
}
