//! Course progress: which exercises you have passed, kept in a small JSON
//! file inside the project (`progress.json` at its root, ignored by git), so
//! it survives kernel restarts and is shared by every notebook.
//!
//! Every passed check records itself ([`record`]); [`progress`] shows, per
//! chapter, how many exercises are done and which one is next, with a link
//! to its notebook. A missing file is simply no progress yet; a corrupt one
//! is reported in one line and counted as empty (it is replaced at the next
//! pass), never a panic. Two kernels passing checks at the same moment lose
//! nothing: each update happens under a file lock, and the file is replaced
//! whole (write a temporary file, then rename), so a reader never sees half
//! of one.
//!
//! `CONCURRENCY_LAB_PROGRESS=/some/file.json` puts the file elsewhere (the
//! notebook tests use it, so that running the reference solutions does not
//! mark your exercises as done).

use crate::exercises::{Exercise, TABLE};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Where progress is kept.
pub fn file() -> PathBuf {
    match std::env::var_os("CONCURRENCY_LAB_PROGRESS") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../progress.json")),
    }
}

/// What the file holds: each passed exercise and when it was first passed
/// (seconds since 1970).
type Passed = BTreeMap<String, u64>;

/// Reads the file: `Ok` (maybe empty) or, for a file that is not ours to
/// understand, `Err(a one-line note)`.
fn load() -> Result<Passed, String> {
    let path = file();
    match fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Passed::new()),
        Err(e) => Err(format!("could not read {}: {e}", path.display())),
        Ok(text) => serde_json::from_str::<Passed>(&text)
            .map_err(|e| format!("{} is not a progress file ({e}); starting from empty progress", path.display())),
    }
}

/// Holds an exclusive lock on `<file>.lock` while alive (released on drop,
/// also if the process dies).
struct FileLock(File);

impl FileLock {
    fn take() -> Result<FileLock, String> {
        let mut path = file().into_os_string();
        path.push(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("could not open the lock file {}: {e}", PathBuf::from(&path).display()))?;
        // Safety: flock only reads the descriptor, which `f` keeps open.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!("could not lock {}: {}", PathBuf::from(&path).display(), std::io::Error::last_os_error()));
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Safety: as above; closing the file would release the lock too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Records that `exercise` passed. Called by every passed check; `Err` only
/// when the file cannot be written (the check's verdict stands anyway).
pub fn record(exercise: &str) -> Result<(), String> {
    let _lock = FileLock::take()?;
    // A corrupt file is replaced by a good one holding this pass.
    let mut passed = load().unwrap_or_default();
    if passed.contains_key(exercise) {
        return Ok(());
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    passed.insert(exercise.to_string(), now);
    let path = file();
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string_pretty(&passed).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("could not write {}: {e}", path.display())
    })
}

/// One chapter's line of the progress table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chapter {
    pub notebook: &'static str,
    pub done: usize,
    pub total: usize,
    /// The first exercise of the chapter not passed yet.
    pub next: Option<&'static str>,
}

/// Progress per chapter, in the course's order, and a note if the file
/// could not be read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Progress {
    pub chapters: Vec<Chapter>,
    pub note: Option<String>,
}

impl Progress {
    /// Exercises passed and in all.
    pub fn totals(&self) -> (usize, usize) {
        self.chapters.iter().fold((0, 0), |(d, t), c| (d + c.done, t + c.total))
    }

    /// The first unsolved exercise of the course, if any.
    pub fn next(&self) -> Option<(&'static str, &'static str)> {
        self.chapters.iter().find_map(|c| c.next.map(|n| (c.notebook, n)))
    }

