//! Asking the person at the terminal to confirm something dangerous
//! (`force-unlock`, later `apply` and `destroy`).
//!
//! Terminology: a command is *interactive* when its standard input is a
//! terminal ([`Ctx::interactive`]); only then is anyone there to answer.
//!
//! Invariant: without a terminal nothing is assumed: the caller must have
//! been given its bypass flag (`--force`, `--auto-approve`), else the
//! command fails with `infra::cli::confirmation_required`. Only the exact
//! answer `yes` confirms.

use super::Ctx;
use crate::diag::{Code, Diagnostic};
use std::io::Read;

/// Asks `prompt` on stderr and reads one line from stdin: `Ok(true)` when the
/// answer is `yes`, `Ok(false)` for anything else (or the end of input).
/// Without a terminal, fails with `infra::cli::confirmation_required`, whose
/// help names `bypass`, the flag that skips the question.
pub fn confirm(ctx: &mut Ctx<'_>, prompt: &str, bypass: &str) -> Result<bool, Diagnostic> {
    if !ctx.interactive {
        return Err(
            Diagnostic::error_at_path(Code::CliConfirmationRequired, None).with_help(format!(
                "standard input is not a terminal, so nobody can answer \"{prompt}\"; pass \
                 {bypass} to go ahead without asking"
            )),
        );
    }
    ctx.err(&format!(
        "{prompt}\n  Only 'yes' will be accepted to confirm.\n\n  Enter a value: "
    ));
    let _ = ctx.stderr.flush();
    let line = read_line(ctx.stdin).map_err(|error| {
        Diagnostic::error_at_path(Code::CliUnreadableStdin, None)
            .with_help(format!("reading the answer failed: {error}"))
    })?;
    ctx.err("\n");
    Ok(line.trim() == "yes")
}

/// One line, read a byte at a time so nothing after it is consumed.
fn read_line(input: &mut dyn Read) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => bytes.push(byte[0]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        // An answer is a word; a runaway input is not read to its end.
        if bytes.len() > 4096 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::RenderOptions;
    use crate::host::{Host, MemoryHost};
    use std::sync::Arc;

    fn ask(interactive: bool, input: &str) -> (Result<bool, Diagnostic>, String) {
        let host = MemoryHost::new();
        let shared: Arc<dyn Host> = Arc::new(MemoryHost::new());
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut stdin = input.as_bytes();
        let mut ctx = Ctx {
            host: &host,
            shared_host: shared,
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin: &mut stdin,
            render: RenderOptions {
                colour: false,
                width: 100,
                unicode: false,
            },
            chdir: None,
            interactive,
            colour_out: false,
        };
        let answer = confirm(&mut ctx, "Break the lock?", "--force");
        (answer, String::from_utf8_lossy(&stderr).into_owned())
    }

    #[test]
    fn only_yes_confirms() {
        let (answer, shown) = ask(true, "yes\n");
        assert_eq!(answer, Ok(true));
        assert!(shown.contains("Break the lock?"), "{shown}");
        assert_eq!(ask(true, "  yes  \nno\n").0, Ok(true));
        for no in ["no\n", "y\n", "YES\n", "", "\n", "yess\n"] {
            assert_eq!(ask(true, no).0, Ok(false), "{no:?}");
        }
    }

    #[test]
    fn without_a_terminal_the_bypass_flag_is_required() {
        let (answer, shown) = ask(false, "yes\n");
        let diagnostic = answer.err();
        assert_eq!(
            diagnostic.as_ref().map(|d| d.code),
            Some(Code::CliConfirmationRequired)
        );
        assert!(
            diagnostic
                .and_then(|d| d.help)
                .is_some_and(|h| h.contains("--force"))
        );
        assert_eq!(shown, "", "nothing is asked when nobody can answer");
    }
}
