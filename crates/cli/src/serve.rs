//! `trailwatch serve` (the HTTP API and web UI, with the configured AWS accounts polled beside
//! them) and `trailwatch users …` (its local users and tokens).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trailwatch_server::{users, AppState, Options, TlsFiles};
use trailwatch_store::{EmbeddedStore, State, StoreOptions};

use crate::args::{Format, PollArgs, ServeArgs, UsersCommand};
use crate::output::{self, time};
use crate::{parse_duration, Fail};

impl From<trailwatch_server::Error> for Fail {
    fn from(e: trailwatch_server::Error) -> Fail {
        match e {
            trailwatch_server::Error::Invalid(m) => Fail::usage(m),
            e => Fail::system(e),
        }
    }
}

fn open_state(data_dir: &Path) -> Result<State, Fail> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Fail::system(format!("cannot create {}: {e}", data_dir.display())))?;
    Ok(State::open(&trailwatch_server::state_path(data_dir))?)
}

pub fn serve(data_dir: &Path, config: Option<&Path>, args: ServeArgs, quiet: bool) -> Result<u8, Fail> {
    let ttl = parse_duration(&args.session_ttl)?;
    let config = crate::config::Config::load(config)?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    if let Some(t) = &tls {
        t.config()?; // bad files are bad usage, before anything listens
    }
    let state = open_state(data_dir)?;
    if let Some(password) = users::ensure_admin(&state)? {
        eprintln!(
            "created user admin with password {password}\n  (shown only this once; change it with `trailwatch users passwd admin`)"
        );
    }
    // Read-only, as `trailwatch search`: the poller (or an ingest) writes beside the server.
    let store = EmbeddedStore::open(data_dir, StoreOptions::default())?;
    let rules = crate::detect::load_rules(&args.rules).unwrap_or_default();
    let options = Options {
        session_ttl: Duration::from_millis(ttl as u64),
        secure_cookies: tls.is_some(),
        ..Options::default()
    };
    let app = AppState::new(store, state, rules, options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::system(format!("cannot start the runtime: {e}")))?;
    let listener = runtime.block_on(async {
        tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| Fail::usage(format!("cannot listen on {}: {e}", args.listen)))
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = (!args.no_poll && !config.aws.accounts.is_empty()).then(|| {
        let poll_args = PollArgs {
            once: false,
            rules: args.rules.clone(),
            no_detect: args.no_detect,
            dry_run: args.dry_run,
        };
        background_poller(data_dir.to_owned(), config, poll_args, quiet, stop.clone())
    });
    let served = runtime.block_on(async {
        let addr = listener.local_addr().map_err(Fail::system)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("listening on {scheme}://{addr}");
        let flag = stop.clone();
        let shutdown = async move {
            shutdown().await;
            flag.store(true, Ordering::SeqCst);
        };
        trailwatch_server::serve(app, listener, tls.as_ref(), shutdown).await?;
        Ok::<_, Fail>(())
    });
    // The server may also end by failing: the poller stops then too.
    stop.store(true, Ordering::SeqCst);
    if let Some(handle) = poller {
        if handle.join().is_err() {
            eprintln!("the poller panicked");
        }
    }
    served?;
    eprintln!("stopped");
    Ok(0)
}

/// Polls the configured accounts on a thread of its own, with the store opened as the writer
/// there, until `stop`. Its failures are printed and leave the server running.
fn background_poller(
    data_dir: PathBuf,
    config: crate::config::Config,
    args: PollArgs,
    quiet: bool,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut polling = match crate::aws::Polling::open(&data_dir, &config, &args) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("poller not started: {}", e.message);
                return;
            }
        };
        let n = config.aws.accounts.len();
        eprintln!("polling {n} AWS account{}", if n == 1 { "" } else { "s" });
        let o = crate::aws::LoopOptions { once: false, quiet, stop: &stop, keep_going: true };
        match polling.run(&config, &o) {
            Ok(_) => eprintln!("poller stopped"),
            Err(e) => eprintln!("poller stopped: {}", e.message),
        }
    })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// The password from standard input (first line), or a random one that is printed once.
fn password(from_stdin: bool, name: &str) -> Result<String, Fail> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(Fail::system)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let p = users::random_password();
    eprintln!("password for {name}: {p}\n  (shown only this once)");
    Ok(p)
}

pub fn users(data_dir: &Path, cmd: UsersCommand) -> Result<u8, Fail> {
    let mut state = open_state(data_dir)?;
    match cmd {
        UsersCommand::Add { name, password_stdin } => {
            users::check_username(&name)?;
            let p = password(password_stdin, &name)?;
            users::add_user(&state, &name, &p)?;
            eprintln!("added user {name}");
        }
        UsersCommand::Passwd { name, password_stdin } => {
            let p = password(password_stdin, &name)?;
            users::set_password(&mut state, &name, &p)?;
            eprintln!("changed the password of {name}; their sessions ended");
        }
        UsersCommand::List { format } => {
            let list = users::list(&state)?;
            match format {
                Format::Table => {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|u| vec![u.username.clone(), time(u.created_at), u.tokens.to_string()])
                        .collect();
                    output::table(&["USER", "CREATED (UTC)", "API TOKENS"], &rows);
                }
                _ => {
                    let v: Vec<serde_json::Value> = list
                        .iter()
                        .map(|u| {
                            serde_json::json!({ "username": u.username, "created_at": u.created_at, "tokens": u.tokens })
                        })
                        .collect();
                    if format == Format::Json {
                        output::json(&v)
                    } else {
                        v.iter().for_each(output::json_line)
                    }
                }
            }
        }
        UsersCommand::Delete { name } => {
            users::delete(&mut state, &name)?;
            eprintln!("deleted user {name} with their sessions and API tokens");
        }
        UsersCommand::Token { name, label } => {
            let token = users::create_token(&state, &name, &label)?;
            println!("{token}");
            eprintln!(
                "API token {label:?} for {name} (shown only this once; send it as `Authorization: Bearer …`)"
            );
        }
    }
    Ok(0)
}
