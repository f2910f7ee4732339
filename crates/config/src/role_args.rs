//! The flags of `natsapi ingest` and `natsapi worker`: the subset of [`ServerArgs`] each role
//! uses, so that `--help` lists only those. The others are hidden, and given on the command line
//! they are an error naming the flag; their `NATSAPI_*` variables are still read and checked
//! (one environment often serves several roles) but the role has no use for them.

use clap::builder::Command;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};

use crate::{ConnectArgs, ServerArgs};

/// The [`ServerArgs`] fields every standalone ingest role uses, besides the NATS connection's.
/// The roles' database is `--ingest-db`, not the store's, but they use it as the store's
/// settings say: how SQLite commits, and the pool and statement timeout on PostgreSQL.
const SHARED: &[&str] = &[
    "config",
    "api_nats_addr",
    "api_nats_timeout",
    "store_sqlite_synchronous",
    "store_postgres_pool_size",
    "store_postgres_statement_timeout",
    "log_level",
    "log_format",
    "worker_threads",
    "ingest_stream",
    "ingest_db",
];

/// The flags of `natsapi ingest`: the gateway's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayArgs(pub ServerArgs);

/// The flags of `natsapi worker`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerArgs(pub ServerArgs);

impl GatewayArgs {
    /// The fields of `natsapi ingest` beyond [`SHARED`].
    const OWN: &'static [&'static str] = &["ingest_addr", "rpc_freshness", "rpc_require_ts"];
}

impl WorkerArgs {
    /// The fields of `natsapi worker` beyond [`SHARED`].
    const OWN: &'static [&'static str] = &[];
}

/// The fields of a role whose own fields are `own`: [`SHARED`], `own` and the NATS connection's.
fn role_fields(own: &[&str]) -> Vec<String> {
    let connection = ConnectArgs::augment_args(Command::new("connection"));
    let connection = connection.get_arguments().map(|arg| arg.get_id().to_string());
    SHARED.iter().chain(own).map(|id| (*id).to_owned()).chain(connection).collect()
}

/// `cmd` with the flags of [`ServerArgs`], those a role does not use hidden.
fn augment(cmd: Command, own: &[&str]) -> Command {
    let used = role_fields(own);
    ServerArgs::augment_args(cmd).mut_args(|arg| {
        if used.iter().any(|id| arg.get_id() == id.as_str()) { arg } else { arg.hide(true) }
    })
}

/// The arguments of `matches`, refusing a flag the role does not use.
fn parse(matches: &ArgMatches, own: &[&str], role: &str) -> Result<ServerArgs, clap::Error> {
    let flags = ServerArgs::augment_args(Command::new("flags"));
    let used = role_fields(own);
    // Only arguments: clap also lists argument groups (one per flattened struct) among the ids.
    for arg in flags.get_arguments() {
        let id = arg.get_id().as_str();
        let unused = !used.iter().any(|field| field == id);
        if unused && matches.value_source(id) == Some(ValueSource::CommandLine) {
            let flag = format!("--{}", id.replace('_', "-"));
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "{flag} is not an option of `natsapi {role}` (see `natsapi {role} --help`)\n"
                ),
            ));
        }
    }
    ServerArgs::from_arg_matches(matches)
}

/// Implements clap's traits for a role's newtype over [`ServerArgs`].
macro_rules! role_args {
    ($name:ident, $role:literal) => {
        impl Args for $name {
            fn augment_args(cmd: Command) -> Command {
                augment(cmd, $name::OWN)
            }
            fn augment_args_for_update(cmd: Command) -> Command {
                augment(cmd, $name::OWN)
            }
        }

        impl FromArgMatches for $name {
            fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
                parse(matches, $name::OWN, $role).map($name)
            }
            fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(matches)?;
                Ok(())
            }
        }
    };
}

role_args!(GatewayArgs, "ingest");
role_args!(WorkerArgs, "worker");

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    enum Cli {
        Worker(WorkerArgs),
        Ingest(GatewayArgs),
    }

    fn help(role: &str) -> String {
        let mut cli = Cli::command();
        cli.find_subcommand_mut(role).unwrap().render_long_help().to_string()
    }

    #[test]
    fn help_lists_only_what_the_role_uses() {
        let worker = help("worker");
        for flag in ["--api-nats-addr", "--api-nats-credentials", "--ingest-db", "--log-level"] {
            assert!(worker.contains(flag), "worker --help lacks {flag}:\n{worker}");
        }
        for flag in ["--api-http-addr", "--poll-addr", "--api-nats-subject", "--ingest-addr"] {
            assert!(!worker.contains(flag), "worker --help lists {flag}:\n{worker}");
        }
        let gateway = help("ingest");
        assert!(gateway.contains("--ingest-addr") && gateway.contains("--api-nats-tls-ca"));
        assert!(!gateway.contains("--store ") && !gateway.contains("--worker-enable"));
    }

    #[test]
    fn a_flag_of_another_role_is_refused_naming_it() {
        let Cli::Worker(args) =
            Cli::try_parse_from(["natsapi", "worker", "--ingest-db", "w.db"]).unwrap()
        else {
            panic!("not the worker")
        };
        assert_eq!(args.0.ingest_db, Some(crate::IngestDatabase::Sqlite("w.db".into())));
        // The NATS connection's flags belong to every role.
        let Cli::Worker(args) =
            Cli::try_parse_from(["natsapi", "worker", "--api-nats-token", "t0ken"]).unwrap()
        else {
            panic!("not the worker")
        };
        assert!(args.0.connection.api_nats_token.is_some());
        let gateway = ["natsapi", "ingest", "--api-nats-tls-first", "--ingest-addr", "0.0.0.0:1"];
        assert!(Cli::try_parse_from(gateway).is_ok());
        let error = Cli::try_parse_from(["natsapi", "worker", "--api-http-addr", "0.0.0.0:1"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--api-http-addr is not an option of `natsapi worker`"), "{error}");
    }
}
