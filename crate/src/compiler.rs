//! Runs the real Rust compiler on a small program and reports what it said:
//! how a notebook shows a program that *must not* compile (sending an `Rc`
//! to another thread, say) without turning the cell into an error that would
//! stop "Run All".

use std::fmt;
use std::process::Command;

/// What the compiler made of a program.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compiled {
    /// True if it compiled.
    pub ok: bool,
    /// The compiler's messages (errors and warnings), as it printed them.
    pub messages: String,
    /// The error codes it gave, such as `E0277`, in order.
    pub codes: Vec<String>,
}

impl fmt::Display for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            writeln!(f, "rustc compiled it without errors.")?;
        } else {
            writeln!(f, "rustc refused it ({}):", self.codes.join(", "))?;
        }
        write!(f, "{}", self.messages.trim_end())
    }
}

/// Compiles `program` (a whole file, with `fn main`) with the `rustc` on
/// PATH, edition 2021, into a temporary directory, and returns what the
/// compiler said. `Err` only if `rustc` could not be run at all.
pub fn compile(program: &str) -> Result<Compiled, String> {
    let dir = std::env::temp_dir().join(format!("lab-compile-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not make {}: {e}", dir.display()))?;
    let src = dir.join("main.rs");
    std::fs::write(&src, program).map_err(|e| format!("could not write {}: {e}", src.display()))?;
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2021", "--color", "never", "--crate-name", "snippet", "-o"])
        .arg(dir.join("snippet"))
        .arg(&src)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|e| format!("could not run rustc: {e}"))?;
    let messages = String::from_utf8_lossy(&out.stderr).replace(&*src.to_string_lossy(), "main.rs");
    let codes = messages
        .lines()
        .filter_map(|l| l.strip_prefix("error[")?.split(']').next().map(str::to_string))
        .collect();
    Ok(Compiled { ok: out.status.success(), messages, codes })
}

/// A number that differs for each call in this process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rc_cannot_be_sent_to_another_thread() {
        let c = compile("fn main() { let r = std::rc::Rc::new(1); std::thread::spawn(move || drop(r)).join().unwrap(); }").unwrap();
        assert!(!c.ok);
        assert_eq!(c.codes.first().map(String::as_str), Some("E0277"), "{c}");
        assert!(c.messages.contains("cannot be sent between threads safely"), "{c}");
        assert!(c.to_string().starts_with("rustc refused it (E0277"));
    }

    #[test]
    fn an_arc_can() {
        let c = compile("fn main() { let r = std::sync::Arc::new(1); std::thread::spawn(move || drop(r)).join().unwrap(); }").unwrap();
        assert!(c.ok, "{c}");
        assert!(c.codes.is_empty());
    }
}
