use concurrency_lab::gil::{Job, Runtime};

fn two_jobs(runtime: Runtime, cores: usize, job: Job) -> f64 {
    if cores < 2 {
        // One core: all the computing of both jobs takes turns on it; the last one then waits.
        return 2.0 * (job.compute + job.native) + job.wait;
    }
    match runtime {
        // Python code runs on one thread at a time: the second job's Python part starts
        // when the first one's ends. Its native part and its wait overlap with anything.
        Runtime::CPythonThreads => 2.0 * job.compute + job.native + job.wait,
        Runtime::RustThreads | Runtime::CPythonProcesses | Runtime::FreeThreaded => job.compute + job.native + job.wait,
    }
}
