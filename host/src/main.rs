//! The `riskpipe` command line; see `riskpipe --help`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riskpipe: error: {e:#}");
            // Bad input (a file, line and field to fix) and options that do not go together
            // exit 2, like clap's usage errors.
            if e.downcast_ref::<riskpipe::error::InputError>().is_some()
                || e.downcast_ref::<riskpipe::error::UsageError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
