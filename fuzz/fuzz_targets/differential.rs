//! `cargo fuzz run differential`: the same decoding performed through the system allocator and
//! through an oxalloc heap, comparing what the C standard lets a program observe (see
//! `oxalloc_fuzz::run_differential`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oxalloc_fuzz::run_differential(data);
});
