//! The `infra` binary: hands over to [`infra::cli::main`].

/// mimalloc instead of the system allocator: validating a large stack makes
/// and frees millions of small maps and strings, and glibc's allocator spent a
/// fifth of the time in `malloc_consolidate`/`free` (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    infra::cli::main()
}
