//! Random operation sequences through the replay driver, checked at every step.

use oxalloc_core::heap::Config;
use oxalloc_replay::{strategy, Op, Replay};
use proptest::prelude::*;

fn run(cap: usize, cfg: Config, align16: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut r = Replay::new(cap, cfg);
    r.base_align16 = align16;
    r.run(ops)
        .map_err(|f| TestCaseError::fail(format!("step {}: {}", f.step, f.what)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_on_a_large_heap(ops in prop::collection::vec(strategy::op(), 1..200), a16 in any::<bool>()) {
        run(64 << 20, Config { huge_threshold: 50_000, advise_threshold: 20_000, ..Config::DEFAULT }, a16, &ops)?;
    }

    #[test]
    fn random_sequences_on_tiny_capped_heaps(ops in prop::collection::vec(strategy::op(), 1..200), cap in 0usize..20_000) {
        run(cap, Config { min_grow: 256, grow_shift: 8, trim_threshold: 1024, huge_threshold: 8192, advise_threshold: 8192, map_fallback: false, lazy_advise: true, guard_pages: false, purge_after: 1, dynamic_trim: true }, false, &ops)?;
    }

    #[test]
    fn random_sequences_with_kernel_calls_failing(ops in prop::collection::vec(strategy::op(), 1..300)) {
        // Small thresholds so that growing, shrinking, mapping, unmapping and advising all
        // happen often, and the Fail ops hit every kind of call.
        run(32 << 20, Config { min_grow: 512, grow_shift: 10, trim_threshold: 2048, huge_threshold: 40_000, advise_threshold: 16_384, ..Config::DEFAULT }, true, &ops)?;
    }

    #[test]
    fn random_sequences_with_eager_trimming(ops in prop::collection::vec(strategy::op(), 1..300)) {
        run(16 << 20, Config { min_grow: 64, grow_shift: 12, trim_threshold: 0, ..Config::DEFAULT }, true, &ops)?;
    }
}
