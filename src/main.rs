//! The `infra` binary: hands over to [`infra::cli::main`].

fn main() -> std::process::ExitCode {
    infra::cli::main()
}
