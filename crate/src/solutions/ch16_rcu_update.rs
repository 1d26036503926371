use std::sync::Arc;
use concurrency_lab::rcu::{Network, Published};

/// Read, copy, update: build the new version from the one just read, and
/// publish it only if nobody published another meanwhile; otherwise start
/// again from the version that is there now.
fn add_node(net: &Published<Network>, name: &str, address: &str) {
    let mut current = net.load();
    loop {
        let mut copy = (*current).clone();
        copy.nodes.insert(name.to_string(), address.to_string());
        let found = net.compare_and_swap(&current, Arc::new(copy));
        if Arc::ptr_eq(&found, &current) {
            return; // published
        }
        current = found; // another writer was first: redo the change on its version
    }
}
