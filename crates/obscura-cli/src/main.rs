//! `obscura`: the command-line face of obscura-core. Every subcommand is a
//! thin shell over the library's public API.

mod args;
mod cmd;
mod print;

use anyhow::Result;
use args::*;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let handler = ctrlc::set_handler(|| {
        if interrupt().is_cancelled() {
            std::process::exit(130);
        }
        eprintln!("obscura: stopping (press Ctrl-C again to quit at once)");
        interrupt().cancel();
    });
    if let Err(e) = handler {
        eprintln!("obscura: warning: Ctrl-C will not stop work cleanly: {e}");
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("obscura: error: {e:#}");
            let interrupted = e
                .downcast_ref::<obscura_core::Error>()
                .is_some_and(|e| e.kind() == obscura_core::ErrorKind::Interrupted);
            if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    use cmd::{evidence, incidents, media, redact};
    match cli.command {
        Command::Probe(c) => media::probe(c),
        Command::Transcode(c) => media::transcode(c),
        Command::Decode(c) => media::decode(c),
        Command::Doctor(c) => media::doctor(c),
        Command::Tracks(c) => redact::tracks(c),
        Command::Redact(c) => redact::redact(c),
        Command::VerifyRedaction(c) => redact::verify_redaction(c),
        Command::Export(c) => evidence::export(c),
        Command::Verify(c) => evidence::verify(c),
        Command::Retention(c) => evidence::retention(c),
        Command::Hold(c) => evidence::hold(c),
        Command::Disclose(c) => evidence::disclose(c),
        Command::Audit { command } => match command {
            AuditCommand::Verify(c) => evidence::audit_verify(c),
            AuditCommand::List(c) => evidence::audit_list(c),
            AuditCommand::Note(c) => evidence::audit_note(c),
            AuditCommand::Sign(c) => evidence::audit_sign(c),
            AuditCommand::Upgrade(c) => evidence::audit_upgrade(c),
            AuditCommand::Keygen(c) => evidence::audit_keygen(c),
        },
        Command::Index(c) => incidents::index(c),
        Command::Incidents(c) => incidents::incidents(c),
        Command::Report(c) => incidents::report(c),
        Command::Console(c) => incidents::console(c),
    }
}