    /// Shows the table in a notebook: HTML with links to the notebooks,
    /// and the same as plain text.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.html());
        println!("EVCXR_BEGIN_CONTENT text/plain\n{self}\nEVCXR_END_CONTENT");
    }

    fn html(&self) -> String {
        let (done, total) = self.totals();
        let mut h = format!("<p><b>Your progress: {done} of {total} exercises passed.</b>");
        if let Some((notebook, name)) = self.next() {
            h += &format!(" Next: <code>{name}</code> in <a href=\"{notebook}.ipynb\">{notebook}</a>.");
        }
        h += "</p><table><tr><th>chapter</th><th>done</th><th>next exercise</th></tr>";
        for c in &self.chapters {
            let mark = if c.done == c.total { " ✅" } else { "" };
            h += &format!(
                "<tr><td><a href=\"{0}.ipynb\">{0}</a></td><td>{1} / {2}{mark}</td><td>{3}</td></tr>",
                c.notebook,
                c.done,
                c.total,
                c.next.map(|n| format!("<code>{n}</code>")).unwrap_or_default()
            );
        }
        h += "</table>";
        if let Some(note) = &self.note {
            h += &format!("<p><i>Note: {}</i></p>", note.replace('<', "&lt;"));
        }
        h
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (done, total) = self.totals();
        write!(f, "Your progress: {done} of {total} exercises passed.")?;
        if let Some((notebook, name)) = self.next() {
            write!(f, " Next: {name} in {notebook}.ipynb")?;
        }
        for c in &self.chapters {
            write!(f, "\n  {:<22} {} / {}", c.notebook, c.done, c.total)?;
            if let Some(n) = c.next {
                write!(f, "   next: {n}")?;
            }
        }
        if let Some(note) = &self.note {
            write!(f, "\n(note: {note})")?;
        }
        Ok(())
    }
}

/// Your progress through the course's exercises, per chapter. End a cell
/// with `progress()` to see it as a table with links.
pub fn progress() -> Progress {
    let (passed, note) = match load() {
        Ok(p) => (p, None),
        Err(note) => (Passed::new(), Some(note)),
    };
    let mut chapters: Vec<Chapter> = Vec::new();
    for e in TABLE {
        let Exercise { name, notebook, .. } = *e;
        if chapters.last().map(|c| c.notebook) != Some(notebook) {
            chapters.push(Chapter { notebook, done: 0, total: 0, next: None });
        }
        let c = chapters.last_mut().expect("just pushed");
        c.total += 1;
        if passed.contains_key(name) {
            c.done += 1;
        } else if c.next.is_none() {
            c.next = Some(name);
        }
    }
    Progress { chapters, note }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The tests below change the process's environment: one at a time.
    static ENV: Mutex<()> = Mutex::new(());

    fn with_file<T>(name: &str, f: impl FnOnce(&PathBuf) -> T) -> T {
        let _one = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("lab-progress-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("progress.json");
        std::env::set_var("CONCURRENCY_LAB_PROGRESS", &path);
        let out = f(&path);
        std::env::remove_var("CONCURRENCY_LAB_PROGRESS");
        let _ = fs::remove_dir_all(&dir);
        out
    }

    #[test]
    fn missing_file_is_empty_progress() {
        with_file("missing", |_| {
            let p = progress();
            assert_eq!(p.totals(), (0, TABLE.len()));
            assert!(p.note.is_none());
            assert_eq!(p.next(), Some((TABLE[0].notebook, TABLE[0].name)));
        });
    }

    #[test]
    fn passes_are_counted_per_chapter() {
        with_file("count", |_| {
            record(TABLE[0].name).unwrap();
            record(TABLE[0].name).unwrap(); // twice is once
            let p = progress();
            assert_eq!(p.totals(), (1, TABLE.len()));
            assert_eq!(p.chapters[0].done, 1);
            assert_eq!(p.chapters[0].next, Some(TABLE[1].name));
            assert!(p.to_string().contains("1 of"));
        });
    }

    #[test]
    fn corrupt_file_is_a_note_and_is_repaired() {
        with_file("corrupt", |path| {
            fs::write(path, "{ not json").unwrap();
            let p = progress();
            assert_eq!(p.totals().0, 0);
            assert!(p.note.as_deref().unwrap_or("").contains("not a progress file"), "{p}");
            record(TABLE[1].name).unwrap();
            let p = progress();
            assert!(p.note.is_none());
            assert_eq!(p.totals().0, 1);
        });
    }

    #[test]
    fn two_writers_at_once_lose_nothing() {
        // Every exercise recorded by one of eight threads, all at once; the
        // same happens across kernels, which are processes (the file lock is
        // per open file, so threads contend for it just as processes do).
        with_file("concurrent", |_| {
            std::thread::scope(|s| {
                for t in 0..8 {
                    s.spawn(move || {
                        for e in TABLE.iter().skip(t).step_by(8) {
                            record(e.name).unwrap();
                        }
                    });
                }
            });
            assert_eq!(progress().totals(), (TABLE.len(), TABLE.len()));
        });
    }
}
