//! Scheduled jobs (chapter 19): a scheduler that runs in the background
//! while a cell goes on, and the judge of the "max instances" exercise.
//!
//! The scheduler is [tokio-cron-scheduler](https://docs.rs/tokio-cron-scheduler):
//! interval and cron jobs on a tokio runtime. It reads the wall clock
//! (`chrono::Utc::now`, checked every 500 ms) and counts in whole seconds,
//! so a demonstration with it takes seconds of real time and its ticks
//! wander by up to half a second. The exercise's judge therefore does not
//! use it: it runs the learner's own tick loop on tokio's paused clock,
//! where every tick and every run happens at an exact, repeatable instant.

use crate::chart::{self, Band, Chart, Segment};
use crate::exercise::{self, Verdict};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_cron_scheduler::{Job, JobScheduler};

// --- a scheduler in the background ---------------------------------------------------

/// A tokio-cron-scheduler running on a thread of its own, with a runtime of
/// its own, while the code that started it goes on (APScheduler's
/// "background scheduler"). [`Background::stop`] (or dropping it) shuts the
/// scheduler down and drops the runtime: a run still in flight is cancelled
/// at its next `.await`, and nothing of the scheduler outlives the cell.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Background {
    /// Starts a scheduler with `jobs` on a thread named `scheduler` and
    /// returns once it runs. `Err` says why it could not start.
    pub fn start(jobs: Vec<Job>) -> Result<Background, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("scheduler-worker")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("could not start a tokio runtime: {e}"))?;
                let out = rt.block_on(async move {
                    let started = async {
                        let sched = JobScheduler::new().await?;
                        for job in jobs {
                            sched.add(job).await?;
                        }
                        sched.start().await?;
                        Ok::<_, tokio_cron_scheduler::JobSchedulerError>(sched)
                    }
                    .await;
                    match started {
                        Err(e) => {
                            let why = format!("could not start the scheduler: {e}");
                            let _ = ready_tx.send(Err(why.clone()));
                            Err(why)
                        }
                        Ok(mut sched) => {
                            let _ = ready_tx.send(Ok(()));
                            let _ = stop_rx.await; // a stop, or the handle dropped
                            sched.shutdown().await.map_err(|e| format!("the scheduler did not shut down cleanly: {e}"))
                        }
                    }
                });
                // Runs still in flight are dropped with the runtime.
                rt.shutdown_background();
                out
            })
            .map_err(|e| format!("could not start the scheduler's thread: {e}"))?;
        let mut bg = Background { stop: Some(stop_tx), thread: Some(thread) };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(bg),
            Ok(Err(why)) => {
                let _ = bg.halt();
                Err(why)
            }
            Err(_) => Err(bg.halt().err().unwrap_or_else(|| "the scheduler's thread stopped before it started".into())),
        }
    }

    /// Shuts the scheduler down and waits for its thread.
    pub fn stop(mut self) -> Result<(), String> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|p| format!("the scheduler's thread panicked: {}", exercise::panic_message(p.as_ref())))?,
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

// --- a record of runs ----------------------------------------------------------------

/// One tick of a job: when it came, and whether it ran (from when to when)
/// or was skipped. Times in seconds from the start of the [`Runs`] record.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub tick: usize,
    pub at: f64,
    pub ran: bool,
    pub ended: Option<f64>,
}

/// A shared record of ticks and runs, for a chart of overlapping runs.
/// Cheap to clone; clones share the record.
#[derive(Clone)]
pub struct Runs {
    origin: std::time::Instant,
    ticks: Arc<Mutex<Vec<Tick>>>,
}

impl Default for Runs {
    fn default() -> Self {
        Runs::new()
    }
}

impl Runs {
    /// An empty record whose time 0 is now.
    pub fn new() -> Runs {
        Runs { origin: std::time::Instant::now(), ticks: Arc::default() }
    }

