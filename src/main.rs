use clap::Parser;
use scimd::config::{Cli, Command, Config};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scimd: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = actix_web::rt::System::new().block_on(async move {
        let running = scimd::app::start(config).await?;
        if let Some(token) = &running.generated_admin_token {
            // Printed once, to the terminal, never through the log: only its hash is kept.
            println!("scimd: generated admin token (shown once, store it now): {token}");
        }
        // The address line is part of the interface: scripts and tests read the port from
        // it when they start scimd on port 0.
        println!("scimd: listening on http://{}", running.addr);
        running.run_until_stopped().await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scimd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
