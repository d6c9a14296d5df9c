//! The heap core of oxalloc: a coalescing boundary-tag heap over any memory [`Source`].
//!
//! Layering (each layer uses only the ones above it in this list):
//! - [`tag`] — the one-word block header, the free-block layouts, reading and writing tags;
//! - [`bins`] — segregated free lists with a bitmap;
//! - [`source`] — where memory comes from (a break-like interface; [`ArraySource`] for tests);
//! - [`stats`] — counters;
//! - [`heap`] — allocation, freeing, merging, splitting, growing and shrinking;
//! - [`check`] — the heap checker, which re-derives every invariant by walking the heap;
//! - [`walk`] — every segment and block in order, for statistics and the heap map.
//!
//! The core never calls the OS: the `oxalloc` crate gives it a source over `sbrk`/`brk`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod bins;
pub mod check;
pub mod heap;
pub mod source;
pub mod stats;
pub mod tag;
pub mod walk;

pub use check::CheckError;
pub use heap::{Config, Heap, Misuse};
pub use source::{ArraySource, Source};
pub use stats::Stats;