    /// Seconds since the record began.
    pub fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// Records a tick now; `ran` says whether it started a run. Returns the
    /// tick's number (1, 2, ...), to give to [`Runs::ended`].
    pub fn tick(&self, ran: bool) -> usize {
        let at = self.now();
        let mut t = self.ticks.lock().unwrap_or_else(|e| e.into_inner());
        let tick = t.len() + 1;
        t.push(Tick { tick, at, ran, ended: None });
        tick
    }

    /// Records that the run of tick `tick` ended now.
    pub fn ended(&self, tick: usize) {
        let at = self.now();
        if let Some(t) = self.ticks.lock().unwrap_or_else(|e| e.into_inner()).get_mut(tick.wrapping_sub(1)) {
            t.ended = Some(at);
        }
    }

    /// The ticks so far.
    pub fn ticks(&self) -> Vec<Tick> {
        self.ticks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most runs that were in flight at the same moment.
    pub fn most_at_once(&self) -> usize {
        let ticks = self.ticks();
        let end = |t: &Tick| t.ended.unwrap_or(f64::INFINITY);
        ticks
            .iter()
            .filter(|t| t.ran)
            .map(|t| ticks.iter().filter(|u| u.ran && u.at <= t.at && t.at < end(u)).count())
            .max()
            .unwrap_or(0)
    }

    /// A timeline: one row per tick, its run as a bar, a skipped tick as a
    /// thin red mark.
    pub fn chart(&self, title: &str) -> Chart {
        let ticks = self.ticks();
        let rows: Vec<String> = ticks.iter().map(|t| format!("tick {}", t.tick)).collect();
        let bands = [
            Band { label: "run".into(), color: (44, 160, 44), half_height: 0.35 },
            Band { label: "tick skipped (max instances in flight)".into(), color: (214, 39, 40), half_height: 0.2 },
        ];
        let now = self.now();
        let segments: Vec<Segment> = ticks
            .iter()
            .map(|t| Segment {
                row: format!("tick {}", t.tick),
                band: if t.ran { 0 } else { 1 },
                start: t.at,
                end: if t.ran { t.ended.unwrap_or(now) } else { t.at + 0.04 },
            })
            .collect();
        chart::timeline(title, &rows, &bands, &segments)
    }
}

// --- exercise: max instances ---------------------------------------------------------

/// One run of a job: a future that does the work.
pub type Run = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A job of the "max instances" exercise: called with a tick's number (1,
/// 2, ...), it gives that tick's run.
pub type Task = Arc<dyn Fn(usize) -> Run + Send + Sync>;

#[derive(Default)]
struct Watch {
    running: usize,
    most: usize,
    /// runs that got to their end
    finished: usize,
    /// per tick (index tick - 1): whether its run was made, and when it began
    called: Vec<bool>,
    started: Vec<Option<Duration>>,
}

/// A judge's case: ticks every `period`, the run of tick i lasting
/// `lengths[i - 1]`, at most `max` at once, and maybe a stall: the runtime
/// held up from `stall.0` to `stall.1` (its clock jumps, as when a busy
/// machine gives the thread no time).
struct Case {
    period: u64,
    lengths: Vec<u64>,
    max: usize,
    stall: Option<(u64, u64)>,
}

impl Case {
    fn what(&self) -> String {
        let stall = match self.stall {
            Some((a, b)) => format!(", the runner held up from {a} ms to {b} ms"),
            None => String::new(),
        };
        format!(
            "run_every({} ms, {} ticks, max_instances = {}) with runs of {:?} ms{stall}",
            self.period,
            self.lengths.len(),
            self.max,
            self.lengths
        )
    }

    /// When each tick comes (ms) and whether it runs, with how many runs
    /// are in flight when it comes.
    fn expected(&self) -> Vec<(u64, bool, usize)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        (1..=self.lengths.len() as u64)
            .map(|i| {
                let due = i * self.period;
                let at = match self.stall {
                    Some((from, to)) if due > from && due <= to => to,
                    _ => due,
                };
                let in_flight = runs.iter().filter(|&&(s, e)| s <= at && at < e).count();
                let ran = in_flight < self.max;
                if ran {
                    runs.push((at, at + self.lengths[i as usize - 1]));
                }
                (at, ran, in_flight)
            })
            .collect()
    }
}

