//! Records how the crate was built, so charts and tables can say it.
//! evcxr builds at opt-level 2 with debug assertions, which is slower than
//! `cargo build --release`: every timing in the notebooks carries this note.
use std::process::Command;

fn main() {
    let opt = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "?".into());
    println!("cargo:rustc-env=LAB_OPT_LEVEL={opt}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "rustc (unknown version)".into());
    println!("cargo:rustc-env=LAB_RUSTC={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
