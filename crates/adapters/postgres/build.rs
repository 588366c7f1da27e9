//! Rebuilds when anything under `migrations/` changes (the migrations are embedded; a new
//! migration directory would otherwise go unnoticed) and fingerprints them, so test
//! templates are rebuilt exactly when the embedded migrations change.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    // FNV-1a, 64 bits: stable across toolchains, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .expect("under the migrations directory");
        let content = fs::read(file).expect("readable migration file");
        feed(rel.to_string_lossy().as_bytes());
        feed(&(content.len() as u64).to_le_bytes());
        feed(&content);
    }
    println!("cargo:rustc-env=JOBBY_MIGRATIONS_HASH={hash:016x}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
