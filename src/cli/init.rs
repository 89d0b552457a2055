//! `infra init [DIR]`: scaffold a starter stack (two environments, a
//! variable, a generated secret, local files and outputs) and a `.gitignore`
//! that keeps the state key, local state and the written files out of git.
//!
//! Invariant: never overwrites: when `main.infra` or `.gitignore` is already
//! there, nothing is written and the command fails with
//! `infra::cli::file_exists`. Files are created exclusively (`create_new`),
//! so a file appearing meanwhile is not clobbered either.

use super::{Ctx, Exit};
use crate::diag::{Code, Diagnostic};
use crate::host::{CreateNew, FileMode};
use std::path::PathBuf;

/// Scaffold a starter stack and a `.gitignore`.
#[derive(Debug, clap::Args)]
pub(super) struct InitCommand {
    /// Where to create it (default: the current folder, or `-C DIR`); created if missing.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The `.gitignore` written beside the stack.
pub const GITIGNORE: &str = "\
# The state key decrypts the secrets in state: keep it out of git (back it up elsewhere).
.infra/key
# Local state holds the applied resources of each environment.
.infra/state/
# Files the starter stack writes.
out/
";

/// The starter stack, with `STACK` in place of the stack's name.
const MAIN: &str = r#"# A starter stack: two environments, a generated secret and two local files.
# Next: `infra plan --env dev`, then `infra apply --env dev`.

stack "STACK" {
  default_environment = "dev"
}

variable "greeting" {
  type    = string
  default = "hello"
}

environment "dev" {
  vars = { greeting = "hello from dev" }
}

# Changes to prod ask for an explicit confirmation.
environment "prod" {
  vars      = { greeting = "hello from prod" }
  protected = true
}

# Generated once, then kept encrypted in state; never shown in plaintext.
secret "app_token" {
  generate = { length = 32 }
}

resource "local_file" "config" {
  path    = "out/${env.name}/app.env"
  content = "GREETING=${var.greeting}\n"
}

# A secret goes in `sensitive_content`, which is never shown.
resource "local_file" "token" {
  path              = "out/${env.name}/token"
  sensitive_content = secret.app_token
  permissions       = "0600"
}

output "config_path" {
  value = local_file.config.path
}

output "token" {
  value     = secret.app_token
  sensitive = true
}
"#;

/// A stack name from a folder name: lowercase letters, digits, `_` and `-`,
/// starting with a letter; `app` when nothing is left.
fn stack_name(dir: &std::path::Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches(|c: char| !c.is_ascii_alphabetic());
    if trimmed.is_empty() {
        String::from("app")
    } else {
        trimmed.to_owned()
    }
}

impl InitCommand {
    pub(super) fn run(self, ctx: &mut Ctx<'_>) -> Exit {
        let dir = match &self.dir {
            Some(dir) => ctx.resolve(dir),
            None => ctx.dir(),
        };
        let host = ctx.host;
        let name = stack_name(&host.canonical(&dir));
        let files = [
            (dir.join("main.infra"), MAIN.replace("STACK", &name)),
            (dir.join(".gitignore"), GITIGNORE.to_owned()),
        ];
        let present: Vec<String> = files
            .iter()
            .filter(|(path, _)| host.read(path).is_ok() || host.is_dir(path))
            .map(|(path, _)| path.display().to_string())
            .collect();
        if !present.is_empty() {
            return ctx.report_one(
                Diagnostic::error_at_path(Code::CliFileExists, Some(present.join(", "))).with_help(
                    "infra init never overwrites; move the file aside, or run `infra init \
                         DIR` to create the stack in a new folder",
                ),
            );
        }
        if let Err(error) = host.create_dir_all(&dir) {
            return ctx.report_one(
                Diagnostic::error_at_path(Code::CliUnwritableFile, Some(dir.display().to_string()))
                    .with_help(format!("creating the folder failed: {error}")),
            );
        }
        for (path, contents) in &files {
            let shown = path.display().to_string();
            match host.create_new(path, contents.as_bytes(), FileMode::Default) {
                Ok(CreateNew::Created) => ctx.out(&format!("Created {shown}\n")),
                Ok(CreateNew::AlreadyExists) => {
                    return ctx.report_one(
                        Diagnostic::error_at_path(Code::CliFileExists, Some(shown)).with_help(
                            "the file appeared while infra init ran; it was left as it is",
                        ),
                    );
                }
                Err(error) => {
                    return ctx.report_one(
                        Diagnostic::error_at_path(Code::CliUnwritableFile, Some(shown))
                            .with_help(format!("{error}")),
                    );
                }
            }
        }
        let chdir = match &self.dir {
            Some(_) => format!(" -C {}", dir.display()),
            None => match &ctx.chdir {
                Some(chdir) => format!(" -C {}", chdir.display()),
                None => String::new(),
            },
        };
        ctx.out(&format!(
            "\nStack \"{name}\" is ready. Next:\n  infra validate{chdir}\n  infra plan{chdir} --env dev\n  infra apply{chdir} --env dev\n"
        ));
        Exit::Success
    }
}

#[cfg(test)]
mod tests {
    use super::stack_name;
    use std::path::Path;

    #[test]
    fn stack_names_come_from_the_folder() {
        assert_eq!(stack_name(Path::new("/x/My Shop")), "my-shop");
        assert_eq!(stack_name(Path::new("/x/2fast")), "fast");
        assert_eq!(stack_name(Path::new("/")), "app");
        assert_eq!(stack_name(Path::new("/x/web_api")), "web_api");
    }
}
