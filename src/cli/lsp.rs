//! `infra lsp`: the language server, speaking LSP over stdin and stdout.
//!
//! Messages are read on a thread of their own (so the server can tell when
//! the input has been quiet long enough to check a stack) and written on
//! this one, through `ctx.stdout`. Unreadable messages are reported on
//! stderr, which editors keep as the server's log.
//!
//! Invariant: stdout carries protocol messages only.

use super::{Ctx, Exit};
use crate::lsp::{self, Ended};
use lsp_server::Message;

/// Run the language server on stdin and stdout (for editors).
#[derive(Debug, clap::Args)]
pub(super) struct LspCommand {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    stdio: bool,
}

impl LspCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let _ = self.stdio;
        let (sender, receiver) = std::sync::mpsc::channel::<Message>();
        // The reader owns stdin for the whole session; it ends at the end of
        // the input, or when the server is gone and a send fails.
        let reader = std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            loop {
                match Message::read(&mut input) {
                    Ok(Some(message)) => {
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                        // A malformed message is skipped; the next one may be fine.
                        eprintln!("infra lsp: skipped a malformed message: {error}");
                    }
                    Err(error) => {
                        eprintln!("infra lsp: stopped reading: {error}");
                        return;
                    }
                }
            }
        });
        let ended = lsp::serve(ctx.host, &receiver, ctx.stdout);
        let _ = ctx.stdout.flush();
        // The reader may be blocked on stdin, which the client keeps open;
        // the process exits without waiting for it.
        drop(reader);
        match ended {
            Ended::Exit => Exit::Success,
            Ended::ExitWithoutShutdown | Ended::Disconnected | Ended::WriteFailed => Exit::Failure,
        }
    }
}
