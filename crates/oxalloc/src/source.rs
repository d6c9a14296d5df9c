//! The process heap's memory source: the C library's `sbrk`/`brk`, through the OS layer.

use oxalloc_core::Source;

/// The heap break, moved with the exported `sbrk`/`brk` symbols (so a harness can interpose).
pub struct BrkSource;

// SAFETY: memory between the old and the new break belongs to whoever moved the break, here the
// heap; `shrink_to` gives back only memory above the heap's own top (the heap checks that the
// break is still where it left it). The OS layer never calls back into the allocator.
unsafe impl Source for BrkSource {
    fn end(&mut self) -> usize {
        oxalloc_os::current_break()
    }

    fn extend(&mut self, n: usize) -> Option<usize> {
        oxalloc_os::sbrk(n)
    }

    fn shrink_to(&mut self, end: usize) -> bool {
        oxalloc_os::brk(end)
    }

    fn map(&mut self, n: usize) -> Option<usize> {
        oxalloc_os::map(n)
    }

    fn maps_zeroed(&self) -> bool {
        true // anonymous private mappings
    }

    fn remap(&mut self, addr: usize, old: usize, new: usize) -> Option<usize> {
        oxalloc_os::remap(addr, old, new)
    }

    fn unmap(&mut self, addr: usize, n: usize) -> bool {
        oxalloc_os::unmap(addr, n)
    }

    fn advise_free(&mut self, addr: usize, n: usize) {
        oxalloc_os::advise_free(addr, n);
    }

    fn protect_none(&mut self, addr: usize, n: usize) -> bool {
        oxalloc_os::protect_none(addr, n)
    }

    fn page_size(&self) -> usize {
        4096
    }
}