fn watched(tick: usize, length: Duration, watch: Arc<Mutex<Watch>>, origin: tokio::time::Instant) -> Run {
    Box::pin(async move {
        struct Leave(Arc<Mutex<Watch>>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).running -= 1;
            }
        }
        {
            let mut w = watch.lock().unwrap_or_else(|e| e.into_inner());
            w.running += 1;
            w.most = w.most.max(w.running);
            if let Some(s) = w.started.get_mut(tick.wrapping_sub(1)) {
                s.get_or_insert(origin.elapsed());
            }
        }
        let _leave = Leave(watch.clone());
        tokio::time::sleep(length).await;
        watch.lock().unwrap_or_else(|e| e.into_inner()).finished += 1;
    })
}

/// Exercise "max instances": judges `run_every(period, ticks, max_instances, job)`,
/// which must tick at `period`, `2 × period`, ... (`ticks` ticks), start
/// `job(i)` at tick i unless `max_instances` runs are in flight then (the
/// tick is skipped, not queued), wait for every run before returning, and
/// return for each tick whether it ran.
///
/// Runs on a paused clock: each start is compared with the instant of its
/// tick, exactly. One case holds the runner up (its clock jumps past three
/// ticks at once, as a busy machine does): the ticks then come together,
/// and a count of runs that is only updated once a run has begun lets them
/// all through.
pub fn judge_max_instances<F, Fut>(f: F) -> Verdict
where
    F: Fn(Duration, usize, usize, Task) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<bool>>,
{
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let cases = [
            // The book's 4 s job every 3 s, at a tenth of the scale.
            Case { period: 300, lengths: vec![400; 8], max: 1, stall: None },
            Case { period: 300, lengths: vec![400; 8], max: 2, stall: None },
            Case { period: 200, lengths: vec![250, 730, 90, 950, 50, 330, 130, 70, 510], max: 2, stall: None },
            Case { period: 100, lengths: vec![350; 7], max: 3, stall: None },
            Case { period: 300, lengths: vec![400; 6], max: 1, stall: Some((250, 950)) },
            Case { period: 300, lengths: vec![400; 6], max: 2, stall: Some((250, 950)) },
            Case { period: 300, lengths: vec![], max: 1, stall: None },
        ];
        for case in &cases {
            judge_case(&f, case)?;
        }
        Ok("every tick ran or was skipped as max_instances demands, each run started at its tick (none queued), also when ticks came together after a hold-up, and run_every waited for every run".into())
    })
}

