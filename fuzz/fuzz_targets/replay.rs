//! `cargo fuzz run replay`: the input becomes a heap setup and a sequence of replay operations
//! (see `oxalloc_fuzz::decode`), run by the replay driver with its shadow model and the heap
//! checker after every step; any failure panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oxalloc_fuzz::run_replay(data);
});
