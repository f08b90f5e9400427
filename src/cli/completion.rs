//! `hermes completion <shell>`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError};

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate completions for
    pub shell: Shell,
}

pub fn run(args: CompletionArgs) -> Result<(), CliError> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "hermes",
        &mut std::io::stdout(),
    );
    Ok(())
}
