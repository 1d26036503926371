//! Read-copy-update (chapter 16, feature `rcu`): the book's "network" map,
//! and the judge of the RCU exercise.
//!
//! - [`Network`] is the shared data: nodes by name, one of them the primary.
//!   A writer may fail over: remove the primary node and elect another. A
//!   reader that reads the primary's name, and later looks the node up, can
//!   find it gone (the book's `KeyError`) unless it reads one consistent
//!   version; the notebook shows both with `ArcSwap`.
//! - [`Published`] is what the exercise hands out: one published version of
//!   a value behind an `ArcSwap`, with the three methods an update needs
//!   (`load`, `store`, `compare_and_swap`, named as in arc-swap). Each call is
//!   one step of the judge's schedule explorer ([`crate::explore`]), so the
//!   judge makes two writers' updates interleave.

use crate::exercise::{self, Verdict};
use crate::explore::{run_model, search, Plan, Run, Sched};
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The book's network: nodes (name to address) and which one is primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub primary: String,
    pub nodes: BTreeMap<String, String>,
}

impl Network {
    /// Four nodes, A to D (addresses 10.0.0.1 to 10.0.0.4), A primary.
    pub fn example() -> Network {
        let nodes = ["A", "B", "C", "D"].iter().enumerate().map(|(i, n)| (n.to_string(), format!("10.0.0.{}", i + 1))).collect();
        Network { primary: "A".to_string(), nodes }
    }

    /// The primary fails: its node is removed and the first remaining node
    /// (by name) becomes primary. Returns the new primary (`None`: no node left).
    pub fn fail_over(&mut self) -> Option<String> {
        self.nodes.remove(&self.primary);
        let next = self.nodes.keys().next().cloned()?;
        self.primary = next.clone();
        Some(next)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|(n, a)| format!("{n} {a}")).collect();
        write!(f, "primary {}; nodes: {}", self.primary, nodes.join(", "))
    }
}

/// One published version of a `T`, replaced as a whole: the cell of the
/// RCU exercise. The same methods as `arc_swap::ArcSwap` (no `rcu`: that is
/// what the exercise builds). When the judge runs writers against each
/// other, each call is one step that its schedule explorer interleaves.
pub struct Published<T> {
    sched: Option<Arc<Sched>>,
    cell: ArcSwap<T>,
}

impl<T: fmt::Display> Published<T> {
    /// Publishes `value` as the first version.
    pub fn new(value: T) -> Published<T> {
        Published { sched: None, cell: ArcSwap::from_pointee(value) }
    }

    /// Does `act` as one step: under the explorer, first waits for this
    /// thread's turn, then acts and logs what it did.
    fn step<R>(&self, act: impl FnOnce() -> R, say: impl FnOnce(&R) -> String) -> R {
        Sched::logged(self.sched.as_deref(), act, say)
    }

    /// The current version. It stays valid (and unchanged) however long you
    /// keep it, also after writers publish newer ones.
    pub fn load(&self) -> Arc<T> {
        self.step(|| self.cell.load_full(), |v| format!("loads [{v}]"))
    }

    /// Publishes `new`, whatever the current version is.
    pub fn store(&self, new: Arc<T>) {
        let said = format!("stores [{new}]");
        self.step(|| self.cell.store(new), |_| said)
    }

    /// Publishes `new` only if the current version is still `current` (the
    /// same `Arc`, compared by address). Returns the version it found: the
    /// swap happened exactly when that is `current` (`Arc::ptr_eq`).
    pub fn compare_and_swap(&self, current: &Arc<T>, new: Arc<T>) -> Arc<T> {
        let offered = format!("{new}");
        self.step(
            || arc_swap::Guard::into_inner(self.cell.compare_and_swap(current, new)),
            |found| {
                if Arc::ptr_eq(found, current) {
                    format!("compare_and_swap: the version is still [{current}], so it publishes [{offered}]")
                } else {
                    format!("compare_and_swap: fails, the version is now [{found}]")
                }
            },
        )
    }

