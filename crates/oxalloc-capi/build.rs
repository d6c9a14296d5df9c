//! Link arguments for `liboxalloc.so` (the cdylib only; the static library is linked by its
//! user). A page of the library's code that a program touches brings its whole 64 KiB window
//! with it (the kernel maps the pages around a fault that are already in the page cache), so
//! the code every program runs is kept in one such window and the cold code after it:
//! - the segments are aligned to 64 KiB (`max-page-size`; glibc's loader honours that since
//!   2.35), and the executable segment starts on its own boundary (`separate-code`);
//! - `cold.ld` places the `oxalloc_cold` section (reports, statistics, the heap checker, the
//!   hardened mode) after `.plt`, which startup and exit call through.
//!
//! `tests/layout.rs` checks the result.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    println!("cargo:rerun-if-changed=cold.ld");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=65536");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-code");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{dir}/cold.ld");
}
