//! The `feed-digest` command line. Errors are reported here (anyhow); config
//! errors exit with 78 (EX_CONFIG) as sysexits.h and systemd expect.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
