//! Facts about the machine and the build, printed beside every measurement.

use serde::Serialize;
use std::fmt;

/// The machine a notebook runs on, and how our code was compiled.
///
/// Timings only mean something next to these facts: a speedup chart from a
/// 2-core laptop and one from a 16-core server tell different stories, and
/// evcxr compiles with debug assertions (overflow checks on every `+`), so
/// absolute times are slower than a `cargo build --release` binary's.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Threads the OS lets us run at once (`available_parallelism`).
    pub cores: usize,
    /// Optimisation level our crate was built with (evcxr uses 2).
    pub opt_level: String,
    /// Whether debug assertions and overflow checks are compiled in.
    pub debug_assertions: bool,
    /// The compiler, e.g. `rustc 1.95.0`.
    pub rustc: String,
    /// The operating system and processor family.
    pub os: String,
}

/// Reads the machine facts.
pub fn machine() -> Machine {
    Machine {
        cores: cores(),
        opt_level: env!("LAB_OPT_LEVEL").to_string(),
        debug_assertions: cfg!(debug_assertions),
        rustc: env!("LAB_RUSTC").to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// Number of hardware threads we may use; 1 if the OS will not say.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Machine {
    /// One line for chart footers: cores and build profile.
    pub fn footer(&self) -> String {
        format!(
            "{} core{} · opt-level {}{} · {} · {}",
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            self.opt_level,
            if self.debug_assertions { " + debug assertions" } else { "" },
            self.rustc,
            self.os
        )
    }

    /// A sentence for the reader about what the build profile means for timings.
    pub fn timing_note(&self) -> &'static str {
        if self.debug_assertions {
            "built like evcxr builds notebook code (debug assertions and overflow checks on): \
             times are slower than a --release binary, ratios between them still hold"
        } else {
            "built without debug assertions (release-like): times are close to a --release binary"
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cores (available_parallelism): {}", self.cores)?;
        writeln!(
            f,
            "build: opt-level {}, debug assertions {}",
            self.opt_level,
            if self.debug_assertions { "on" } else { "off" }
        )?;
        writeln!(f, "compiler: {}", self.rustc)?;
        writeln!(f, "system: {}", self.os)?;
        write!(f, "note: {}", self.timing_note())
    }
}
