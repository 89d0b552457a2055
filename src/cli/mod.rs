//! The command line: clap types, one file per command, TTY and colour handling,
//! exit codes. The only module that prints.

use std::process::ExitCode;

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