fn judge_case<F, Fut>(f: &F, case: &Case) -> Result<(), String>
where
    F: Fn(Duration, usize, usize, Task) -> Fut,
    Fut: Future<Output = Vec<bool>>,
{
    let what = case.what();
    let n = case.lengths.len();
    let watch = Arc::new(Mutex::new(Watch { called: vec![false; n], started: vec![None; n], ..Watch::default() }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("could not start a tokio runtime for the check: {e}"))?;
    let (got, returned_at, unfinished) = exercise::call(|| {
        rt.block_on(async {
            let origin = tokio::time::Instant::now();
            if let Some((from, to)) = case.stall {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(from)).await;
                    tokio::time::advance(Duration::from_millis(to - from)).await;
                });
            }
            let task: Task = {
                let (watch, lengths) = (watch.clone(), case.lengths.clone());
                Arc::new(move |tick: usize| {
                    if let Some(c) = watch.lock().unwrap_or_else(|e| e.into_inner()).called.get_mut(tick.wrapping_sub(1)) {
                        *c = true;
                    }
                    let length = Duration::from_millis(lengths.get(tick.wrapping_sub(1)).copied().unwrap_or(0));
                    watched(tick, length, watch.clone(), origin)
                })
            };
            let got = f(Duration::from_millis(case.period), n, case.max, task).await;
            let w = watch.lock().unwrap_or_else(|e| e.into_inner());
            let unfinished = w.called.iter().filter(|&&c| c).count() - w.finished;
            (got, origin.elapsed(), unfinished)
        })
    })
    .map_err(|msg| format!("{what} panicked: {msg}"))?;
    drop(rt); // runs left behind are dropped here
    let w = watch.lock().unwrap_or_else(|e| e.into_inner());
    let ms = |d: Duration| d.as_millis() as u64;
    let stall_note = match case.stall {
        Some((from, to)) => format!(
            " (the runner was held up from {from} ms to {to} ms, so every tick due in between came at {to} ms, one right after the other, before any run could begin)"
        ),
        None => String::new(),
    };
    if unfinished > 0 {
        return Err(format!(
            "{what} returned at {} ms while {unfinished} run(s) it had started were not finished: wait for every run before returning",
            ms(returned_at)
        ));
    }
    for (i, &(at, ran, in_flight)) in case.expected().iter().enumerate() {
        let tick = i + 1;
        match (ran, w.started[i].map(ms)) {
            (true, None) => {
                return Err(format!(
                    "{what}: tick {tick} came at {at} ms with {in_flight} run(s) in flight, fewer than max_instances = {}, so it should have run, but job({tick}) {}{stall_note}",
                    case.max,
                    if w.called[i] { "was called and its run never began (spawn or await it)" } else { "was never called" }
                ))
            }
            (_, Some(s)) if s < at => {
                return Err(format!(
                    "{what}: the run of tick {tick} started at {s} ms, before its tick ({at} ms). Tick i is due at i × period; tokio's interval() ticks once at once, at 0 ms: start it one period later (interval_at) or skip that first tick"
                ))
            }
            (true, Some(s)) if s > at => {
                return Err(format!(
                    "{what}: the run of tick {tick} started at {s} ms, but its tick came at {at} ms with room for it: start each run when its tick comes, without waiting for earlier runs (spawn it)"
                ))
            }
            (false, Some(s)) if s > at => {
                return Err(format!(
                    "{what}: tick {tick} came at {at} ms while {in_flight} run(s) were in flight (max_instances = {}), but its run started later, at {s} ms: a tick that finds max_instances runs in flight is skipped, not queued",
                    case.max
                ))
            }
            (false, Some(_)) => {
                return Err(format!(
                    "{what}: tick {tick} came at {at} ms while {in_flight} run(s) were in flight (max_instances = {}), so it should have been skipped, but it ran{stall_note}",
                    case.max
                ))
            }
            _ => {}
        }
    }
    if w.most > case.max {
        return Err(format!("{what}: {} runs were in flight at once, but max_instances = {}{stall_note}", w.most, case.max));
    }
    let ran: Vec<bool> = w.started.iter().map(Option::is_some).collect();
    if got != ran {
        return Err(format!("{what} returned {got:?}, but the ticks that ran were {ran:?} (one entry per tick, true if it ran)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_of_the_books_case() {
        let c = Case { period: 300, lengths: vec![400; 6], max: 1, stall: None };
        let ran: Vec<bool> = c.expected().iter().map(|e| e.1).collect();
        assert_eq!(ran, [true, false, true, false, true, false]);
        let c = Case { period: 300, lengths: vec![400; 6], max: 1, stall: Some((250, 950)) };
        let e = c.expected();
        assert_eq!(e.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(), [(950, true), (950, false), (950, false), (1200, false), (1500, true), (1800, false)]);
    }

    #[test]
    fn a_background_scheduler_runs_jobs_and_stops() {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let job = Job::new_repeated(Duration::from_secs(1), move |_id, _sched| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        let bg = Background::start(vec![job]).unwrap();
        // A bound, not a verdict on speed: the first run is due within 1.5 s;
        // a loaded machine gets 30 s.
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while runs.load(std::sync::atomic::Ordering::SeqCst) == 0 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        bg.stop().unwrap();
        let after = runs.load(std::sync::atomic::Ordering::SeqCst);
        assert!(after >= 1);
    }

    #[test]
    fn runs_count_overlaps() {
        let r = Runs::new();
        let a = r.tick(true);
        let _ = r.tick(true);
        r.ended(a);
        assert_eq!(r.most_at_once(), 2);
        assert!(r.chart("t").svg().contains("tick 2"));
    }
}
