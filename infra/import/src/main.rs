//! `convex-import`: loads a Convex snapshot export into the service's tables. See the crate docs
//! (`infra/import/src/lib.rs`) for what it does, and `--help` for how to run it.

use clap::{Parser, ValueEnum};
use convex_import::{snapshot::Snapshot, Options, Progress, TableNames, Target};
use std::path::PathBuf;
use std::process::ExitCode;

/// Loads a Convex snapshot export (`npx convex export --path snapshot.zip`, a ZIP or the same
/// layout in a directory) into the service's tables. Invalid documents are reported with table,
/// line and reason and skipped; running the same import again is safe.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The export: a ZIP file or a directory.
    snapshot: PathBuf,

    /// Where to load it.
    #[arg(long, value_enum, default_value_t = TargetKind::Embedded)]
    target: TargetKind,

    /// Embedded target: the dev server's data directory (the dev server must be stopped).
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    data_dir: PathBuf,

    /// DynamoDB target: a JSON file of the stack's outputs, naming its tables, from
    /// `sam list stack-outputs --stack-name S --output json` or
    /// `aws cloudformation describe-stacks --stack-name S --query 'Stacks[0].Outputs'`.
    /// Without it, tables are named as the functions name them: ACCOUNTS_TABLE, USERS_TABLE,
    /// HISTORY_TABLE, SESSIONS_TABLE, CREDENTIALS_TABLE, PROVISIONING_USAGE_TABLE, PIPELINES_TABLE,
    /// WORKSPACE_LAYOUTS_TABLE, TRANSIT_TRANSCRIPTS_TABLE, TRANSIT_CALENDAR_TOKENS_TABLE,
    /// TRANSLATIONS_TABLE, or their local defaults. The endpoint, region and credentials are the SDK's usual ones
    /// (AWS_REGION, AWS_PROFILE, ...; DYNAMODB_ENDPOINT for DynamoDB Local).
    #[arg(long)]
    stack_outputs: Option<PathBuf>,

    /// DynamoDB target: create the tables (from template.yaml) when missing, e.g. on DynamoDB Local.
    #[arg(long)]
    create_tables: bool,

    /// Validate and print what would be written; write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Stop before writing anything if any document is invalid (default: skip and report it).
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TargetKind {
    /// The embedded store in --data-dir (what the dev server runs on by default).
    Embedded,
    /// DynamoDB tables.
    Dynamodb,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("convex-import: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut snapshot = Snapshot::open(&args.snapshot).map_err(|e| e.to_string())?;
    let (target, described) = match args.target {
        TargetKind::Embedded => {
            let file = args.data_dir.join("embedded.redb");
            let db = shared::embedded::EmbeddedDb::open(&file).map_err(|e| {
                format!(
                    "{e} (is the dev server running on {}? stop it first)",
                    file.display()
                )
            })?;
            (
                Target::Embedded(db),
                format!("the embedded store in {}", file.display()),
            )
        }
        TargetKind::Dynamodb => {
            let config = shared::Config::from_env();
            let names = match &args.stack_outputs {
                Some(file) => std::fs::read_to_string(file)
                    .map_err(|e| format!("{}: {e}", file.display()))
                    .and_then(|json| TableNames::from_stack_outputs(&json))
                    .map_err(|e| format!("--stack-outputs {}: {e}", file.display()))?,
                None => TableNames::default(),
            };
            if args.create_tables && args.stack_outputs.is_some() {
                return Err(
                    "--create-tables is for a local endpoint: a stack's tables exist".into(),
                );
            }
            let client = shared::dynamo::client(&config).await;
            if args.create_tables {
                devserver::create_tables(&client, &names.prefix)
                    .await
                    .map_err(|e| format!("creating the tables: {e}"))?;
            }
            let endpoint = config.dynamodb_endpoint.as_deref().unwrap_or("AWS");
            (
                Target::Dynamo { client, names },
                format!("DynamoDB ({endpoint})"),
            )
        }
    };
    let options = Options {
        dry_run: args.dry_run,
        strict: args.strict,
    };
    eprintln!(
        "convex-import: {} into {described}{}",
        args.snapshot.display(),
        if options.dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    let progress = Progress::new(Box::new(std::io::stderr()));
    let report = convex_import::run(&mut snapshot, &target, options, &progress)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        convex_import::summary(&report, started.elapsed().as_secs_f64())
    );
    Ok(())
}