    /// The current version, without a step (for the judge).
    fn peek(&self) -> Arc<T> {
        self.cell.load_full()
    }
}

/// The schedules the judge of `rcu_update` explores.
pub const SCHEDULES: usize = 300;

/// Two writers add nodes E and F to the example network at the same time,
/// under `plan`; the run fails unless both are in the final version.
fn two_writers(add: fn(&Published<Network>, &str, &str), plan: Plan) -> Run {
    run_model(
        2,
        plan,
        &|sched| Published { sched: Some(sched), cell: ArcSwap::from_pointee(Network::example()) },
        &|t, net: &Published<Network>| {
            let (name, address) = [("E", "10.0.0.5"), ("F", "10.0.0.6")][t];
            add(net, name, address)
        },
        &|net: &Published<Network>| {
            let now = net.peek();
            let missing: Vec<&str> = ["E", "F"].into_iter().filter(|n| !now.nodes.contains_key(*n)).collect();
            if missing.is_empty() {
                Ok(format!("both writers' nodes are in [{now}]"))
            } else {
                Err(format!("node(s) {missing:?} lost: the final version is [{now}]"))
            }
        },
        0,
    )
}

/// Exercise "rcu_update": judges `add_node(net, name, address)`, which must
/// publish a new version of the network with the node added (or its
/// address replaced), everything else kept, without ever losing another
/// writer's concurrent change. First on one thread, then two writers under
/// [`SCHEDULES`] explored schedules.
pub fn judge_rcu_update(add: fn(&Published<Network>, &str, &str)) -> Verdict {
    exercise::run(Duration::from_secs(60), move || {
        let net = Published::new(Network::example());
        let before = net.peek();
        for (name, address) in [("E", "10.0.0.5"), ("B", "10.0.9.9")] {
            let old = net.peek();
            exercise::call(|| add(&net, name, address)).map_err(|m| format!("add_node(net, {name:?}, {address:?}) panicked: {m}"))?;
            let now = net.peek();
            let mut want = (*old).clone();
            want.nodes.insert(name.to_string(), address.to_string());
            if *now != want {
                return Err(format!(
                    "on one thread, from [{old}], add_node(net, {name:?}, {address:?}) published [{now}]; it should publish [{want}]"
                ));
            }
        }
        if *before != Network::example() {
            return Err(format!("a reader's old version changed: it was [{}], now it reads [{before}]", Network::example()));
        }
        let found = search(SCHEDULES, &|plan| two_writers(add, plan));
        if let Some(run) = found.failure {
            return Err(format!(
                "two writers add E and F at the same time: after {} explored schedule(s) one writer's change was lost; the interleaving:\n{}",
                found.tried,
                crate::atomics::brief(&run)
            ));
        }
        Ok(format!(
            "right on one thread, and both writers' nodes survived all {} explored schedules ({} distinct interleavings)",
            found.tried, found.distinct
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_over_elects_the_first_remaining_node() {
        let mut n = Network::example();
        assert_eq!(n.fail_over().as_deref(), Some("B"));
        assert!(!n.nodes.contains_key("A"));
        assert_eq!(n.to_string(), "primary B; nodes: B 10.0.0.2, C 10.0.0.3, D 10.0.0.4");
    }

    #[test]
    fn compare_and_swap_swaps_only_the_version_it_was_given() {
        let p = Published::new(Network::example());
        let v1 = p.load();
        let mut n = (*v1).clone();
        n.fail_over();
        let v2 = Arc::new(n);
        assert!(Arc::ptr_eq(&p.compare_and_swap(&v1, v2.clone()), &v1));
        assert!(Arc::ptr_eq(&p.compare_and_swap(&v1, Arc::new(Network::example())), &v2));
        assert_eq!(p.load().primary, "B");
        assert_eq!(v1.primary, "A"); // the old version is untouched
    }

    #[test]
    fn judge_says_not_solved_for_todo() {
        assert_eq!(judge_rcu_update(|_, _, _| todo!()), Verdict::NotSolved);
    }
}
