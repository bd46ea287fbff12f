//! `edgeplay`: run Fastly Compute programs locally, a drop-in for Viceroy's command line.

use clap::Parser;
use edgeplay_cli::cli::Opts;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Opts::parse();
    edgeplay_cli::app::main(opts.into_command()).await
}
