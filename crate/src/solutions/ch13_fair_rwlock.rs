use std::sync::{Condvar, Mutex};
use concurrency_lab::starvation::ReadWrite;

/// Everyone, reader or writer, takes a ticket and waits for their turn to
/// reach the front. A reader at the front only waits for a writer to finish,
/// then moves the line on at once (so readers in a row share the resource);
/// a writer at the front waits until it is alone. Nobody can be overtaken,
/// so nobody starves.
struct FairRw {
    state: Mutex<Line>,
    changed: Condvar,
}

struct Line {
    next_ticket: u64,
    serving: u64,
    readers: usize,
    writing: bool,
}

impl FairRw {
    fn new() -> FairRw {
        FairRw { state: Mutex::new(Line { next_ticket: 0, serving: 0, readers: 0, writing: false }), changed: Condvar::new() }
    }
}

impl ReadWrite for FairRw {
    fn read(&self, read: &mut dyn FnMut()) {
        let mut line = self.state.lock().unwrap();
        let mine = line.next_ticket;
        line.next_ticket += 1;
        while line.serving != mine || line.writing {
            line = self.changed.wait(line).unwrap();
        }
        line.readers += 1;
        line.serving += 1; // the next in line may come forward now
        self.changed.notify_all();
        drop(line);

        read();

        let mut line = self.state.lock().unwrap();
        line.readers -= 1;
        if line.readers == 0 {
            self.changed.notify_all(); // a writer at the front may be waiting for this
        }
    }

    fn write(&self, write: &mut dyn FnMut()) {
        let mut line = self.state.lock().unwrap();
        let mine = line.next_ticket;
        line.next_ticket += 1;
        while line.serving != mine || line.writing || line.readers > 0 {
            line = self.changed.wait(line).unwrap();
        }
        line.writing = true;
        line.serving += 1;
        self.changed.notify_all();
        drop(line);

        write();

        self.state.lock().unwrap().writing = false;
        self.changed.notify_all();
    }
}
