//! Link arguments for `liboxalloc.so` (the cdylib only; the static library is linked by its
//! user). A page of the library's code that a program touches brings the cached pages of its
//! 64 KiB window with it (the kernel's fault-around), so the code every program runs is kept in
//! one such window and the cold code out of it:
//! - the segments are aligned to 64 KiB (`max-page-size`; glibc's loader honours that since
//!   2.35, older ones load the library as before), and the executable segment starts on its
//!   own boundary (`separate-code`);
//! - `cold.ld` (GNU ld and LLD) opens that segment with the cold code, padded to 64 KiB.
//!
//! Skipped, leaving the linker's plain layout, when `OXALLOC_PLAIN_LAYOUT` is set, when the
//! flags name mold or gold (mold does not read `SECTIONS`, gold rejects `separate-code`; a
//! linker chosen another way needs `OXALLOC_PLAIN_LAYOUT`), or when the crate's path has a
//! comma (the `-Wl,` list would split it).
//! `tests/layout.rs` checks the result.

fn main() {
    println!("cargo:rerun-if-changed=cold.ld");
    println!("cargo:rerun-if-env-changed=OXALLOC_PLAIN_LAYOUT");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let other_linker = ["fuse-ld=mold", "fuse-ld=gold", "ld.mold", "ld.gold"]
        .iter()
        .any(|l| flags.contains(l));
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if std::env::var_os("OXALLOC_PLAIN_LAYOUT").is_some()
        || other_linker
        || !linux
        || dir.contains(',')
    {
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=65536");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-code");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{dir}/cold.ld");
}
